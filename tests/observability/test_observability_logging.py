"""Log lines are redacted: no email, phone, card number or credential reaches the output."""

from __future__ import annotations

import io
import json
import logging

import structlog

from kayako_call_assistant.observability.logging import bind_call, configure_logging
from kayako_call_assistant.observability.redact import luhn_valid, redact_text


def _capture(json_output: bool) -> io.StringIO:
    configure_logging(json=json_output, level="DEBUG")
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    return stream


def test_json_log_lines_are_redacted_and_carry_the_call_id() -> None:
    stream = _capture(json_output=True)
    log = structlog.get_logger("test")
    with bind_call("call-123"):
        log.info(
            "caller.details",
            email="john.smith@gmail.com",
            note="call me on +44 20 7946 0958 or 415-555-0100",
            card="4111-1111-1111-1111",
            password="hunter2",
            headers={"Authorization": "Bearer abc.def", "X-Session-ID": "sess-1"},
            case_id=80000100001,
        )
    logging.getLogger("stdlib").warning("user %s failed", "jane.doe@example.com")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    text = stream.getvalue()
    for secret in (
        "john.smith@gmail.com",
        "7946 0958",
        "415-555-0100",
        "4111-1111",
        "hunter2",
        "abc.def",
        "sess-1",
        "jane.doe@example.com",
    ):
        assert secret not in text
    first = lines[0]
    assert first["call_id"] == "call-123"
    assert first["case_id"] == 80000100001
    assert first["email"] == "[email]"
    assert first["card"] == "[card]"
    assert first["password"] == "[secret]"
    assert first["headers"]["Authorization"] == "[secret]"
    assert "call_id" not in lines[1]


def test_console_output_is_redacted_too() -> None:
    stream = _capture(json_output=False)
    structlog.get_logger("test").info("spoken", text="my email is a.b@c.io")
    assert "a.b@c.io" not in stream.getvalue()
    assert "[email]" in stream.getvalue()


def test_redact_text_keeps_short_numbers_and_non_luhn_cards_become_numbers() -> None:
    assert redact_text("press 0 or wait 30 seconds") == "press 0 or wait 30 seconds"
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert redact_text("4111111111111112") == "[number]"
    assert redact_text("ref 12345678901234567890") == "ref [number]"


def test_timestamps_are_not_mistaken_for_phone_numbers() -> None:
    stamp = "2026-08-27T03:32:01.718506+00:00"
    assert redact_text(f"cutoff={stamp}") == f"cutoff={stamp}"
    assert redact_text("call 415.555.0100 now") == "call [phone] now"
