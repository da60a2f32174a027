"""The TwiML this service answers Twilio's voice webhooks with (built with the SDK's ``VoiceResponse``)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

from twilio.twiml.voice_response import Connect, Gather, VoiceResponse


def websocket_url(public_url: str, path: str) -> str:
    parts = urlsplit(public_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))


def http_url(public_url: str, path: str, **query: str) -> str:
    parts = urlsplit(public_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, urlencode(query), ""))


def connect_stream(*, public_url: str, token: str, media_url: str = "") -> str:
    """Bidirectional media stream; the call's signed stream token (``stream_auth``) travels as a
    ``<Parameter name="token">`` to the ``start`` message, and with it the caller's number and attestation.

    The ``<Redirect>`` after it runs when the stream ends without a transfer or a REST hang-up having ended
    the call first: when the replica serving it died or was stopped mid-call (deploy: resume). Twilio then
    asks the voice webhook again with the same CallSid, through the public URL, so any replica answers: it
    resumes the call from its stored state, or hangs up if the call had finished.

    ``media_url``: the base URL of the media-stream listener when it has a port of its own
    (``KCA_MEDIA_PORT``); by default the stream is opened on the public URL.
    """
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(
        url=websocket_url(media_url or public_url, "/twilio/media"),
        name="assistant",
        status_callback=http_url(public_url, "/twilio/stream-status"),
        status_callback_method="POST",
    )
    stream.parameter(name="token", value=token)
    response.append(connect)
    response.redirect(http_url(public_url, "/twilio/voice"), method="POST")
    return str(response)


def retry_elsewhere(*, public_url: str, attempt: int) -> str:
    """A draining replica's answer to a new call: wait a second, then ask the public voice URL again, which
    the load balancer routes to a replica that is ready (deploy: drain)."""
    response = VoiceResponse()
    response.pause(length=1)
    response.redirect(http_url(public_url, "/twilio/voice", attempt=str(attempt)), method="POST")
    return str(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def gather_turn(*, sentences: Sequence[str], action_url: str, voice: str, language: str = "en-US") -> str:
    """One turn of Gather mode: say the reply, then listen for speech or a key; an empty result comes back
    to the same action (the caller said nothing)."""
    response = VoiceResponse()
    gather = Gather(
        input="speech dtmf",
        action=action_url,
        method="POST",
        speech_timeout="auto",
        speech_model="phone_call",
        action_on_empty_result=True,
        language=language,
        num_digits=1,
        finish_on_key="",
        timeout=8,
    )
    for sentence in sentences:
        gather.say(sentence, voice=voice)
    response.append(gather)
    return str(response)


def say_and_hang_up(sentences: Sequence[str], *, voice: str) -> str:
    response = VoiceResponse()
    for sentence in sentences:
        response.say(sentence, voice=voice)
    response.hangup()
    return str(response)


def whisper_url(public_url: str, case_id: int | None) -> str | None:
    """Where Twilio fetches what the agent hears before a transfer is bridged (the case number)."""
    return None if case_id is None else http_url(public_url, "/twilio/whisper", case=str(case_id))
