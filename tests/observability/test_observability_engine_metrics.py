"""The metered language engine: every operation passes through and its latency is observed per operation."""

from __future__ import annotations

from prometheus_client import REGISTRY

from kayako_call_assistant.domain import DialogueContext, Passage, Usage
from kayako_call_assistant.llm.local import LocalLanguageEngine
from kayako_call_assistant.observability.engine_metrics import MeteredLanguageEngine


def _observed(operation: str) -> float:
    labels = {"engine": "local", "operation": operation}
    return REGISTRY.get_sample_value("kca_model_seconds_count", labels) or 0.0


async def test_the_answer_check_passes_through_and_is_timed() -> None:
    engine = MeteredLanguageEngine(LocalLanguageEngine())
    passage = Passage(1, "Reset your password", "Open the login page and choose Forgot password.")
    context = DialogueContext(state="answering", helpdesk_name="Acme")
    before = _observed("confirms_answer")
    assert await engine.confirms_answer("how do I reset my password", passage, context, Usage()) is None
    assert _observed("confirms_answer") == before + 1
    assert await engine.search_query("um how do I reset my password", context, Usage()) == (
        "how do I reset my password"
    )
