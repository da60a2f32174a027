"""structlog configuration: JSON in production, readable in development, every line redacted.

Each line within a call carries the call id, bound through ``structlog.contextvars`` by ``bind_call``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

from .redact import redact_value

# Fields that identify rather than describe stay readable; the event text itself is redacted, since the
# standard library formats its arguments into it.
_KEEP = frozenset({"level", "timestamp", "logger", "call_id", "case_id", "external_id", "request_id"})


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key in _KEEP:
            continue
        event_dict[key] = redact_value(event_dict[key], key)
    return event_dict


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    """Route structlog and the standard library's logging through one redacting pipeline."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs full request URLs at INFO, which may carry query-string credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@contextmanager
def bind_call(call_id: str) -> Iterator[None]:
    """Every log line inside the block (in this task and tasks it starts) carries ``call_id``."""
    tokens = structlog.contextvars.bind_contextvars(call_id=call_id)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
