"""The Media Streams message parser and the webhook signature check, against the protocol's own examples."""

from __future__ import annotations

import base64
import json

import pytest
from starlette.datastructures import URL, Headers
from twilio.request_validator import RequestValidator

from kayako_call_assistant.telephony import protocol
from kayako_call_assistant.telephony.signature import DEVELOPMENT_AUTH_TOKEN, TwilioSignatures, auth_tokens
from kayako_call_assistant.telephony.twiml import connect_stream, gather_turn, websocket_url

START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC123",
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
        "callSid": "CA123",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"caller": "+15551234567"},
    },
    "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
}


def test_parses_every_twilio_event() -> None:
    assert protocol.parse('{"event":"connected","protocol":"Call","version":"1.0.0"}') == protocol.Connected(
        "Call"
    )
    started = protocol.parse(json.dumps(START))
    assert started == protocol.Started(
        "MZ18ad3ab5a668481ce02b83e7395059f0", "CA123", "AC123", {"caller": "+15551234567"}
    )
    payload = base64.b64encode(b"\xff" * 160).decode()
    media = {
        "event": "media",
        "media": {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": payload},
    }
    assert protocol.parse(json.dumps(media)) == protocol.Media(b"\xff" * 160, 5, "inbound")
    dtmf = {"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "0"}}
    assert protocol.parse(json.dumps(dtmf)) == protocol.Dtmf("0")
    assert protocol.parse('{"event":"mark","mark":{"name":"s1"}}') == protocol.MarkReached("s1")
    assert protocol.parse('{"event":"stop","stop":{"callSid":"CA123"}}') == protocol.Stopped()


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"event": "media"}', "without a 'media' object"),
        ('{"event": "media", "media": {"payload": "%%%"}}', "bad payload"),
        ('{"event": "dtmf", "dtmf": {"digit": "99"}}', "digit"),
        ('{"event": "surprise"}', "unknown event"),
        ('{"event": "start", "start": {"streamSid": "MZ\\"1", "callSid": "CA1"}}', "malformed streamSid"),
    ],
)
def test_malformed_frames_are_refused_with_a_reason(frame: str, reason: str) -> None:
    with pytest.raises(protocol.MalformedMessage, match=reason):
        protocol.parse(frame)


AUDIO = base64.b64encode(b"\x7f" * 160).decode()


@pytest.mark.parametrize(
    "frame",
    [
        f'{{"event":"media","media":{{"track":"inbound","timestamp":"5","payload":"{AUDIO}"}}}}',
        f'{{"event":"media","media":{{"payload":"{AUDIO}"}},"streamSid":"MZ1"}}',
        f'{{"event":"media","media":{{"payload":"{AUDIO}","timestamp":"soon"}}}}',
        f'{{"event":"media","media":{{"payload":"{AUDIO}","timestamp":[1]}}}}',
        f'{{"event":"media","media":{{"payload":"{AUDIO}","timestamp":1e400}}}}',
        f'{{"event":"media","media":{{"payload":"{AUDIO[:-1]}"}}}}',
        f'{{"event":"media","media":{{"payload":"{AUDIO} "}}}}',
        '{"event":"media","media":{"payload":""}}',
        '{"event":"media","media":{"payload":7}}',
        '{"event":"media","media":{"payload":"\u00e9\u00e9\u00e9\u00e9"}}',
        '{"event":"media","media":"payload"}',
        '{"event":"media","media":[1]}',
        '{"event":"media"}',
        '{"event":["media"]}',
        '{"media":{"payload":"AAAA"}}',
        '{"event":"mark","mark":{"name":"s1"}}',
        '["media"]',
        '"media"',
        "not json",
        '{"event":"media","media":{"payload":"AAAA"}',
        f'{{"event":"media","media":{{"payload":"{"A" * 70000}"}}}}',
        # nesting in a field the fast path skips: as deep as orjson allows, and deeper
        f'{{"event":"media","x":{"[" * 1000}{"]" * 1000},"media":{{"payload":"{AUDIO}"}}}}',
        f'{{"event":"media","x":{"[" * 20000}{"]" * 20000},"media":{{"payload":"{AUDIO}"}}}}',
    ],
)
def test_the_media_fast_path_takes_exactly_the_frames_parse_reads_as_audio(frame: str) -> None:
    try:
        event = protocol.parse(frame)
    except protocol.MalformedMessage:
        event = None
    expected = event.payload if isinstance(event, protocol.Media) else None
    assert protocol.media_audio(frame) == expected
    assert protocol.media_audio(frame.encode()) == expected


