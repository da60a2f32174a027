"""Caller audio pushed from the carrier's callback (``PushesAudio``): media frames reach the session's sink
synchronously, in the call task's context, in order with everything else; anything that is not a media
frame still comes through ``receive``; a failure in the sink is raised in the call's task."""

from __future__ import annotations

import asyncio
import base64
import contextvars

import pytest

from kayako_call_assistant.session.transport import MarkPlayed, PushesAudio
from kayako_call_assistant.telephony.media_listener import _Inbox
from kayako_call_assistant.telephony.media_stream import MediaStreamTransport

CALL = contextvars.ContextVar("call", default="none")


def _media(ulaw: bytes) -> bytes:
    payload = base64.b64encode(ulaw).decode()
    return f'{{"event":"media","streamSid":"MZ1","media":{{"payload":"{payload}"}}}}'.encode()


MARK = b'{"event":"mark","streamSid":"MZ1","mark":{"name":"s1"}}'


async def _nothing() -> None:
    return None


def _transport(inbox: _Inbox) -> MediaStreamTransport:
    async def send(_text: str) -> None:
        return None

    return MediaStreamTransport(
        receive=inbox.get,
        send=send,
        close=_nothing,
        stream_sid="MZ1",
        call_sid="CA1",
        call_control=None,
        divert=inbox.set_divert,
    )


async def test_media_frames_reach_the_sink_at_once_in_the_calls_context_and_the_rest_comes_by_receive() -> (
    None
):
    inbox = _Inbox()
    transport = _transport(inbox)
    assert isinstance(transport, PushesAudio)
    heard: list[tuple[bytes, str]] = []
    CALL.set("CA1")  # what the call's task has bound (the log context)
    transport.push_audio_to(lambda ulaw: heard.append((ulaw, CALL.get())))

    def callback() -> None:  # the carrier's frame callback runs outside the call's task
        inbox.put(_media(b"\x01" * 160))
        inbox.put(b"not json")
        inbox.put(MARK)

    asyncio.get_running_loop().call_soon(contextvars.Context().run, callback)
    event = await transport.receive()
    assert heard == [(b"\x01" * 160, "CA1")]  # synchronously, before the task woke, with the call's context
    assert event == MarkPlayed("s1")
    assert transport.malformed == 1  # the malformed frame was left to receive, which logged it
    inbox.put(_media(b"\x02" * 160))  # nothing queued any more: diverted again
    assert heard[-1] == (b"\x02" * 160, "CA1")
    inbox.close()
    assert await transport.receive() is None


async def test_a_frame_never_overtakes_one_still_queued() -> None:
    inbox = _Inbox()
    transport = _transport(inbox)
    heard: list[bytes] = []
    inbox.put(MARK)  # queued before the sink exists
    transport.push_audio_to(heard.append)
    inbox.put(_media(b"\x03" * 160))  # the mark is still queued: this frame queues behind it
    assert heard == []
    assert await transport.receive() == MarkPlayed("s1")
    event = await transport.receive()
    assert event is not None and getattr(event, "ulaw", None) == b"\x03" * 160
    inbox.put(_media(b"\x04" * 160))
    assert heard == [b"\x04" * 160]


async def test_a_failure_in_the_sink_is_raised_by_receive_and_audio_comes_through_receive_again() -> None:
    inbox = _Inbox()
    transport = _transport(inbox)

    def broken(_ulaw: bytes) -> None:
        raise RuntimeError("defect in the session")

    transport.push_audio_to(broken)
    inbox.put(_media(b"\x05" * 160))  # taken: the failure is kept for the call's task
    assert inbox.divert is None
    with pytest.raises(RuntimeError, match="defect in the session"):
        await transport.receive()
    inbox.put(_media(b"\x06" * 160))
    event = await transport.receive()
    assert event is not None and getattr(event, "ulaw", None) == b"\x06" * 160


async def test_closing_the_transport_stops_the_push() -> None:
    inbox = _Inbox()
    transport = _transport(inbox)
    heard: list[bytes] = []
    transport.push_audio_to(heard.append)
    await transport.close()
    assert inbox.divert is None
    inbox.put(_media(b"\x07" * 160))
    assert heard == []
