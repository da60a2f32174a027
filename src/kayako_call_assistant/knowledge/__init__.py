"""The help-center index: clean text, passages by heading, BM25 ranking with a calibrated relevance."""
