"""A Kayako-compatible API v1 server for development, tests and benchmarks (``create_app`` in ``app``)."""
