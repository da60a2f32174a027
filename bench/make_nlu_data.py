"""Rebuild the intent examples shipped with the local engine and the held-out sets the NLU bench reads.

Run once from a checkout that has the shared evaluation data (``/work/shared/eval-data`` or ``--source``):
    .venv/bin/python bench/make_nlu_data.py
Training side (shipped in ``dialogue/data/intent_examples.json``): NLU++ folds 0-9 and every other Rasa
example. Held-out side (``bench/data/``): NLU++ folds 10-19, the other Rasa half and a fixed CLINC150 sample.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = ROOT / "src" / "kayako_call_assistant" / "dialogue" / "data"
BENCH_DATA = ROOT / "bench" / "data"

# NLU++ generic intents → our intents; domain intents (card, refund, …) count as "question".
NLUPP_GENERIC = {
    "handoff": "handoff",
    "greet": "greeting",
    "thank": "thanks",
    "affirm": "affirm",
    "deny": "deny",
    "end_call": "goodbye",
    "repeat": "repeat",
    "dont_know": "dont_know",
}
NLUPP_PRIORITY = ["handoff", "deny", "affirm", "dont_know", "repeat", "end_call", "thank", "greet"]
RASA = {
    "greet": "greeting",
    "goodbye": "goodbye",
    "thank": "thanks",
    "bot_challenge": "out_of_scope",
    "password_reset": "question",
    "open_incident": "question",
    "help": "question",
    "problem_email": "question",
    "inform": "inform",
    "out_of_scope": "out_of_scope",
    "incident_status": "case_status",
    "affirm": "affirm",
    "deny": "deny",
    "human_handoff": "handoff",
}


def nlupp_label(intents: list[str]) -> str:
    for name in NLUPP_PRIORITY:
        if name in intents:
            return NLUPP_GENERIC[name]
    return "question"


def rasa_examples(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: list[tuple[str, str]] = []
    for block in (b for b in data["nlu"] if "intent" in b):
        for line in block["examples"].splitlines():
            text = line.strip().removeprefix("- ").strip()
            text = re.sub(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})", r"\1", text)
            if text:
                out.append((text, RASA[block["intent"]]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=Path("/work/shared/eval-data"))
    source = parser.parse_args().source

    train: dict[str, list[str]] = {}
    nlupp_test: list[dict[str, object]] = []
    for domain in ("banking", "hotels"):
        for fold in range(20):
            for example in json.loads((source / "nluplusplus" / domain / f"fold{fold}.json").read_text()):
                intents = example.get("intents", [])
                label = nlupp_label(intents)
                if fold < 10:
                    # Only the generic intents are matched against; domain questions are the default.
                    if label != "question":
                        train.setdefault(label, []).append(example["text"])
                else:
                    nlupp_test.append({"text": example["text"], "intent": label, "domain": domain})

    rasa_test: list[dict[str, object]] = []
    for index, (text, label) in enumerate(rasa_examples(source / "rasa-helpdesk-nlu" / "nlu.yml")):
        if index % 2 == 0:
            train.setdefault(label, []).append(text)
        else:
            rasa_test.append({"text": text, "intent": label})

    clinc = json.loads((source / "clinc150" / "data_full.json").read_text())
    sample = random.Random(20240601).sample(clinc["test"], 400)
    clinc_test = [{"text": text, "intent": intent} for text, intent in sample]

    PACKAGE_DATA.mkdir(parents=True, exist_ok=True)
    BENCH_DATA.mkdir(parents=True, exist_ok=True)
    ordered = {key: sorted(set(values)) for key, values in sorted(train.items())}
    (PACKAGE_DATA / "intent_examples.json").write_text(
        json.dumps(ordered, indent=1, ensure_ascii=False) + "\n"
    )
    for name, rows in (
        ("nlupp_heldout", nlupp_test),
        ("rasa_heldout", rasa_test),
        ("clinc_sample", clinc_test),
    ):
        with (BENCH_DATA / f"{name}.jsonl").open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print({k: len(v) for k, v in ordered.items()}, len(nlupp_test), len(rasa_test), len(clinc_test))


if __name__ == "__main__":
    main()
