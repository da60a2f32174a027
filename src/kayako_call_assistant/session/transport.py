"""The port between a call session and whatever carries the call (Twilio Media Streams, Twilio Gather, the
`kca chat` terminal, a browser softphone).

A transport only moves data: it hands the session what the caller did (``receive``) and carries out what
the session decides (audio or text out, ``clear``, marks, transfer, hang-up). Every decision about turns,
interruptions, fillers, transfers and hang-ups is the session's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class CallerAudio:
    """Caller audio: 8 kHz μ-law, any length (the session cuts it into 20 ms frames)."""

    ulaw: bytes


@dataclass(frozen=True, slots=True)
class CallerText:
    """A caller utterance already in words (Gather's speech result, a typed chat line)."""

    text: str


@dataclass(frozen=True, slots=True)
class CallerKey:
    digit: str


@dataclass(frozen=True, slots=True)
class CallerSilent:
    """The transport itself timed the caller out (Gather's empty result, an empty chat line)."""


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """The caller's side has played the audio up to the mark named ``name``."""

    name: str


Inbound = CallerAudio | CallerText | CallerKey | CallerSilent | MarkPlayed


class Transport(Protocol):
    """One call's connection. ``audio``: the session speaks through ``send_audio`` (and marks and
    ``clear``); otherwise through ``send_text``, and a sentence sent counts as heard."""

    @property
    def audio(self) -> bool: ...

    async def receive(self) -> Inbound | None:
        """The next thing the caller did; None when the connection is over (the caller hung up, the stream
        ended, the script ran out)."""
        ...

    async def send_audio(self, ulaw: bytes) -> None:
        """8 kHz μ-law: whole 20 ms frames, one or several (one message on the wire)."""
        ...

    async def send_text(self, text: str) -> None: ...

    async def send_mark(self, name: str) -> None:
        """Ask to be told (``MarkPlayed``) when everything sent so far has been played."""
        ...

    async def clear(self) -> None:
        """Drop the audio sent but not yet played."""
        ...

    async def transfer(self, *, case_id: int | None, reason: str, announcement: str) -> bool:
        """Hand the call to a person; False when that could not be done (the session then says so).
        ``announcement`` is what the caller hears while connected."""
        ...

    async def hang_up(self, *, reason: str) -> None:
        """End the call on our side; ``receive`` returns None afterwards."""
        ...


AudioSink = Callable[[bytes], None]


@runtime_checkable
class PushesAudio(Protocol):
    """A transport that can hand caller audio to the session as it arrives, in the carrier's own callback,
    rather than through ``receive``: a media stream is fifty messages a second per call, and a task
    wake-up and an ``await`` chain per message was a large share of what a call costs
    (docs/performance.md). Everything else still comes through ``receive``, in order with the audio."""

    def push_audio_to(self, sink: AudioSink | None) -> None:
        """From now on call ``sink(ulaw)`` with each piece of caller audio (8 kHz μ-law) as it arrives, where
        the carrier supports it (else audio keeps coming through ``receive``); None stops it. If ``sink``
        raises, the error is raised by the next ``receive`` and audio comes through ``receive`` again."""
        ...
