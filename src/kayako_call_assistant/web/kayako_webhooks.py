"""``POST /webhooks/kayako/{token}``: notifications from Kayako automations (trigger/monitor HTTP actions).

Kayako documents no payload schema and no signature for these requests (see docs/webhooks.md), so the
receiver is tolerant: JSON or form bodies, flat or nested keys. Its guarantees: the token (and the optional
shared secret) is checked in constant time; each delivery is stored before it is acknowledged; a replay is
answered but not processed again; a delivery whose processing failed stays pending for ``process_pending``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import JSONResponse

from ..domain import utcnow
from ..ports import CallStore, WebhookDelivery, WebhookStore

log = structlog.get_logger(__name__)

SOURCE = "kayako"
SIGNATURE_HEADER = "X-KCA-Signature"
MAX_DELIVERY_ID_LENGTH = 128  # the column's width; longer ids are hashed

# Top-level only: a nested "type" is a case's own field (e.g. the case type "Question"), not the event.
_EVENT_KEYS = ("event", "event_type", "event_name")
_CASE_ID_KEYS = ("case_id", "case.id", "ticket_id")
_STATUS_KEYS = ("case_status", "status", "status.label", "status.name")
_ARTICLE_ID_KEYS = ("article_id", "article.id")


class WebhookHandlers(Protocol):
    """What the application does with an understood event; both must be safe to run twice."""

    async def on_article_changed(self, article_id: int | None) -> None:
        """A help-center article changed (``None``: unknown which, refresh everything)."""
        ...

    async def on_case_status(self, case_id: int, status: str) -> None: ...


class CallStatusUpdater:
    """Keeps ``case_status`` of every call that opened a case in step with Kayako."""

    def __init__(self, calls: CallStore) -> None:
        self._calls = calls

    async def on_case_status(self, case_id: int, status: str) -> None:
        # h/cases: one column-scoped UPDATE, never a whole row written back from an older read.
        matching = await self._calls.set_case_status(case_id, status)
        log.info("kayako_webhook.case_status_applied", case_id=case_id, status=status, calls=matching)


class UnusablePayloadError(ValueError):
    """A delivery that can never be processed (retrying cannot help): recorded, then set aside."""


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str  # "article", "case" or "other"
    name: str
    case_id: int | None = None
    status: str | None = None
    article_id: int | None = None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"case": {"id": 5}}`` and the form field ``case[id]=5`` both become ``{"case.id": 5}``."""
    flat: dict[str, Any] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = str(key).replace("[", ".").replace("]", "").strip(".").lower()
            flat.update(_flatten(item, f"{prefix}.{name}" if prefix else name))
    elif prefix:
        flat[prefix] = value
    return flat