def test_outbound_messages_are_the_json_twilio_expects() -> None:
    assert json.loads(protocol.media_message("MZ1", b"\x00\x01")) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": "AAE="},
    }
    assert json.loads(protocol.mark_message("MZ1", "s3")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "s3"},
    }
    assert json.loads(protocol.clear_message("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


# --- signatures -------------------------------------------------------------------------------------


def test_the_sdk_test_vector_validates() -> None:
    signatures = TwilioSignatures(["12345"], "https://mycompany.com")
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = URL("https://mycompany.com/myapp.php?foo=1&bar=2")
    headers = Headers({"host": "mycompany.com"})
    assert signatures.valid("RSOYDt4T1cUTdK1PDd93/VVr8B8=", url, headers, params)
    assert not signatures.valid("RSOYDt4T1cUTdK1PDd93/VVr8B9=", url, headers, params)
    assert not signatures.valid(None, url, headers, params)
    assert not signatures.valid("RSOYDt4T1cUTdK1PDd93/VVr8B8=", url, headers, {**params, "Digits": "1235"})


def test_behind_a_proxy_the_signed_url_is_rebuilt_from_forwarded_headers() -> None:
    signatures = TwilioSignatures(["secret"], "http://127.0.0.1:8080")
    public = "https://support.example.com/twilio/voice"
    params = {"CallSid": "CA1"}
    signature = RequestValidator("secret").compute_signature(public, params)
    internal = URL("http://10.0.0.5:8080/twilio/voice")
    proxied = Headers(
        {"host": "10.0.0.5:8080", "x-forwarded-proto": "https", "x-forwarded-host": "support.example.com"}
    )
    assert signatures.valid(signature, internal, proxied, params, peer="127.0.0.1")
    assert not signatures.valid(
        signature, internal, Headers({"host": "10.0.0.5:8080"}), params, peer="127.0.0.1"
    )
    # forwarded headers from a peer that is not a trusted proxy (KCA_FORWARDED_ALLOW_IPS) do not count
    assert not signatures.valid(signature, internal, proxied, params, peer="203.0.113.9")
    assert not signatures.valid(signature, internal, proxied, params)
    # the configured public URL is the other way to know what Twilio signed
    configured = TwilioSignatures(["secret"], "https://support.example.com")
    assert configured.valid(signature, internal, Headers({"host": "10.0.0.5:8080"}), params)


def test_websocket_upgrades_accept_the_wss_and_https_spellings_and_a_rotated_token() -> None:
    signatures = TwilioSignatures(["old", "new"], "https://support.example.com")
    url = URL("ws://10.0.0.5:8080/twilio/media")
    headers = Headers({"host": "10.0.0.5:8080"})
    for signed in ("wss://support.example.com/twilio/media", "https://support.example.com/twilio/media"):
        signature = RequestValidator("new").compute_signature(signed, {})
        assert signatures.valid(signature, url, headers, {}, websocket=True)
    assert not signatures.valid(
        RequestValidator("other").compute_signature("wss://support.example.com/twilio/media", {}),
        url,
        headers,
        {},
        websocket=True,
    )


def test_auth_token_is_required_in_production_and_defaults_in_development() -> None:
    assert auth_tokens("", "", production=False) == [DEVELOPMENT_AUTH_TOKEN]
    assert auth_tokens("a", "b", production=True) == ["a", "b"]
    with pytest.raises(ValueError, match="KCA_TWILIO_AUTH_TOKEN"):
        auth_tokens("", "b", production=True)


# --- TwiML ------------------------------------------------------------------------------------------


def test_voice_webhook_twiml_connects_a_stream_with_the_calls_token() -> None:
    xml = connect_stream(public_url="https://support.example.com", token="abc.def")
    assert xml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream name="assistant" '
        'statusCallback="https://support.example.com/twilio/stream-status" statusCallbackMethod="POST" '
        'url="wss://support.example.com/twilio/media"><Parameter name="token" value="abc.def" />'
        "</Stream></Connect>"
        # a stream that ends without the call ending comes back to the voice webhook (resume elsewhere)
        '<Redirect method="POST">https://support.example.com/twilio/voice</Redirect></Response>'
    )
    assert websocket_url("http://127.0.0.1:8080/", "/twilio/media") == "ws://127.0.0.1:8080/twilio/media"


def test_gather_turn_listens_for_speech_and_a_key() -> None:
    xml = gather_turn(
        sentences=["Hello.", "How can I help?"],
        action_url="https://x.example/twilio/gather?call=1",
        voice="Polly.Joanna",
    )
    assert (
        'input="speech dtmf"' in xml
        and 'actionOnEmptyResult="true"' in xml
        and 'speechModel="phone_call"' in xml
    )
    assert xml.count("<Say") == 2 and 'action="https://x.example/twilio/gather?call=1"' in xml
