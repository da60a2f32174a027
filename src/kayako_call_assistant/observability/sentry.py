"""Error tracking with sentry-sdk, scrubbed with the same redaction as the logs."""

from __future__ import annotations

from typing import Any

import sentry_sdk

from .redact import redact_value


def scrub_event(event: Any, _hint: Any) -> Any:
    """``before_send``: redact PII and credentials everywhere in the event (messages, frames, breadcrumbs)."""
    return redact_value(event)


def init_sentry(dsn: str, *, environment: str, traces_sample_rate: float = 0.0) -> bool:
    """Start error tracking when a DSN is configured; returns whether it was started."""
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        traces_sample_rate=traces_sample_rate,
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=lambda crumb, _hint: redact_value(crumb),
        # Local variables of call-path frames hold transcripts; the scrubber covers them, but they add
        # nothing an operator needs that the redacted logs don't already show.
        include_local_variables=False,
    )
    return True
