"""Operators' view of the service: structured logs with PII redaction, metrics, error tracking."""
