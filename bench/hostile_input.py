"""Time every redaction and parsing path on hostile 1 MB inputs (issue 10: linear-time hostile input).

Run: PYTHONPATH=src python bench/hostile_input.py [--size 1000000]
Prints one row per (path, input) with CPU seconds of this process (and wall seconds, which on a shared
machine include waiting for a core); the slowest row per path is the bound quoted in docs/security.md.
Before RE2 the email pattern alone took over 4 minutes on one such input.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import time
from collections.abc import Callable
from typing import Any

import structlog

from kayako_call_assistant.dialogue import entities
from kayako_call_assistant.observability.logging import configure_logging
from kayako_call_assistant.observability.redact import redact_cards, redact_text, redact_value
from kayako_call_assistant.telephony import protocol


def hostile(size: int) -> dict[str, str]:
    def fill(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    return {
        "letters": fill("a"),
        "email-local": fill("a."),
        "email-domain": "a@" + fill("."),
        "many-at": fill("a@"),
        "emails": fill("a@b.co "),
        "digits-spaced": fill("1 "),
        "digit-words": fill("one "),
        "spoken-at": fill("x at y dot "),
        "phones": fill("4155550100 "),
        "spaces": fill(" "),
    }


def _log_line(text: str) -> None:
    structlog.get_logger("bench").warning("webhook.rejected", call_sid=text, path=text)


def _parse_frame(text: str) -> None:
    for frame in (
        '{"event":"mark","mark":{"name":"' + text + '"}}',
        "[" * len(text),
        '{"event":"media","media":{"payload":"' + text + '"}}',
    ):
        with contextlib.suppress(protocol.MalformedMessage):
            protocol.parse(frame)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    args = parser.parse_args()
    configure_logging(json=True, level="INFO")
    logging.getLogger().handlers[0].setStream(io.StringIO())  # type: ignore[attr-defined]
    paths: dict[str, Callable[[str], Any]] = {
        "redact_text": redact_text,
        "redact_cards": redact_cards,
        "redact_value": lambda t: redact_value({"k": [t]}),
        "log line (truncate+redact)": _log_line,
        "protocol.parse": _parse_frame,
        "entities.parse_email": entities.parse_email,
        "entities.parse_phone": entities.parse_phone,
        "entities.parse_case_number": entities.parse_case_number,
        "entities.parse_name": entities.parse_name,
    }
    worst: dict[str, tuple[float, str]] = {}
    for path, function in paths.items():
        for name, text in hostile(args.size).items():
            started, cpu_started = time.perf_counter(), time.process_time()
            function(text)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            if cpu > worst.get(path, (-1.0, ""))[0]:
                worst[path] = (cpu, name)
            print(f"{path:30} {name:15} cpu {cpu:8.3f} s  wall {elapsed:8.3f} s", flush=True)
    print(f"\nworst CPU seconds per path on {args.size:,}-character inputs:")
    for path, (cpu, name) in worst.items():
        print(f"| {path} | {name} | {cpu:.2f} s |")


if __name__ == "__main__":
    main()
