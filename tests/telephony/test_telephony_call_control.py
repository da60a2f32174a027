"""Transfers and hang-ups through the real `twilio` SDK against the fake Twilio REST API on a port, and the
transfer TwiML for each kind of target."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from structlog.testing import capture_logs

from kayako_call_assistant.fakes.twilio_rest import DEVELOPMENT_ACCOUNT_SID, create_app
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.telephony.call_control import TwilioCallControl
from kayako_call_assistant.telephony.transfer import transfer_twiml, validate_transfer_target, whisper_twiml

TOKEN = "secret-token"
SID = "CA" + "5" * 32


@pytest.fixture
async def twilio() -> AsyncIterator[str]:
    async with serve_in_background(create_app(DEVELOPMENT_ACCOUNT_SID, TOKEN)) as url:
        yield url


def control(url: str, target: str, token: str = TOKEN) -> TwilioCallControl:
    return TwilioCallControl(
        account_sid=DEVELOPMENT_ACCOUNT_SID,
        auth_token=token,
        api_base_url=url,
        target=target,
        caller_id="+15005550006",
        workflow_sid=None,
        whisper_url_for=lambda case: f"https://assistant.example.com/twilio/whisper?case={case}",
    )


async def fake_call(url: str, sid: str = SID) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        return dict((await client.get(f"{url}/_fake/calls/{sid}")).json())


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "+15551234567",
            '<Dial answerOnBridge="true" callerId="+15005550006"><Number '
            'url="https://assistant.example.com/twilio/whisper?case=42">+15551234567</Number></Dial>',
        ),
        (
            "sip:support@pbx.example.com",
            '<Dial answerOnBridge="true" callerId="+15005550006">'
            "<Sip>sip:support@pbx.example.com?X-Kayako-Case=42</Sip></Dial>",
        ),
        ("queue:support", "<Enqueue>support</Enqueue>"),
    ],
)
async def test_transfer_replaces_the_live_calls_twiml(twilio: str, target: str, expected: str) -> None:
    calls = control(twilio, target)
    try:
        assert await calls.transfer(SID, case_id=42, announcement="Connecting you now.")
    finally:
        await calls.aclose()
    state = await fake_call(twilio)
    assert state["twiml"] == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Connecting you now.</Say>'
        + expected
        + "</Response>"
    )


async def test_failures_are_logged_and_reported_not_raised(twilio: str) -> None:
    async with httpx.AsyncClient() as client:
        await client.post(f"{twilio}/_fake/fail", json={"status": 500, "times": 1, "code": 20500})
    calls, wrong = control(twilio, "queue:support"), control(twilio, "queue:support", token="wrong")
    try:
        with capture_logs() as logs:
            assert not await calls.transfer(SID, case_id=1, announcement="")
            assert not await wrong.transfer(SID, case_id=1, announcement="")
            await calls.hang_up(SID)
            assert not await calls.transfer(SID, case_id=1, announcement="")  # the call is over
            assert not await control(twilio, "").transfer(SID, case_id=1, announcement="")
    finally:
        await calls.aclose()
        await wrong.aclose()
    failures = [
        (e["event"], e.get("status"), e.get("twilio_code")) for e in logs if e["log_level"] == "error"
    ]
    assert failures == [
        ("telephony.transfer_failed", 500, 20500),
        ("telephony.transfer_failed", 401, 20003),
        ("telephony.transfer_failed", 400, 21220),
    ]
    assert any(e["event"] == "telephony.transfer_unconfigured" for e in logs)
    assert TOKEN not in str(logs)
    assert (await fake_call(twilio))["status"] == "completed"


def test_transfer_targets_are_validated_and_twiml_stays_under_twilios_limit() -> None:
    for good in ("+15551234567", "sip:a@b.example", "queue:support"):
        validate_transfer_target(good)
    for bad in ("5551234567", "sip:", "queue:", "support"):
        with pytest.raises(ValueError, match="KCA_TRANSFER_TARGET"):
            validate_transfer_target(bad)
    with pytest.raises(ValueError, match="over Twilio's 4000"):
        transfer_twiml(
            "queue:support",
            announcement="x" * 4000,
            case_id=1,
            caller_id=None,
            whisper_url=None,
            workflow_sid=None,
        )
    task = transfer_twiml(
        "queue:support", announcement="", case_id=7, caller_id=None, whisper_url=None, workflow_sid="WW1"
    )
    assert '<Enqueue workflowSid="WW1"><Task>{"case_id": 7, "source": "kca"}</Task></Enqueue>' in task


def test_the_agent_hears_the_case_number_digit_by_digit() -> None:
    assert "<Say>Kayako case four two one, from the Acme Support phone assistant.</Say>" in whisper_twiml(
        421, "Acme Support"
    )


async def test_a_twilio_that_accepts_and_never_answers_fails_the_request_after_the_timeout() -> None:
    """A real TCP server that accepts the connection and never says a byte: the SDK's own timeout is not
    applied by its aiohttp client, so without ours this would hang for aiohttp's five minutes."""
    connections: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # held open, never answered

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    silent = TwilioCallControl(
        account_sid=DEVELOPMENT_ACCOUNT_SID,
        auth_token=TOKEN,
        api_base_url=f"http://127.0.0.1:{port}",
        target="queue:support",
        caller_id=None,
        workflow_sid=None,
        whisper_url_for=lambda case: None,
        timeout=0.3,
    )
    try:
        with capture_logs() as logs:
            assert await asyncio.wait_for(silent.transfer(SID, case_id=1, announcement="Hi"), 20) is False
            await asyncio.wait_for(silent.hang_up(SID), 20)
        assert connections  # the requests did reach the server
        failures = [entry for entry in logs if entry["log_level"] == "error"]
        assert [f["event"] for f in failures] == ["telephony.transfer_failed", "telephony.hang_up_failed"]
        assert all(f["error"] == "TimeoutError" for f in failures)
    finally:
        await silent.aclose()
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
