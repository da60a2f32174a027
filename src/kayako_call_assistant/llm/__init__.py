"""Language engines behind ``ports.LanguageEngine``: the local one, an OpenAI-compatible one, and the
fallback that keeps a call going on the local engine when the model is unavailable."""
