"""Retrieval and answer-gate quality: StackFAQ, CLINC150 out-of-scope, and the conversational set.

Articles are the 125 StackFAQ threads, built into the knowledge base exactly as production does (HTML →
passages → BM25, and the local MiniLM embeddings when semantic ranking is on, the default). Three query sets:

* StackFAQ's crowd paraphrases, split by the dataset's ``*`` marker into half A and half B;
* CLINC150 out-of-scope queries (``oos_val`` for choosing, ``oos_test`` reported);
* ``bench/data/conversational.jsonl``: caller-style questions and off-topic lines written for the project,
  split by thread into ``tune`` and ``heldout`` (bench/data/README.md).

``--tune`` searches the fusion weight and the gate's thresholds on the tune split (conversational tune,
StackFAQ half A, off-topic tune lines and ``oos_val``) and prints the best; the settings' defaults are those
values. The report is on the held-out split at the configured settings.

    .venv/bin/python bench/kb_quality.py [--json] [--tune] [--lexical]

Passage vectors are cached in ``$XDG_CACHE_HOME/kca-bench`` (keyed by model and text), so a second run skips
embedding the help center; the timing of that is bench/kb_speed.py's job.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kayako_call_assistant.domain import AnswerVerdict, HelpArticle
from kayako_call_assistant.fakes.helpdesk import ListedHelpDesk
from kayako_call_assistant.kayako_mock.seed import load_stackfaq
from kayako_call_assistant.knowledge.base import KnowledgeBase
from kayako_call_assistant.knowledge.gate import (
    ConfirmMode,
    Evidence,
    GateThresholds,
    decide,
    wants_confirmation,
)
from kayako_call_assistant.knowledge.query import clean_query
from kayako_call_assistant.llm.local_embedder import LocalEmbedder
from kayako_call_assistant.settings import Settings

DATA = Path(__file__).resolve().parent / "data"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kca-bench"
# Constraints on the tune split when choosing the gate: off-topic answered at most this share (a margin
# under the 10% target), answers at least this often correct (a margin over the 90% target).
MAX_OFF_TOPIC_TUNE = 0.05
MIN_CORRECT_TUNE = 0.95


@dataclass
class Query:
    text: str
    article_id: int | None  # None: off-topic, must not be answered
    split: str


class CachedEmbedder:
    """Wraps the local embedder with an on-disk cache of passage vectors (bench only: repeat runs are fast)."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        CACHE.mkdir(parents=True, exist_ok=True)

    def _path(self, text: str) -> Path:
        inner = self.inner
        key = hashlib.sha256(
            f"{self.name}|{inner.passage_tokens}|b{inner.batch_size}|{text}".encode()
        ).hexdigest()
        return CACHE / f"{key}.npy"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await self.inner.embed(texts)  # queries: not cached

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        missing = [t for t in texts if not self._path(t).exists()]
        if missing:
            for text, vector in zip(missing, await self.inner.embed_passages(missing), strict=True):
                np.save(self._path(text), np.asarray(vector, dtype=np.float32))
        return [np.load(self._path(t)).tolist() for t in texts]


def load_articles() -> tuple[list[HelpArticle], list[Query]]:
    articles: list[HelpArticle] = []
    queries: list[Query] = []
    for number, thread in enumerate(load_stackfaq(), start=1):
        answers = thread["answer"] if isinstance(thread["answer"], list) else [thread["answer"]]
        body = "".join(f"<p>{html.escape(str(a))}</p>" for a in answers if a)
        articles.append(HelpArticle(id=number, title=str(thread["question"]), body_html=body))
        half = "A"
        for paraphrase in thread["rephr"]:
            if paraphrase == "*":
                half = "B"
            elif paraphrase:
                queries.append(Query(str(paraphrase), number, half))
    return articles, queries


