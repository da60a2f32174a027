"""Property-based fuzzing of the Media Streams parser: whatever arrives, ``parse`` returns an event or raises
``MalformedMessage``, never anything else (an unhandled exception would drop the caller's stream)."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayako_call_assistant.telephony import protocol

VALID: list[dict[str, Any]] = [
    {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    {
        "event": "start",
        "start": {
            "streamSid": "MZ1",
            "callSid": "CA1",
            "accountSid": "AC1",
            "customParameters": {"caller": "+15551234567"},
        },
    },
    {"event": "media", "media": {"payload": base64.b64encode(b"\xff" * 160).decode(), "timestamp": "20"}},
    {"event": "dtmf", "dtmf": {"digit": "5"}},
    {"event": "mark", "mark": {"name": "reply-1"}},
    {"event": "stop"},
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _refuses_cleanly(frame: str | bytes) -> None:
    try:
        event = protocol.parse(frame)
    except protocol.MalformedMessage as error:
        assert str(error)  # a reason fit for a log line
        return
    assert isinstance(
        event,
        protocol.Connected
        | protocol.Started
        | protocol.Media
        | protocol.Dtmf
        | protocol.MarkReached
        | protocol.Stopped,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_random_frames_are_parsed_or_refused(frame: str | bytes) -> None:
    _refuses_cleanly(frame)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID), st.data())
def test_mutated_twilio_messages_are_parsed_or_refused(message: dict[str, Any], data: st.DataObject) -> None:
    mutated = json.loads(json.dumps(message))
    section = mutated.get(mutated["event"])
    # Replace or add a field at the top level or inside the event's section with any JSON value.
    target = section if isinstance(section, dict) and data.draw(st.booleans()) else mutated
    key = data.draw(st.sampled_from([*target.keys(), "event", "payload", "timestamp", "name", "digit", "x"]))
    target[key] = data.draw(json_values)
    _refuses_cleanly(json.dumps(mutated, allow_nan=True))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(VALID), st.integers(min_value=0, max_value=400), st.binary(min_size=1, max_size=8))
def test_byte_level_corruption_is_refused_cleanly(message: dict[str, Any], at: int, junk: bytes) -> None:
    raw = json.dumps(message).encode()
    position = at % (len(raw) + 1)
    _refuses_cleanly(raw[:position] + junk + raw[position:])
