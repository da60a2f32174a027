"""`kca chat`: be the caller in a text conversation with the call flow, typed or scripted.

The chat is a transport like the phone ones: it starts a call through the same ``CallService`` and runs it in
the same ``CallSession``, feeding it the caller's lines, silences and keys, and printing what is said and done.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ..calls.flow import CallFlow
from ..calls.service import CallService
from ..domain import CallChannel, CallStart, EndCall, FlowAction, Say, Transfer
from ..observability.logging import bind_call
from ..session.call_session import CallSession, SessionConfig
from ..session.transport import CallerKey, CallerSilent, CallerText, Inbound
from ..settings import Settings

SILENCE = "[silence]"
_KEY = re.compile(r"^\[dtmf\s+([0-9#*])\]$", re.IGNORECASE)


@dataclass(slots=True)
class ChatEvent:
    """One step of a chat: what the caller did, what came back, and where the flow is now."""

    caller: str
    actions: list[FlowAction] = field(default_factory=list)
    state: str = ""
    intent: str | None = None


def parse_script(text: str) -> list[str]:
    """One caller line per line; blank lines are skipped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


class ChatTransport:
    """``session.Transport`` for a text chat: caller lines in; the session's sentences, transfer and hang-up
    out as ``FlowAction``s to ``on_action``; a ``ChatEvent`` per line to ``on_event``."""

    audio = False

    def __init__(
        self,
        lines: AsyncIterator[str],
        on_action: Callable[[FlowAction], None],
        on_event: Callable[[ChatEvent], None],
    ) -> None:
        self._lines = lines
        self._on_action = on_action
        self._on_event = on_event
        self._event = ChatEvent("")  # the greeting's
        self._ended = False
        self.flow: CallFlow | None = None

    def _report(self) -> None:
        assert self.flow is not None
        caller_turns = [turn for turn in self.flow.turns if turn.speaker.value == "caller"]
        self._event.state = self.flow.state.value
        if self._event.caller:
            self._event.intent = caller_turns[-1].intent if caller_turns else None
        self._on_event(self._event)

    async def receive(self) -> Inbound | None:
        self._report()
        if self._ended:
            return None
        line = await anext(self._lines, None)
        if line is None:
            return None
        self._event = ChatEvent(line)
        if line.lower() == SILENCE:
            return CallerSilent()
        key = _KEY.match(line)
        if key:
            return CallerKey(key.group(1))
        return CallerText(line)

    def _act(self, action: FlowAction) -> None:
        self._event.actions.append(action)
        self._on_action(action)

    async def send_audio(self, ulaw: bytes) -> None:
        raise TypeError("a chat carries text only; the session speaks through send_text")

    async def send_text(self, text: str) -> None:
        self._act(Say(text))

    async def send_mark(self, name: str) -> None:
        pass

    async def clear(self) -> None:
        pass

    async def transfer(self, *, case_id: int | None, reason: str, announcement: str) -> bool:
        self._act(Transfer(case_id, reason))
        self._ended = True
        return True

    async def hang_up(self, *, reason: str) -> None:
        self._act(EndCall(reason))
        self._ended = True


async def run_chat(
    service: CallService,
    lines: AsyncIterator[str],
    *,
    from_number: str | None = None,
    on_action: Callable[[FlowAction], None] = lambda _action: None,
    on_event: Callable[[ChatEvent], None] = lambda _event: None,
) -> CallFlow:
    """Run one call: the greeting, then each caller line until the flow ends the call or the lines run out."""
    flow = await service.start(CallStart(channel=CallChannel.CHAT, from_number=from_number))
    transport = ChatTransport(lines, on_action, on_event)
    transport.flow = flow
    with bind_call(flow.call.call_id):
        await CallSession(transport=transport, handler=flow, config=SessionConfig()).run()
    return flow


def chat_result(flow: CallFlow) -> dict[str, Any]:
    """The JSON printed by ``kca chat --script FILE --json``."""
    call = flow.call
    return {
        "call_id": call.call_id,
        "outcome": call.outcome.value,
        "case_id": call.case_id,
        "escalation_reason": call.escalation_reason,
        "transcript": [
            {"speaker": turn.speaker.value, "text": turn.text, "at": turn.started_at.isoformat()}
            for turn in flow.turns
        ],
    }


async def _iterate(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


async def _typed_lines(console: Console) -> AsyncIterator[str]:
    while True:
        try:
            line = await asyncio.to_thread(console.input, "[bold cyan]you>[/] ")
        except EOFError:
            return
        yield line.strip() or SILENCE


def _show_action(console: Console, action: FlowAction) -> None:
    if isinstance(action, Say):
        console.print(f"[bold green]assistant>[/] {action.text}")
    elif isinstance(action, Transfer):
        console.print(f"[bold magenta]→ transfer to an agent[/] (case {action.case_id}, {action.reason})")
    elif isinstance(action, EndCall):
        console.print(f"[bold red]→ call ended[/] ({action.reason})")


def _show_event(console: Console, event: ChatEvent) -> None:
    intent = f" · intent [yellow]{event.intent}[/]" if event.intent else ""
    console.print(f"[dim]state [/][blue]{event.state}[/]{intent}")


async def _chat(settings: Settings, script: list[str] | None, as_json: bool, from_number: str | None) -> None:
    from ..wiring import call_runtime  # the adapters are chosen in one place

    console = Console(stderr=as_json)
    async with call_runtime(settings) as runtime:
        service = runtime.call_service
        if script is not None:
            lines: AsyncIterator[str] = _iterate(script)
        else:
            console.print(
                "[dim]Type as the caller. Empty line: silence; [dtmf 0]: a key; Ctrl-D: hang up.[/]"
            )
            lines = _typed_lines(console)
        if as_json:
            flow = await run_chat(service, lines, from_number=from_number)
            typer.echo(json.dumps(chat_result(flow), indent=2))
            return
        flow = await run_chat(
            service,
            lines,
            from_number=from_number,
            on_action=lambda action: _show_action(console, action),
            on_event=lambda event: _show_event(console, event),
        )
        call = flow.call
        console.print(
            f"[bold]outcome[/] {call.outcome.value} · [bold]case[/] {call.case_id} · "
            f"[bold]reason[/] {call.escalation_reason} · [bold]call[/] {call.call_id}"
        )


def chat_command(
    script: Annotated[
        Path | None,
        typer.Option("--script", exists=True, dir_okay=False, help="Caller lines ([silence], [dtmf 0])."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print transcript, outcome and case id as JSON.")
    ] = False,
    from_number: Annotated[str | None, typer.Option("--from", help="Caller ID to present (E.164).")] = None,
) -> None:
    """Talk to the call assistant as a caller would, with no telephony."""
    lines = parse_script(script.read_text(encoding="utf-8")) if script is not None else None
    asyncio.run(_chat(Settings(), lines, as_json, from_number))