def load_conversational() -> list[Query]:
    rows = [
        json.loads(line) for line in (DATA / "conversational.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return [Query(r["text"], r["article"], r["split"]) for r in rows]


def load_oos() -> dict[str, list[Query]]:
    oos = json.loads((DATA / "clinc150_oos.json").read_text(encoding="utf-8"))
    return {name: [Query(t, None, name) for t in oos[name]] for name in ("oos_val", "oos_test")}


_QUERY_VECTORS: dict[str, Any] = {}
_PASSAGE_TOKENS: int | None = None  # --passage-tokens: the passages' token window (default: the embedder's)
_WHEEL_MODEL = False  # --wheel-model: the wheel's float32-MatMul graph instead of the derived int8 one


async def evidence_for(kb: KnowledgeBase, queries: list[Query], embedder: Any) -> list[Evidence]:
    """The knowledge base's evidence for each query; queries are embedded once per run, in batches."""
    if embedder is None or not kb.semantic:
        return [kb.rank(q.text, None) for q in queries]
    missing = sorted({clean_query(q.text) for q in queries} - _QUERY_VECTORS.keys())
    if missing:
        matrix = await asyncio.to_thread(embedder.inner.embed_matrix, missing)
        _QUERY_VECTORS.update(zip(missing, matrix, strict=True))
    return [kb.rank(q.text, _QUERY_VECTORS[clean_query(q.text)]) for q in queries]


def rank_metrics(queries: list[Query], evidence: list[Evidence]) -> dict[str, float]:
    r1 = r3 = mrr = 0.0
    for query, found in zip(queries, evidence, strict=True):
        ranked = [hit.passage.article_id for hit in found.hits[:10]]
        r1 += ranked[:1] == [query.article_id]
        r3 += query.article_id in ranked[:3]
        if query.article_id in ranked:
            mrr += 1 / (ranked.index(query.article_id) + 1)
    n = len(queries) or 1
    return {
        "queries": len(queries),
        "recall@1": round(r1 / n, 4),
        "recall@3": round(r3 / n, 4),
        "mrr": round(mrr / n, 4),
    }


def gate_metrics(
    queries: list[Query], evidence: list[Evidence], thresholds: GateThresholds
) -> dict[str, float]:
    """Answerable: answered share, correct share of answers, clarify share (and gold in the two offered)."""
    answered = correct = clarified = clarified_right = 0
    n = 0
    for query, found in zip(queries, evidence, strict=True):
        n += 1
        verdict = decide(found, thresholds, top=3)
        best = verdict.hits[0].passage.article_id if verdict.hits else None
        if verdict.verdict is AnswerVerdict.ANSWER:
            answered += 1
            correct += best == query.article_id
        elif verdict.verdict is AnswerVerdict.CLARIFY:
            clarified += 1
            clarified_right += query.article_id in [h.passage.article_id for h in verdict.hits[:2]]
    n = n or 1
    return {
        "queries": len(queries),
        "answered": round(answered / n, 4),
        "correct_when_answered": round(correct / answered, 4) if answered else 0.0,
        "clarified": round(clarified / n, 4),
        "clarified_with_right_article": round(clarified_right / clarified, 4) if clarified else 0.0,
    }


def answer_checks(
    queries: list[Query], evidence: list[Evidence], thresholds: GateThresholds, mode: ConfirmMode, band: float
) -> dict[str, float]:
    """How many answers the model engine would be asked to confirm (``KCA_KB_CONFIRM``), and how many of
    the wrong answers (another article, or any answer to an off-topic line) are among them."""
    answered = checked = wrong = wrong_checked = 0
    for query, found in zip(queries, evidence, strict=True):
        assessment = decide(found, thresholds, top=3)
        if assessment.verdict is not AnswerVerdict.ANSWER:
            continue
        asked = wants_confirmation(assessment, mode, band)
        bad = assessment.hits[0].passage.article_id != query.article_id
        answered, checked = answered + 1, checked + asked
        wrong, wrong_checked = wrong + bad, wrong_checked + (bad and asked)
    return {
        "answered": answered,
        "checked": checked,
        "checked_share": round(checked / answered, 4) if answered else 0.0,
        "wrong_answers": wrong,
        "wrong_checked": wrong_checked,
    }


def off_topic_answered(evidence: list[Evidence], thresholds: GateThresholds) -> float:
    verdicts = [decide(found, thresholds, top=3).verdict for found in evidence]
    return round(sum(v is AnswerVerdict.ANSWER for v in verdicts) / (len(verdicts) or 1), 4)


async def build(
    articles: list[HelpArticle], *, semantic: bool, weight: float, gate: GateThresholds
) -> tuple[KnowledgeBase, Any]:
    settings = Settings()
    local = LocalEmbedder(
        passage_tokens=_PASSAGE_TOKENS or settings.kb_passage_tokens,
        int8_matmul=settings.kb_int8_matmul and not _WHEEL_MODEL,
    )
    embedder = CachedEmbedder(local) if semantic else None
    kb = KnowledgeBase(
        ListedHelpDesk(articles),  # type: ignore[arg-type]
        embedder=embedder,  # type: ignore[arg-type]
        answer_threshold=gate.lexical_only,
        gate=gate,
        lexical_weight=weight,
    )
    await kb.sync()
    return kb, embedder


def settings_gate(settings: Settings) -> GateThresholds:
    return GateThresholds(
        answer=settings.kb_gate_answer,
        answer_disagree=settings.kb_gate_answer_disagree,
        margin=settings.kb_gate_margin,
        lexical_only=settings.kb_answer_threshold,
    )


def _features(queries: list[Query], evidence: list[Evidence]) -> dict[str, np.ndarray]:
    """Per query: best and second fused score, BM25 agreement, and whether the first / first two are right."""
    first, second, agree, right1, right2 = [], [], [], [], []
    for query, found in zip(queries, evidence, strict=True):
        ids = [h.passage.article_id for h in found.hits]
        first.append(found.fused[0] if found.fused else 0.0)
        second.append(found.fused[1] if len(found.fused) > 1 else 0.0)
        agree.append(bool(ids) and found.lexical_best == ids[0])
        right1.append(ids[:1] == [query.article_id])
        right2.append(query.article_id in ids[:2])
    return {k: np.asarray(v) for k, v in
            {"first": first, "second": second, "agree": agree, "right1": right1, "right2": right2}.items()}  # fmt: skip


def _verdicts(
    f: dict[str, np.ndarray], answer: float, disagree: float, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """(answered, clarified) masks, as ``gate.decide`` computes them."""
    passes = f["first"] >= np.where(f["agree"], answer, disagree)
    clarify = passes & (f["first"] - f["second"] < margin)
    return passes & ~clarify, clarify


# Utility of one answerable question's outcome when choosing the gate: a wrong article read aloud costs as
# much as a right one gains; a clarifying question that offers the right article is worth half an answer.
_UTILITY = {"right": 1.0, "wrong": -1.0, "clarify_right": 0.5, "clarify_wrong": -0.25}


async def tune(articles: list[HelpArticle], sets: dict[str, list[Query]]) -> dict[str, Any]:
    """Grid search on the tune split: the best utility within the off-topic and correctness constraints."""
    answerable = sets["conv_tune"] + sets["sfq_A"]
    off_topic = sets["conv_tune_off"] + sets["oos_val"]
    grid = np.round(np.arange(0.26, 0.80, 0.01), 2)
    best: tuple[float, dict[str, Any]] | None = None
    per_weight: list[dict[str, Any]] = []
    for weight in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5):
        kb, embedder = await build(
            articles, semantic=True, weight=weight, gate=GateThresholds(1.0, 1.0, 0.0, 1.0)
        )
        fa = _features(answerable, await evidence_for(kb, answerable, embedder))
        fo = _features(off_topic, await evidence_for(kb, off_topic, embedder))
        weight_best: tuple[float, dict[str, Any]] | None = None
        for answer, extra, margin in itertools.product(
            grid, (0.0, 0.02, 0.05, 0.1, 0.15, 0.2), (0.0, 0.01, 0.02, 0.03, 0.04, 0.06)
        ):
            disagree = answer + extra
            answered, clarified = _verdicts(fa, answer, disagree, margin)
            off = float(_verdicts(fo, answer, disagree, margin)[0].mean())
            correct = float((answered & fa["right1"]).sum() / max(1, answered.sum()))
            if off > MAX_OFF_TOPIC_TUNE or correct < MIN_CORRECT_TUNE:
                continue
            utility = float(
                _UTILITY["right"] * (answered & fa["right1"]).sum()
                + _UTILITY["wrong"] * (answered & ~fa["right1"]).sum()
                + _UTILITY["clarify_right"] * (clarified & fa["right2"]).sum()
                + _UTILITY["clarify_wrong"] * (clarified & ~fa["right2"]).sum()
            ) / len(answerable)
            row = {"lexical_weight": weight, "answer": float(answer), "answer_disagree": round(float(disagree), 2),
                   "margin": margin, "utility": round(utility, 4), "answered": round(float(answered.mean()), 4),
                   "correct_when_answered": round(correct, 4), "clarified": round(float(clarified.mean()), 4),
                   "off_topic_answered": round(off, 4), "recall@1": round(float(fa["right1"].mean()), 4)}  # fmt: skip
            if weight_best is None or utility > weight_best[0]:
                weight_best = (utility, row)
        if weight_best is not None:
            per_weight.append(weight_best[1])
            if best is None or weight_best[0] > best[0]:
                best = weight_best
    return {"best": best[1] if best else {}, "best_per_lexical_weight": per_weight}


async def report(args: argparse.Namespace) -> dict[str, Any]:
    articles, sfq = load_articles()
    conv = load_conversational()
    oos = load_oos()
    sets = {
        "sfq_A": [q for q in sfq if q.split == "A"],
        "sfq_B": [q for q in sfq if q.split == "B"],
        "conv_tune": [q for q in conv if q.split == "tune" and q.article_id is not None],
        "conv_heldout": [q for q in conv if q.split == "heldout" and q.article_id is not None],
        "conv_tune_off": [q for q in conv if q.split == "tune" and q.article_id is None],
        "conv_heldout_off": [q for q in conv if q.split == "heldout" and q.article_id is None],
        **oos,
    }
    if args.tune:
        return {"tuned_on_tune_split": await tune(articles, sets)}
    settings = Settings()
    gate = settings_gate(settings)
    semantic = settings.kb_semantic and not args.lexical
    kb, embedder = await build(articles, semantic=semantic, weight=settings.kb_lexical_weight, gate=gate)
    evidence = {name: await evidence_for(kb, queries, embedder) for name, queries in sets.items()}
    out: dict[str, Any] = {
        "ranking": "fused (MiniLM + BM25)" if kb.semantic else "BM25",
        "articles": len(articles),
        "passages": len(kb.index.passages),
        "embedder": embedder.name if embedder else None,
        "passage_tokens": embedder.inner.passage_tokens if embedder else None,
        "gate": {"lexical_weight": settings.kb_lexical_weight, **gate.__dict__}
        if hasattr(gate, "__dict__")
        else {
            "lexical_weight": settings.kb_lexical_weight,
            "answer": gate.answer,
            "answer_disagree": gate.answer_disagree,
            "margin": gate.margin,
            "lexical_only": gate.lexical_only,
        },
        "retrieval": {},
        "gate_answerable": {},
        "off_topic_answered": {},
    }
    for name in ("sfq_A", "sfq_B", "conv_tune", "conv_heldout"):
        out["retrieval"][name] = rank_metrics(sets[name], evidence[name])
        out["gate_answerable"][name] = gate_metrics(sets[name], evidence[name], gate)
    for name in ("oos_val", "oos_test", "conv_tune_off", "conv_heldout_off"):
        out["off_topic_answered"][name] = off_topic_answered(evidence[name], gate)
    mode, band = settings.kb_confirm, settings.kb_confirm_band
    out["answer_check"] = {"mode": mode, "band": band}
    for name in ("sfq_B", "conv_heldout", "oos_test", "conv_heldout_off"):
        out["answer_check"][name] = answer_checks(sets[name], evidence[name], gate, mode, band)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--tune", action="store_true", help="choose fusion weight and gate on the tune split")
    parser.add_argument("--lexical", action="store_true", help="BM25 only (semantic ranking off)")
    parser.add_argument("--passage-tokens", type=int, help="passages' token window (default: the embedder's)")
    parser.add_argument("--wheel-model", action="store_true", help="the wheel's graph (float32 MatMuls)")
    args = parser.parse_args()
    global _PASSAGE_TOKENS, _WHEEL_MODEL
    _PASSAGE_TOKENS, _WHEEL_MODEL = args.passage_tokens, args.wheel_model
    result = asyncio.run(report(args))
    if args.json or args.tune:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['ranking']}: {result['articles']} articles, {result['passages']} passages; gate {result['gate']}"
    )
    print(
        f"{'queries':<14} {'n':>5} {'R@1':>7} {'R@3':>7} {'MRR':>7} {'answered':>9} {'correct':>8} {'clarify':>8}"
    )
    for name, m in result["retrieval"].items():
        g = result["gate_answerable"][name]
        print(
            f"{name:<14} {m['queries']:>5} {m['recall@1']:>7.3f} {m['recall@3']:>7.3f} {m['mrr']:>7.3f} "
            f"{g['answered']:>9.3f} {g['correct_when_answered']:>8.3f} {g['clarified']:>8.3f}"
        )
    for name, share in result["off_topic_answered"].items():
        print(f"off-topic answered, {name}: {share:.3f}")
    checks = result["answer_check"]
    print(f"answer check (KCA_KB_CONFIRM={checks['mode']}, band {checks['band']}):")
    for name, c in checks.items():
        if isinstance(c, dict):
            print(
                f"  {name}: {c['checked']} of {c['answered']} answers checked; "
                f"{c['wrong_checked']} of {c['wrong_answers']} wrong answers among them"
            )


if __name__ == "__main__":
    main()
