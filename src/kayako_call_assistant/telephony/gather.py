"""The Twilio Gather transport: one webhook request is one turn. The caller's speech result or key comes in;
what the session says, and whether it transfers or hangs up, goes out as the TwiML of the response."""

from __future__ import annotations

from dataclasses import dataclass

from ..session.transport import Inbound
from . import twiml
from .transfer import transfer_twiml


@dataclass(frozen=True, slots=True)
class GatherSettings:
    public_url: str
    voice: str = "Polly.Joanna"
    transfer_target: str = ""
    transfer_caller_id: str | None = None
    transfer_workflow_sid: str | None = None


class GatherTurn:
    """``session.Transport`` for one Gather request; ``response()`` is the TwiML to answer it with."""

    audio = False

    def __init__(self, settings: GatherSettings, *, call_id: str, caller: str | None) -> None:
        self._settings = settings
        self._call_id = call_id
        self._caller = caller
        self._said: list[str] = []
        self._transfer_case: tuple[int | None] | None = None
        self._hung_up = False

    async def receive(self) -> Inbound | None:
        return None  # the turn's input is given to ``CallSession.run_turn``

    async def send_audio(self, ulaw: bytes) -> None:
        raise TypeError("Gather carries text only; the session speaks through send_text")

    async def send_text(self, text: str) -> None:
        self._said.append(text)

    async def send_mark(self, name: str) -> None:
        pass  # text is heard as soon as it is in the response

    async def clear(self) -> None:
        pass

    async def transfer(self, *, case_id: int | None, reason: str, announcement: str) -> bool:
        if not self._settings.transfer_target:
            return False
        self._transfer_case = (case_id,)
        return True

    async def hang_up(self, *, reason: str) -> None:
        self._hung_up = True

    def response(self) -> str:
        s = self._settings
        if self._transfer_case is not None:
            (case_id,) = self._transfer_case
            # What was said this turn is the announcement Twilio plays before dialling.
            return transfer_twiml(
                s.transfer_target,
                announcement=" ".join(self._said),
                case_id=case_id,
                caller_id=s.transfer_caller_id or self._caller,
                whisper_url=twiml.whisper_url(s.public_url, case_id),
                workflow_sid=s.transfer_workflow_sid,
            )
        if self._hung_up:
            return twiml.say_and_hang_up(self._said, voice=s.voice)
        action_url = twiml.http_url(s.public_url, "/twilio/gather", call=self._call_id)
        return twiml.gather_turn(sentences=self._said, action_url=action_url, voice=s.voice)
