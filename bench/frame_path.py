"""CPU per inbound media frame on the native listener's path, in one process, without the network.

What one Twilio media message costs from the moment picows hands it to the listener until the session has
run it through μ-law decoding, the voice activity detector and the endpointer: ``_Inbox.put`` →
``MediaStreamTransport`` (parse) → ``CallSession`` (audio). The frames alternate between 3 s of silence and
1.5 s of a voiced sound, as a caller's do, over ``--calls`` sessions fed in turn. It is the per-message part
of ``bench/calls.py``'s CPU per call, free of the network and of the virtual machine's noise, so a change to
that path can be compared run against run:

    .venv/bin/python bench/frame_path.py [--frames 200000] [--calls 100]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import gc
import json
import math
import statistics
import time
from collections.abc import AsyncIterator

import uvloop

from kayako_call_assistant.audio.mulaw import pcm16_to_ulaw
from kayako_call_assistant.audio.vad import WebRtcVad
from kayako_call_assistant.domain import CallChannel, CallRecord, FlowAction
from kayako_call_assistant.fakes.speech import ScriptedSpeechToText, ToneTextToSpeech
from kayako_call_assistant.session.call_session import CallSession, SessionConfig, Speech
from kayako_call_assistant.telephony.media_listener import _Inbox
from kayako_call_assistant.telephony.media_stream import MediaStreamTransport


class _Listener:
    """A call handler that never answers: only the audio path is measured."""

    def __init__(self) -> None:
        self.call = CallRecord("c1", CallChannel.MEDIA_STREAM, dt.datetime.now(dt.UTC))
        self.finished = False
        self.expects = None

    async def _nothing(self, *_: object) -> AsyncIterator[FlowAction]:
        return
        yield

    greet = caller_silent = transfer_failed = _nothing

    def caller_said(self, text: str) -> AsyncIterator[FlowAction]:
        return self._nothing()

    def caller_pressed(self, digit: str) -> AsyncIterator[FlowAction]:
        return self._nothing()

    def reply_started(self, latency_seconds: float) -> None: ...

    async def assistant_cut_off(self, heard_text: str) -> None: ...

    async def hung_up(self, *, transport_failure: bool = False) -> None: ...


def _message(ulaw: bytes, n: int) -> bytes:
    """A media message as Twilio sends it (its keys in Twilio's order)."""
    media = {"track": "inbound", "chunk": str(n + 1), "timestamp": str(20 * n)}
    media["payload"] = base64.b64encode(ulaw).decode()
    message = {"event": "media", "sequenceNumber": str(n + 2), "media": media, "streamSid": "MZ" + "0" * 32}
    return json.dumps(message, separators=(",", ":")).encode()


def caller_frames(count: int) -> list[bytes]:
    silence = pcm16_to_ulaw(b"\x00\x00" * 160)
    frames = []
    for n in range(count):
        if n % 225 < 150:
            ulaw = silence
        else:
            t0 = n * 160
            pcm = b"".join(
                int(6000 * math.sin(2 * math.pi * 180 * (t0 + i) / 8000) * (1 + 0.3 * math.sin(i))).to_bytes(
                    2, "little", signed=True
                )
                for i in range(160)
            )
            ulaw = pcm16_to_ulaw(pcm)
        frames.append(_message(ulaw, n))
    return frames


async def main(args: argparse.Namespace) -> None:
    async def send(_text: str) -> None: ...

    async def close() -> None: ...

    inboxes = []
    recognisers = []
    calls = []
    for _ in range(args.calls):
        inbox = _Inbox()
        transport = MediaStreamTransport(
            receive=inbox.get,
            send=send,
            close=close,
            stream_sid="MZ1",
            call_sid="CA1",
            call_control=None,
            divert=inbox.set_divert,
        )
        recognisers.append(ScriptedSpeechToText(default="hello"))
        session = CallSession(
            transport=transport,
            handler=_Listener(),
            config=SessionConfig(idle_timeout_seconds=3600),
            speech=Speech(
                stt=recognisers[-1],
                tts=ToneTextToSpeech(),
                fallback_tts=None,
                vad=WebRtcVad(2),
            ),
        )
        calls.append(asyncio.create_task(session.run()))  # it installs its audio sink, as in a call
        inboxes.append(inbox)
    await asyncio.sleep(0.1)  # every session has greeted and is listening
    frames = caller_frames(450)
    per_call = args.frames // args.calls
    gc.collect()
    gc.freeze()
    results = []
    for _ in range(args.repeat):
        started = time.process_time()
        for k in range(per_call):
            frame = frames[k % len(frames)]
            for inbox in inboxes:
                inbox.put(frame)
            if k % 50 == 0:
                await asyncio.sleep(0)  # the tasks a finished utterance starts get to run, as on the loop
        elapsed = time.process_time() - started
        results.append(elapsed / (per_call * args.calls) * 1e6)
    for inbox in inboxes:
        inbox.close()
    await asyncio.gather(*calls)
    utterances = sum(len(stt.utterances) for stt in recognisers)
    if not utterances:
        raise SystemExit("no utterance was heard: the voiced frames did not reach the endpointer")
    print(
        f"µs of CPU per media frame: median {statistics.median(results):.2f}, best {min(results):.2f} "
        f"({args.repeat} runs of {per_call * args.calls} frames over {args.calls} calls; "
        f"{utterances} utterances heard)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    uvloop.run(main(parser.parse_args()))
