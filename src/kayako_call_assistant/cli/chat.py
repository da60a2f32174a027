"""`kca chat`: be the caller in a text conversation with the call flow, typed or scripted.

The chat is a transport like the phone ones: it starts a call through the same ``CallService``, feeds it
the caller's lines, silences and keys, and prints what the flow says and does.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
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
from ..observability.metrics import TURN_LATENCY
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


def _actions_for(flow: CallFlow, line: str) -> AsyncIterator[FlowAction]:
    if line.lower() == SILENCE:
        return flow.caller_silent()
    key = _KEY.match(line)
    if key:
        return flow.caller_pressed(key.group(1))
    return flow.caller_said(line)


async def _collect(
    actions: AsyncIterator[FlowAction],
    on_action: Callable[[FlowAction], None],
    first_reply: Callable[[float], None] | None = None,
) -> list[FlowAction]:
    """``first_reply`` gets the seconds from the caller's line to the first thing said back (turn latency)."""
    started = time.perf_counter()
    collected: list[FlowAction] = []
    async for action in actions:
        if first_reply is not None and isinstance(action, Say):
            first_reply(time.perf_counter() - started)
            first_reply = None
        on_action(action)
        collected.append(action)
    return collected


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
    with bind_call(flow.call.call_id):
        on_event(ChatEvent("", await _collect(flow.greet(), on_action), flow.state.value))
        async for line in lines:
            if flow.finished:
                break
            actions = await _collect(_actions_for(flow, line), on_action, first_reply=TURN_LATENCY.observe)
            caller_turns = [turn for turn in flow.turns if turn.speaker.value == "caller"]
            intent = caller_turns[-1].intent if caller_turns else None
            on_event(ChatEvent(line, actions, flow.state.value, intent))
        await flow.hung_up()
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
