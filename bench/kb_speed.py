"""Knowledge search speed at help-center scale: index build and query latency (query embedding included).

A synthetic help center of ``--passages`` passages (default 10,000) is made from the 125 StackFAQ threads:
each thread's answer is reused with the words of other threads' titles mixed in, so BM25 sees a realistic
vocabulary and every passage has its own text (no embedding-cache hits). The knowledge base is built as
production builds it (``KnowledgeBase.sync``: BM25 in a worker thread, MiniLM embeddings in a worker
thread), then ``--queries`` distinct caller-style questions from bench/data/conversational.jsonl are
assessed one by one through ``KnowledgeBase.assess`` (query embedding + BM25 + one matrix product + gate).

``--full-build`` times the real thing: ``KnowledgeBase.sync`` of all the articles with the production
embedder (BM25 and every passage's vector, from a cold embedding cache), reported as ``full_build_seconds``
with the CPU time the process spent; the queries then run against that index. Without it the build is timed
on ``--build-sample`` passages and extrapolated, and the latency run reuses those vectors (latency does not
depend on their values). ``--passage-tokens`` and ``--wheel-model`` (the wheel's float32-MatMul graph) compare
the embedder's options.

    .venv/bin/python bench/kb_speed.py [--passages 10000] [--queries 200] [--build-sample 500] [--full-build]
        [--passage-tokens 32] [--wheel-model]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np

from kayako_call_assistant.domain import HelpArticle
from kayako_call_assistant.fakes.helpdesk import ListedHelpDesk
from kayako_call_assistant.kayako_mock.seed import load_stackfaq
from kayako_call_assistant.knowledge.base import KnowledgeBase, embedding_text
from kayako_call_assistant.knowledge.gate import GateThresholds
from kayako_call_assistant.knowledge.index import KnowledgeIndex
from kayako_call_assistant.llm.local_embedder import LocalEmbedder
from kayako_call_assistant.settings import Settings

DATA = Path(__file__).resolve().parent / "data"


def synthetic_articles(passages: int, seed: int = 7) -> list[HelpArticle]:
    """About ``passages`` one-passage articles, each a StackFAQ answer with other titles' words mixed in."""
    rng = random.Random(seed)
    threads = load_stackfaq()
    titles = [str(t["question"]) for t in threads]
    words = " ".join(titles).split()
    articles: list[HelpArticle] = []
    for number in range(passages):
        thread = threads[number % len(threads)]
        answer = thread["answer"][0] if isinstance(thread["answer"], list) else thread["answer"]
        text = " ".join(str(answer).split()[:90])
        extra = " ".join(rng.choice(words) for _ in range(12))
        title = f"{titles[number % len(titles)]} ({' '.join(rng.choice(words) for _ in range(3))})"
        body = f"<p>{html.escape(text)}</p><p>{html.escape(extra)}.</p>"
        articles.append(HelpArticle(id=number + 1, title=title, body_html=body))
    return articles


async def run(args: argparse.Namespace) -> dict[str, object]:
    settings = Settings()
    gate = GateThresholds(
        settings.kb_gate_answer,
        settings.kb_gate_answer_disagree,
        settings.kb_gate_margin,
        settings.kb_answer_threshold,
    )
    articles = synthetic_articles(args.passages)
    embedder = LocalEmbedder(
        passage_tokens=args.passage_tokens or settings.kb_passage_tokens,
        int8_matmul=settings.kb_int8_matmul and not args.wheel_model,
    )
    embedder.embed_matrix(["warm up the session"])  # the model load (about half a second) is not build time
    report: dict[str, object] = {
        "passages_requested": args.passages,
        "embedder": embedder.name,
        "passage_tokens": embedder.passage_tokens,
        "load_average": os.getloadavg(),
    }
    if args.full_build:
        kb = KnowledgeBase(
            ListedHelpDesk(articles), embedder=embedder, answer_threshold=gate.lexical_only, gate=gate
        )  # type: ignore[arg-type]
        started, cpu_started = time.perf_counter(), time.process_time()
        await kb.sync()
        report["full_build_seconds"] = round(time.perf_counter() - started, 1)
        report["full_build_cpu_seconds"] = round(time.process_time() - cpu_started, 1)
        report["passages"] = len(kb.index.passages)
        report["semantic"] = kb.semantic
        report["load_average_after_build"] = os.getloadavg()
        return {**report, **await latency(kb, args)}

    started = time.perf_counter()
    index = await asyncio.to_thread(KnowledgeIndex, articles)
    report["bm25_build_seconds"] = round(time.perf_counter() - started, 2)
    report["passages"] = len(index.passages)

    sample = index.passages[: args.build_sample]
    started = time.perf_counter()
    vectors = await embedder.embed_passages([embedding_text(p) for p in sample])
    seconds = time.perf_counter() - started
    rate = len(sample) / seconds
    report["embedded_passages"] = len(sample)
    report["embedding_seconds"] = round(seconds, 2)
    report["embedding_passages_per_second"] = round(rate, 1)
    report["full_build_seconds_estimate"] = round(
        float(report["bm25_build_seconds"]) + len(index.passages) / rate,
        1,  # type: ignore[arg-type]
    )

    kb = KnowledgeBase(ListedHelpDesk(articles), embedder=None, answer_threshold=gate.lexical_only, gate=gate)  # type: ignore[arg-type]
    await kb.sync()  # BM25 only; the vectors come from above
    tiled = np.resize(np.asarray(vectors, dtype=np.float32), (len(index.passages), len(vectors[0])))
    kb._vectors = tiled / np.linalg.norm(tiled, axis=1, keepdims=True)
    kb._embedder = embedder
    return {**report, **await latency(kb, args)}


async def latency(kb: KnowledgeBase, args: argparse.Namespace) -> dict[str, object]:
    """``assess`` of ``--queries`` distinct caller questions, one by one: wall clock and CPU time."""
    report: dict[str, object] = {}
    rows = [
        json.loads(line) for line in (DATA / "conversational.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    queries = list(dict.fromkeys(r["text"] for r in rows))[: args.queries]
    latencies: list[float] = []
    cpu: list[float] = []
    for query in queries:
        started, cpu_started = time.perf_counter(), time.process_time()
        await kb.assess(query)
        latencies.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    cpu.sort()
    report["assess_cpu_ms_p50"] = round(statistics.median(cpu), 2)
    report["assess_cpu_ms_p95"] = round(cpu[int(0.95 * (len(cpu) - 1))], 2)
    latencies.sort()
    report["queries"] = len(latencies)
    report["assess_ms_p50"] = round(statistics.median(latencies), 2)
    report["assess_ms_p95"] = round(latencies[int(0.95 * (len(latencies) - 1))], 2)
    report["assess_ms_max"] = round(latencies[-1], 2)
    started = time.perf_counter()
    for query in queries[:50]:
        kb.rank(query, None)
    report["lexical_rank_ms_mean"] = round((time.perf_counter() - started) * 1000 / min(50, len(queries)), 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--build-sample", type=int, default=500)
    parser.add_argument("--full-build", action="store_true", help="time KnowledgeBase.sync of every passage")
    parser.add_argument("--passage-tokens", type=int, help="passages' token window (default: the setting)")
    parser.add_argument("--wheel-model", action="store_true", help="the wheel's graph (float32 MatMuls)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
