"""Reading request arguments the tolerant way Kayako does: JSON or form, CSV or lists, ids as strings."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from .errors import MockError, error_entry, invalid


async def body_of(request: Request) -> dict[str, Any]:
    """The request's arguments: JSON object or form fields, over the query string (the body wins)."""
    args: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    if not raw:
        return args
    if "json" in content_type or raw.lstrip()[:1] in (b"{", b"["):
        try:
            parsed = json.loads(raw)
        except ValueError as error:
            raise MockError(400, "PARAMETER_INVALID", "The request body is not valid JSON") from error
        if not isinstance(parsed, dict):
            raise MockError(400, "PARAMETER_INVALID", "The request body must be a JSON object")
        return {**args, **parsed}
    form = await request.form()
    for key in form:
        values = form.getlist(key)
        name = key.removesuffix("[]")
        args[name] = values if key.endswith("[]") or len(values) > 1 else values[0]
    return args


def csv_list(value: Any) -> list[str]:
    """A list given as a JSON array, repeated fields or a comma-separated string."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def to_int(value: Any, parameter: str, errors: list[dict[str, Any]]) -> int | None:
    """An id given as a number or a numeric string; anything else adds FIELD_INVALID to ``errors``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors.append(invalid(parameter))
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        errors.append(invalid(parameter))
        return None


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def json_object(value: Any, parameter: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    """An object given as JSON or as a JSON-encoded string (``channel_options``)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            errors.append(invalid(parameter))
            return {}
    if not isinstance(value, dict):
        errors.append(invalid(parameter))
        return {}
    return value


def query_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise MockError.many(400, [error_entry("PARAMETER_INVALID", parameter=name)]) from error
    if value < 0:
        raise MockError.many(400, [error_entry("PARAMETER_INVALID", parameter=name)])
    return value


def fail_if(errors: list[dict[str, Any]]) -> None:
    if errors:
        raise MockError.many(400, errors)
