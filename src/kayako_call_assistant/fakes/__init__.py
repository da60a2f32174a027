"""Fakes of external services as real local servers, for tests, demos and benchmarks."""
