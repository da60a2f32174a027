"""Hostile 1 MB inputs through every redaction and parsing path finish, and redaction still works.

No wall-clock assertion (the machine is shared and loaded): each input is run on a worker thread with a
generous deadline of 60 s, against the minutes the backtracking patterns used to take; bench/hostile_input.py
measures the actual times (docs/security.md).
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from kayako_call_assistant.dialogue import entities
from kayako_call_assistant.observability.logging import MAX_FIELD_CHARS, configure_logging
from kayako_call_assistant.observability.redact import redact_cards, redact_text, redact_value
from kayako_call_assistant.telephony import protocol

MB = 1_000_000
HOSTILE = {
    "letters": "a" * MB,
    "email-local": "a." * (MB // 2),
    "email-domain": "a@" + "." * MB,
    "many-at": "a@" * (MB // 2),
    "digits-spaced": "1 " * (MB // 2),
    "digit-words": "one " * (MB // 4),
    "spoken-at": "x at y dot " * (MB // 11),
    "phones": "4155550100 " * (MB // 11),
}
DEADLINE_S = 60.0


def _finishes(function: Callable[[str], Any], text: str) -> Any:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, text).result(timeout=DEADLINE_S)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_redaction_of_a_hostile_megabyte_finishes(name: str) -> None:
    text = HOSTILE[name]
    redacted = _finishes(redact_text, text)
    assert isinstance(redacted, str)
    _finishes(redact_cards, text)
    _finishes(lambda t: redact_value({"note": [t]}), text)


def test_redaction_still_finds_what_it_must_in_large_text() -> None:
    filler = "lorem ipsum " * 40_000
    text = (
        f"{filler} write to jane.doe@example.com {filler} or 415-555-0100 {filler} card 4111 1111 1111 1111"
    )
    redacted = redact_text(text)
    for secret in ("jane.doe@example.com", "415-555-0100", "4111 1111 1111 1111"):
        assert secret not in redacted
    assert redacted.count("[email]") == 1 and "[phone]" in redacted and "[card]" in redacted


@pytest.mark.parametrize("name", ["letters", "email-domain", "phones"])
def test_log_fields_are_truncated_before_they_are_written(name: str) -> None:
    configure_logging(json=True, level="INFO")
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    _finishes(
        lambda t: structlog.get_logger("test").warning("webhook.rejected", call_sid=t, path=t), HOSTILE[name]
    )
    line = json.loads(stream.getvalue().splitlines()[-1])
    for key in ("call_sid", "path"):
        assert len(line[key]) < MAX_FIELD_CHARS + 40
        assert "more chars]" in line[key]


def test_stdlib_log_messages_are_truncated_too() -> None:
    configure_logging(json=True, level="INFO")
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    _finishes(lambda t: logging.getLogger("uvicorn.error").warning("bad %s", t), HOSTILE["email-local"])
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert len(line["event"]) < MAX_FIELD_CHARS + 40


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize(
    "parser",
    [entities.parse_email, entities.parse_case_number, entities.parse_name, entities.parse_phone],
    ids=["email", "case", "name", "phone"],
)
def test_entity_parsers_finish_on_hostile_text(name: str, parser: Callable[[str], Any]) -> None:
    # 100 KB, a thousand times the longest utterance, keeps the suite short; bench/hostile_input.py runs
    # these parsers on the full megabyte.
    _finishes(parser, HOSTILE[name][: MB // 10])


@pytest.mark.parametrize(
    "frame",
    [
        "[" * MB,
        '{"event":"mark","mark":{"name":"' + "a" * MB + '"}}',
        '{"event":"start","start":{"streamSid":"' + "M" * MB + '","callSid":"CA1"}}',
        '{"event":"media","media":{"payload":"' + "A" * MB + '"}}',
        '{"event":"media","media":{"payload":"AAAA","timestamp":' + "9" * 5000 + "}}",
        '{"event":"media","media":{"payload":"AAAA","timestamp":1e999}}',
        "[" * 50_000,
    ],
    ids=["nested-1mb", "mark-1mb", "start-1mb", "media-1mb", "huge-int", "infinite", "nested-50k"],
)
def test_protocol_refuses_hostile_frames_cleanly(frame: str) -> None:
    with pytest.raises(protocol.MalformedMessage):
        _finishes(protocol.parse, frame)
