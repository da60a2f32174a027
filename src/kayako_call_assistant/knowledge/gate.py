"""The answer gate: answer, ask which of two articles is meant, or neither, from the fused evidence.

The evidence per article is its fused score (cosine similarity of the best passage plus a weighted share of
its calibrated BM25 relevance, ``knowledge.base``), whether BM25's own best article is the same one
(agreement), and the lead of the best article over the second. The thresholds were chosen on the tuning
half of the conversational set with CLINC150's ``oos_val`` and the tuning half's off-topic lines, and are
reported on the held-out half (bench/kb_quality.py, docs/knowledge.md).

An ANSWER carries its ``headroom`` over the threshold it passed; ``wants_confirmation`` reads it to decide
whether the model engine is asked to confirm that the passage answers the question (``KCA_KB_CONFIRM``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..domain import AnswerVerdict, Assessment, SearchHit


@dataclass(frozen=True, slots=True)
class GateThresholds:
    """When the evidence is good enough; defaults come from ``Settings`` (``KCA_KB_GATE_*``)."""

    answer: float  # fused score the best article needs when BM25 ranks the same article first
    answer_disagree: float  # ... when BM25's best article is another one (or BM25 matched nothing)
    margin: float  # a lead over the second article below this is ambiguous: ask which one is meant
    lexical_only: float  # calibrated BM25 relevance needed when there are no embeddings


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one search found: articles best first (one hit each), their fused scores, BM25's favourite."""

    hits: list[SearchHit]
    fused: list[float]  # parallel to ``hits``; empty when the ranking was lexical only
    lexical_best: int | None  # the article BM25 alone ranks first


def decide(evidence: Evidence, thresholds: GateThresholds, *, top: int) -> Assessment:
    """The verdict on the best ``top`` articles; ``confidence`` is the best article's score in [0, 1]."""
    hits = evidence.hits[:top]
    if not hits:
        return Assessment(AnswerVerdict.NONE, [], confidence=0.0, reason="no_match")
    if not evidence.fused:  # lexical only: the calibrated relevance against one threshold
        best = hits[0].relevance
        if best >= thresholds.lexical_only:
            return Assessment(
                AnswerVerdict.ANSWER,
                hits,
                confidence=best,
                reason="above_threshold",
                headroom=best - thresholds.lexical_only,
            )
        return Assessment(AnswerVerdict.NONE, hits, confidence=best, reason="below_threshold")
    first = evidence.fused[0]
    second = evidence.fused[1] if len(evidence.fused) > 1 else 0.0
    confidence = min(1.0, max(0.0, first))
    agree = evidence.lexical_best == hits[0].passage.article_id
    needed = thresholds.answer if agree else thresholds.answer_disagree
    if first < needed:
        reason = "below_threshold" if agree else "below_threshold_retrievers_disagree"
        return Assessment(AnswerVerdict.NONE, hits, confidence=confidence, reason=reason)
    if len(hits) > 1 and first - second < thresholds.margin:
        return Assessment(AnswerVerdict.CLARIFY, hits, confidence=confidence, reason="ambiguous_top_two")
    reason = "above_threshold" if agree else "above_threshold_semantic"
    return Assessment(
        AnswerVerdict.ANSWER, hits, confidence=confidence, reason=reason, headroom=first - needed
    )


ConfirmMode = Literal["off", "uncertain", "always"]


def wants_confirmation(assessment: Assessment, mode: ConfirmMode, band: float) -> bool:
    """Whether an ANSWER should be checked by the model engine before it is read (``KCA_KB_CONFIRM``).

    ``off``: never; ``always``: every ANSWER; ``uncertain``: an ANSWER the retrievers disagree on (the
    semantic best is not BM25's, ``above_threshold_semantic``) or whose best score is at most ``band``
    above the threshold it had to pass. An ANSWER without a ``headroom`` (a gate that does not report it)
    is checked under ``uncertain`` only when the retrievers disagree. Other verdicts are never checked.
    """
    if assessment.verdict is not AnswerVerdict.ANSWER or not assessment.hits or mode == "off":
        return False
    if mode == "always":
        return True
    if assessment.reason == "above_threshold_semantic":
        return True
    return assessment.headroom is not None and assessment.headroom <= band