def _pick(flat: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    """The first of ``names`` present at the top level or at the end of a nested path (``data.case.id``)."""
    for name in names:
        if flat.get(name) not in (None, ""):
            return flat[name]
        for key, value in flat.items():
            if key.endswith("." + name) and value not in (None, ""):
                return value
    return None


def _as_id(value: Any, what: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError as error:
        raise UnusablePayloadError(f"{what} {str(value)[:40]!r} is not a number") from error
    # Ids are positive 64-bit integers (Kayako's and our columns); a larger one can never be stored or
    # looked up, so the delivery is unusable (dead), not a failure to retry forever.
    if not 0 < number < 2**63:
        raise UnusablePayloadError(
            f"{what} {number if number.bit_length() < 128 else 'huge'} is out of range"
        )
    return number


def _understand(payload: Mapping[str, Any]) -> _Event:
    flat = _flatten(payload)
    name = next((str(payload[key]).strip().lower() for key in _EVENT_KEYS if payload.get(key)), "")
    case_id = _as_id(_pick(flat, _CASE_ID_KEYS), "case id")
    article_id = _as_id(_pick(flat, _ARTICLE_ID_KEYS), "article id")
    status = _pick(flat, _STATUS_KEYS)
    if name.startswith("article"):
        return _Event(kind="article", name=name, article_id=article_id)
    if name.startswith("case"):
        if case_id is None or status is None:
            raise UnusablePayloadError(f"case event {name!r} without case_id and status")
        return _Event(kind="case", name=name, case_id=case_id, status=str(status).strip())
    # An unnamed or differently named event is recognised by its fields.
    if case_id is not None and status is not None:
        return _Event(kind="case", name=name, case_id=case_id, status=str(status).strip())
    if article_id is not None and case_id is None:
        return _Event(kind="article", name=name, article_id=article_id)
    return _Event(kind="other", name=name)


async def _dispatch(event: _Event, handlers: WebhookHandlers) -> None:
    if event.kind == "article":
        await handlers.on_article_changed(event.article_id)
    elif event.kind == "case" and event.case_id is not None and event.status is not None:
        await handlers.on_case_status(event.case_id, event.status)


async def process_delivery(store: WebhookStore, handlers: WebhookHandlers, delivery: WebhookDelivery) -> bool:
    """Process one stored delivery; True when it is done with (processed or set aside as unusable)."""
    fields = {"delivery_id": delivery.delivery_id}
    try:
        event = _understand(delivery.payload)
    except UnusablePayloadError as error:
        log.warning("kayako_webhook.unusable", error=str(error), **fields)
        await store.mark_failed(delivery.delivery_id, str(error))
        await store.mark_processed(delivery.delivery_id)
        return True
    try:
        await _dispatch(event, handlers)
    except Exception as error:
        log.exception("kayako_webhook.processing_failed", kind=event.kind, event_name=event.name, **fields)
        await store.mark_failed(delivery.delivery_id, f"{type(error).__name__}: {error}")
        return False
    await store.mark_processed(delivery.delivery_id)
    if event.kind == "other":
        log.info("kayako_webhook.ignored", event_name=event.name or None, **fields)
    else:
        log.info(
            "kayako_webhook.processed",
            kind=event.kind,
            event_name=event.name or None,
            case_id=event.case_id,
            article_id=event.article_id,
            **fields,
        )
    return True


async def process_pending(store: WebhookStore, handlers: WebhookHandlers, *, limit: int = 100) -> int:
    """Retry deliveries not processed yet (after a crash or a failed handler); how many got done."""
    pending = await store.unprocessed(limit)
    done = 0
    for delivery in pending:
        try:
            done += await process_delivery(store, handlers, delivery)
        except Exception:
            # The store itself failed; the delivery stays pending for the next run.
            log.exception("kayako_webhook.retry_failed", delivery_id=delivery.delivery_id)
    if pending:
        log.info("kayako_webhook.pending_processed", pending=len(pending), done=done)
    return done


async def _process_in_background(
    store: WebhookStore, handlers: WebhookHandlers, delivery: WebhookDelivery
) -> None:
    try:
        await process_delivery(store, handlers, delivery)
    except Exception:
        log.exception("kayako_webhook.background_failed", delivery_id=delivery.delivery_id)


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def _authenticated(request: Request, body: bytes, secret: str) -> str | None:
    """The scheme that proved the secret (``hmac`` or ``basic``), else None."""
    signature = request.headers.get(SIGNATURE_HEADER)
    if signature is not None:
        algorithm, _, digest = signature.strip().partition("=")
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        return "hmac" if algorithm.lower() == "sha256" and _same(digest.lower(), expected) else None
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, separator, password = decoded.partition(":")
    return "basic" if separator and _same(password, secret) else None


async def _payload(request: Request, body: bytes) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.endswith("xml"):
        raise HTTPException(
            status_code=415,
            detail="XML bodies are not supported: set the Kayako endpoint's content type to JSON or FORM",
        )
    if content_type == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as error:
            raise HTTPException(status_code=400, detail="the form body is not UTF-8") from error
    if content_type == "multipart/form-data":
        form = await request.form()
        return {key: value for key, value in form.multi_items() if isinstance(value, str)}
    if content_type in ("application/json", "") or content_type.endswith("+json"):
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise HTTPException(status_code=400, detail="the body is not valid JSON") from error
        except RecursionError:
            raise HTTPException(status_code=400, detail="the JSON body is nested too deeply") from None
        if not isinstance(parsed, dict):
            raise HTTPException(status_code=400, detail="the JSON body must be an object")
        if _depth_exceeds(parsed, MAX_JSON_DEPTH):
            raise HTTPException(
                status_code=400, detail=f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
            )
        return parsed
    raise HTTPException(
        status_code=415, detail=f"unsupported content type {content_type!r}: send JSON or a form"
    )


# Kayako's payloads are a few levels deep; the limit keeps the recursive flattening, storing and
# logging of a delivery far from Python's recursion limit.
MAX_JSON_DEPTH = 32


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, dict | list))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
    return False


def _delivery_id(payload: Mapping[str, Any], body: bytes) -> str:
    given = payload.get("delivery_id") or payload.get("id")
    if given is None or isinstance(given, Mapping | list) or not str(given).strip():
        return hashlib.sha256(body).hexdigest()
    text = str(given).strip()
    return text if len(text) <= MAX_DELIVERY_ID_LENGTH else hashlib.sha256(text.encode("utf-8")).hexdigest()


def create_kayako_webhook_router(
    *, token: str, secret: str | None, store: WebhookStore, handlers: WebhookHandlers
) -> APIRouter:
    """``token`` is the path secret (required); ``secret``, when set, must also be proven (Basic or HMAC)."""
    if not token:
        raise ValueError("a webhook token is required: without one anyone could post events")
    expected_token = token
    router = APIRouter(tags=["webhooks"])

    @router.post("/webhooks/kayako/{token}")
    async def receive(token: str, request: Request, background: BackgroundTasks) -> JSONResponse:
        if not _same(token, expected_token):
            log.warning("kayako_webhook.bad_token", client=request.client.host if request.client else None)
            raise HTTPException(status_code=403, detail="unknown webhook token")
        body = await request.body()
        proof: str | None = "token"
        if secret:
            proof = _authenticated(request, body, secret)
            if proof is None:
                log.warning(
                    "kayako_webhook.bad_secret",
                    signed=SIGNATURE_HEADER.lower() in request.headers,
                    basic=request.headers.get("authorization", "").lower().startswith("basic "),
                )
                raise HTTPException(
                    status_code=401,
                    detail="the webhook secret was not proven (Basic password or X-KCA-Signature HMAC)",
                    headers={"WWW-Authenticate": 'Basic realm="kayako-webhooks"'},
                )
        payload = await _payload(request, body)
        delivery = WebhookDelivery(
            delivery_id=_delivery_id(payload, body), source=SOURCE, payload=payload, received_at=utcnow()
        )
        if not await store.record(delivery):
            log.info("kayako_webhook.duplicate", delivery_id=delivery.delivery_id)
            return JSONResponse({"duplicate": True, "delivery_id": delivery.delivery_id}, status_code=200)
        log.info("kayako_webhook.received", delivery_id=delivery.delivery_id, auth=proof)
        background.add_task(_process_in_background, store, handlers, delivery)
        return JSONResponse({"duplicate": False, "delivery_id": delivery.delivery_id}, status_code=202)

    return router
