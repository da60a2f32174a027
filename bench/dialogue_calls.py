"""Whole scripted calls on the real parts: how often a call ends with the right outcome, one case when one is
due (none otherwise), and the caller's email on it.

    .venv/bin/python bench/dialogue_calls.py [--engine local|openai] [--errors]

The embedded Kayako mock runs as a real HTTP server; the calls go through the configured language engine
(the local one, or the model engine against the fake OpenAI-compatible server) and the real knowledge base
built from the mock's help center. The callers' lines were written for this benchmark: hand-off requests
with contact details given in every order (the email for the name, details up front, corrections, a
declined name), small talk, answers the caller confirms, does not confirm, or hangs up on, and first
answers that fail.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog

from kayako_call_assistant.cli.chat import run_chat
from kayako_call_assistant.domain import CallOutcome
from kayako_call_assistant.fakes.openai_server import create_app as create_openai_app
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.wiring import call_runtime

PHONE = "four one five five five five zero one nine nine"
RESET = "how do I reset my password"


@dataclass(frozen=True)
class Script:
    name: str
    lines: list[str]
    outcome: CallOutcome
    email: str | None = None  # on the case; None: no case is due


ESC, RES, ANS, ABN = CallOutcome.ESCALATED, CallOutcome.RESOLVED, CallOutcome.ANSWERED, CallOutcome.ABANDONED
SCRIPTS = [
    Script("handoff, details in order", ["I want to talk to a real person", "Sam Lee",
           "sam dot lee at example dot com", "yes", PHONE, "yes"], ESC, "sam.lee@example.com"),
    Script("representative x3", ["representative representative representative", "Ana Ruiz",
           "a n a dot r u i z at example dot com", "yes", PHONE, "yes"], ESC, "ana.ruiz@example.com"),
    Script("email for the name", ["agent please", "sure it's j o n dot b r e w e r at gmail dot com",
           "that's correct", "Jon Brewer", PHONE, "yes"], ESC, "jon.brewer@gmail.com"),
    Script("details up front", ["my email is kim dot park at example dot com, I need a supervisor",
           "yes", "Kim Park", PHONE, "yes"], ESC, "kim.park@example.com"),
    Script("self-correction", ["operator", "Tom Hill", "tom at gmail dot com no wait it's tom at hotmail dot com",
           "yes", PHONE, "yes"], ESC, "tom@hotmail.com"),
    Script("read-back rejected", ["let me speak to an agent", "John Smith", "john dot smith at gmail dot com",
           "no", "j o n dot smith at gmail dot com", "yes", PHONE, "yes"], ESC, "jon.smith@gmail.com"),
    Script("name declined", ["can I talk to a human", "I'd rather not say", "eve at example dot com", "yes",
           PHONE, "yes"], ESC, "eve@example.com"),
    Script("email and phone together", ["is anybody there", "Li Wu",
           "li dot wu at example dot com and my number is " + PHONE, "yes", "yes"], ESC, "li.wu@example.com"),
    Script("double u, all one word", ["transfer me", "Walt Green",
           "double u a l t green all one word at example dot com", "yes", PHONE, "yes"], ESC, "waltgreen@example.com"),
    Script("pressed zero", ["zero", "Ann Bell", "ann dot bell at example dot com", "yes", PHONE, "yes"], ESC,
           "ann.bell@example.com"),
    Script("angry hand-off", ["this is useless, get me your manager", "Rob Stone",
           "rob at example dot com", "yes", PHONE, "yes"], ESC, "rob@example.com"),
    Script("on hold for a person", ["I've been on hold for a person for ten minutes", "Max Cole",
           "max dot cole at example dot com", "correct", PHONE, "yes"], ESC, "max.cole@example.com"),
    Script("resolved", [RESET, "yes, that worked, thanks"], RES),
    Script("resolved, it did", [RESET, "it did, thank you"], RES),
    Script("answered then hang-up", [RESET], ANS),
    Script("answered, ok bye", [RESET, "ok bye"], ANS),
    Script("not a yes", [RESET, "ok then tell me a joke", "whatever", "no", "Zoe Hart",
                        "zoe at example dot com", "yes", PHONE, "yes"], ESC, "zoe@example.com"),
    Script("two failed answers", [RESET, "no", "no", "Dan Fox", "dan dot fox at example dot com", "yes", PHONE, "yes"],
           ESC, "dan.fox@example.com"),
    Script("small talk", ["hello", "tell me a joke", "what's the weather like", "goodbye"], ABN),
    Script("greeting then goodbye", ["hi there", "bye"], ABN),
]  # fmt: skip


async def _lines(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=("local", "openai"), default="local")
    parser.add_argument("--errors", action="store_true", help="print the transcript of every wrong call")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    config = MockConfig()
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            serve_in_background(create_mock_app(config)) as mock,
            serve_in_background(create_openai_app()) as ai,
            httpx.AsyncClient(auth=(config.agent_email, config.agent_password)) as kayako,
        ):
            extra: dict[str, object] = {}
            if args.engine == "openai":
                extra = {"llm_engine": "openai", "openai_base_url": f"{ai}/v1", "openai_api_key": "sk-bench"}
            settings = Settings(
                kayako_base_url=f"{mock}/api/v1",
                kayako_email=config.agent_email,
                kayako_password=config.agent_password,  # type: ignore[arg-type]
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
                data_dir=Path(tmp),
                **extra,  # type: ignore[arg-type]
            )
            right_outcome = right_all = 0
            async with call_runtime(settings) as runtime:
                for script in SCRIPTS:
                    flow = await run_chat(runtime.call_service, _lines(script.lines))
                    call = flow.call
                    ok_outcome = call.outcome is script.outcome
                    if script.email is None:
                        ok_case = call.case_id is None
                    else:
                        ok_case = call.case_id is not None
                        if ok_case:
                            posts = await kayako.get(f"{mock}/api/v1/cases/{call.case_id}/posts")
                            ok_case = script.email in posts.text
                    right_outcome += ok_outcome
                    right_all += ok_outcome and ok_case
                    if args.errors and not (ok_outcome and ok_case):
                        print(f"WRONG {script.name}: {call.outcome.value}, case {call.case_id}")
                        for turn in flow.turns:
                            print(f"   {turn.speaker.value}: {turn.text}")
    total = len(SCRIPTS)
    print(f"engine {args.engine}: {total} scripted calls")
    print(f"right outcome: {right_outcome}/{total}")
    print(
        f"right outcome, the case when due (none otherwise) and the caller's email on it: {right_all}/{total}"
    )


if __name__ == "__main__":
    asyncio.run(main())
