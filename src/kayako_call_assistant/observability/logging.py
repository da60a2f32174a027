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

# Log fields are cut to this many characters before they are redacted or written: a field can hold text
# an attacker chose (a rejected webhook's CallSid, a refused request's path), and a 1 MB field would cost
# redaction time and fill the log. Tracebacks keep more, since their frames are what an operator reads.
MAX_FIELD_CHARS = 512
MAX_TRACEBACK_CHARS = 16_384
_LONG_FIELDS = frozenset({"exception", "stack"})


def truncate(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with a note of how many were dropped."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more chars]"


def _truncate_value(value: Any, limit: int, depth: int = 0) -> Any:
    if isinstance(value, str):
        return truncate(value, limit)
    if depth >= 4:  # a deeper structure in a log line is a mistake; its repr is enough
        return truncate(repr(value), limit)
    if isinstance(value, dict):
        items = list(value.items())
        kept = {str(k)[:limit]: _truncate_value(v, limit, depth + 1) for k, v in items[:64]}
        if len(items) > 64:
            kept["…"] = f"{len(items) - 64} more keys"
        return kept
    if isinstance(value, list | tuple):
        head = [_truncate_value(v, limit, depth + 1) for v in value[:64]]
        if len(value) > 64:
            head.append(f"…{len(value) - 64} more items")
        return head
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Truncate every field, then redact all but the identifiers (see ``_KEEP``)."""
    for key in list(event_dict):
        limit = MAX_TRACEBACK_CHARS if key in _LONG_FIELDS else MAX_FIELD_CHARS
        value = _truncate_value(event_dict[key], limit)
        event_dict[key] = value if key in _KEEP else redact_value(value, key)
    return event_dict


# Paths whose next segment is a credential: the Kayako webhook's path token.
_SECRET_PATH_PREFIXES = ("/webhooks/kayako/",)


def mask_secret_path(path: str) -> str:
    """``path`` with the credential segment after a secret-bearing prefix replaced by ``[secret]``."""
    for prefix in _SECRET_PATH_PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
            return f"{prefix}[secret]{rest[cut:]}"
    return path


class AccessLogSecrets(logging.Filter):
    """Masks credentials in uvicorn's access-log lines, whose arguments are (client, method, path,
    HTTP version, status): the Kayako webhook token travels in the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], mask_secret_path(args[2]), args[3], args[4])
        return True


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
    # httpx logs full request URLs at INFO, which may carry query-string credentials; SQLAlchemy logs every
    # statement with its parameters at INFO (transcripts, with whatever a caller said: a password is free
    # text no pattern can find), aiosqlite each operation at DEBUG.
    for noisy in ("httpx", "httpcore", "sqlalchemy", "aiosqlite", "asyncpg", "openai", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # uvicorn's own handlers, if a default uvicorn logging config ran in this process, would print around the
    # redacting pipeline: its loggers only propagate to the root handler above.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
        uvicorn_logger.disabled = False
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogSecrets) for f in access.filters):
        access.addFilter(AccessLogSecrets())


@contextmanager
def bind_call(call_id: str) -> Iterator[None]:
    """Every log line inside the block (in this task and tasks it starts) carries ``call_id``."""
    tokens = structlog.contextvars.bind_contextvars(call_id=call_id)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
