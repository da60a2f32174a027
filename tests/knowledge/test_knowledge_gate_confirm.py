"""When the answer gate's ANSWER is checked by the model engine: its headroom over the threshold it passed,
and ``wants_confirmation`` under ``KCA_KB_CONFIRM`` off / uncertain / always."""

from __future__ import annotations

import pytest

from kayako_call_assistant.domain import AnswerVerdict, Assessment, Passage, SearchHit
from kayako_call_assistant.knowledge.gate import (
    ConfirmMode,
    Evidence,
    GateThresholds,
    decide,
    wants_confirmation,
)

GATE = GateThresholds(answer=0.35, answer_disagree=0.40, margin=0.02, lexical_only=0.115)
BAND = 0.05


def _hits(*relevance: float) -> list[SearchHit]:
    return [
        SearchHit(Passage(i + 1, f"title {i + 1}", "text"), score=r, relevance=r)
        for i, r in enumerate(relevance)
    ]


def _fused(first: float, *, lexical_best: int | None = 1) -> Assessment:
    return decide(Evidence(_hits(0.0, 0.0), [first, 0.1], lexical_best), GATE, top=3)


def test_an_answer_carries_its_headroom_over_the_threshold_it_passed() -> None:
    agreed = _fused(0.50)
    assert (agreed.verdict, agreed.reason) == (AnswerVerdict.ANSWER, "above_threshold")
    assert agreed.headroom == pytest.approx(0.15)
    semantic = _fused(0.50, lexical_best=2)  # BM25 ranks another article first: the higher threshold
    assert (semantic.verdict, semantic.reason) == (AnswerVerdict.ANSWER, "above_threshold_semantic")
    assert semantic.headroom == pytest.approx(0.10)
    lexical = decide(Evidence(_hits(0.14), [], 1), GATE, top=3)
    assert lexical.verdict is AnswerVerdict.ANSWER and lexical.headroom == pytest.approx(0.025)
    assert _fused(0.30).headroom is None  # not an answer: nothing to be above


@pytest.mark.parametrize(
    ("assessment", "mode", "asked"),
    [
        (_fused(0.37), "uncertain", True),  # 0.02 above the threshold: within the band
        (_fused(0.39), "uncertain", True),  # 0.04 above: still within the band
        (_fused(0.41), "uncertain", False),  # 0.06 above: past it
        (_fused(0.60), "uncertain", False),  # far above, retrievers agree: certain
        (_fused(0.60, lexical_best=2), "uncertain", True),  # far above, but the retrievers disagree
        (_fused(0.60, lexical_best=None), "uncertain", True),  # BM25 matched nothing
        (decide(Evidence(_hits(0.13), [], 1), GATE, top=3), "uncertain", True),  # lexical, near
        (decide(Evidence(_hits(0.60), [], 1), GATE, top=3), "uncertain", False),  # lexical, far
        (_fused(0.60), "always", True),
        (_fused(0.37), "off", False),
        (_fused(0.37, lexical_best=2), "off", False),
        (_fused(0.30), "always", False),  # below the threshold: nothing to confirm
        (decide(Evidence(_hits(0.0, 0.0), [0.50, 0.49], 1), GATE, top=3), "always", False),  # clarify
        (Assessment(AnswerVerdict.ANSWER, _hits(0.9), 0.9, "word_share"), "uncertain", False),  # no headroom
        (Assessment(AnswerVerdict.ANSWER, [], 0.9, "above_threshold"), "always", False),  # no passage
    ],
)
def test_which_answers_the_model_is_asked_to_confirm(
    assessment: Assessment, mode: ConfirmMode, asked: bool
) -> None:
    assert wants_confirmation(assessment, mode, BAND) is asked
