"""Prometheus metrics (served at ``/metrics``) and the cost estimate of a call.

Metric objects live at module level in the default registry: one process, one set of series.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from ..domain import CallOutcome, CallRecord, Usage
from ..ports import OutboxStore

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_DURATION_BUCKETS = (5, 15, 30, 60, 120, 180, 300, 600, 1200, 1800)

CALLS = Counter("kca_calls_total", "Finished calls by outcome.", ["outcome"])
CALLS_ACTIVE = Gauge("kca_calls_active", "Calls in progress in this process.")
RESOLUTION_RATE = Gauge("kca_resolution_rate", "Share of calls finished in this process that were resolved.")
CALL_DURATION = Histogram("kca_call_duration_seconds", "Call duration.", buckets=_DURATION_BUCKETS)
CALL_COST = Histogram(
    "kca_call_cost_usd",
    "Estimated cost of a call.",
    buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
ESCALATIONS = Counter("kca_escalations_total", "Escalations by reason.", ["reason"])
TURN_LATENCY = Histogram(
    "kca_turn_latency_seconds", "End of caller speech to the first answer audio.", buckets=_LATENCY_BUCKETS
)
PLAYBACK_SECONDS = Counter("kca_playback_seconds_total", "Seconds of assistant speech sent to callers.")
PLAYBACK_LATE = Counter(
    "kca_playback_late_seconds_total",
    "Gaps in the middle of a sentence because its audio left later than the caller's buffer ran out.",
)
STT_LATENCY = Histogram(
    "kca_stt_seconds", "Speech-to-text time per utterance.", ["engine"], buckets=_LATENCY_BUCKETS
)
SPEECH_CACHE = Counter(
    "kca_speech_cache_lookups_total",
    "Sentences looked up in the speech cache (hit: sent without synthesis), by result.",
    ["result"],
)
TTS_LATENCY = Histogram(
    "kca_tts_first_audio_seconds", "Text-to-speech time to first audio.", ["engine"], buckets=_LATENCY_BUCKETS
)
MODEL_LATENCY = Histogram(
    "kca_model_seconds", "Language model call time.", ["engine", "operation"], buckets=_LATENCY_BUCKETS
)
KAYAKO_LATENCY = Histogram(
    "kca_kayako_request_seconds", "Kayako request time.", ["method", "path"], buckets=_LATENCY_BUCKETS
)
KAYAKO_REQUESTS = Counter(
    "kca_kayako_requests_total", "Kayako requests by status.", ["method", "path", "status"]
)
KAYAKO_RATE_LIMIT_WAIT = Counter(
    "kca_kayako_rate_limit_wait_seconds_total", "Time spent waiting for the client-side Kayako rate limiter."
)
OUTBOX_DEPTH = Gauge("kca_outbox_depth", "Cases stored locally and not yet delivered to Kayako.")
OUTBOX_DEAD = Gauge(
    "kca_outbox_dead", "Cases Kayako refused beyond repair: an operator must fix the cause and requeue them."
)
OUTBOX_REPAIRS = Counter(
    "kca_outbox_repairs_total", "Case requests repaired after Kayako refused a field.", ["field"]
)
MODEL_TOKENS = Counter("kca_model_tokens_total", "Language model tokens.", ["direction"])
AUDIO_TRANSCRIBED = Counter("kca_audio_transcribed_seconds_total", "Seconds of audio sent to speech-to-text.")
CHARACTERS_SYNTHESIZED = Counter("kca_characters_synthesized_total", "Characters sent to text-to-speech.")
COST = Counter("kca_cost_usd_total", "Estimated cost of finished calls.")
# deploy: alert inputs (deploy/prometheus/alerts.yml)
MODEL_FALLBACKS = Counter(
    "kca_model_fallbacks_total",
    "Language model operations the fallback engine served (primary failed or its breaker was open).",
    ["operation"],
)
READY = Gauge("kca_ready", "1 when the last readiness probe of this process passed, 0 when it failed.")
DRAINING = Gauge("kca_draining", "1 while this process drains after SIGTERM (no new calls), else 0.")

_finished = {"all": 0, "resolved": 0}


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices in US dollars; the defaults are OpenAI's list prices for the default models."""

    model_input_per_million_tokens: float
    model_output_per_million_tokens: float
    stt_per_minute: float
    tts_per_million_characters: float


def estimate_cost(usage: Usage, prices: PriceTable) -> float:
    return round(
        usage.model_input_tokens / 1_000_000 * prices.model_input_per_million_tokens
        + usage.model_output_tokens / 1_000_000 * prices.model_output_per_million_tokens
        + usage.audio_seconds_transcribed / 60 * prices.stt_per_minute
        + usage.characters_synthesized / 1_000_000 * prices.tts_per_million_characters,
        6,
    )


def record_finished_call(call: CallRecord) -> None:
    """Count a call that just ended: outcome, duration, usage and cost."""
    CALLS.labels(outcome=call.outcome.value).inc()
    if call.escalation_reason:
        ESCALATIONS.labels(reason=call.escalation_reason).inc()
    if call.duration_seconds is not None:
        CALL_DURATION.observe(call.duration_seconds)
    if call.cost_usd is not None:
        CALL_COST.observe(call.cost_usd)
        COST.inc(call.cost_usd)
    MODEL_TOKENS.labels(direction="input").inc(call.usage.model_input_tokens)
    MODEL_TOKENS.labels(direction="output").inc(call.usage.model_output_tokens)
    AUDIO_TRANSCRIBED.inc(call.usage.audio_seconds_transcribed)
    CHARACTERS_SYNTHESIZED.inc(call.usage.characters_synthesized)
    # A call that ended right after an answer, with no yes or no, counts neither for nor against the rate.
    if call.outcome is not CallOutcome.ANSWERED:
        _finished["all"] += 1
    if call.outcome is CallOutcome.RESOLVED:
        _finished["resolved"] += 1
    if _finished["all"]:
        RESOLUTION_RATE.set(_finished["resolved"] / _finished["all"])


async def refresh_outbox_gauges(outbox: OutboxStore) -> dict[str, int]:
    """Set the outbox gauges from the database (shared by every worker, so every process reports the same
    numbers); returns the counts per status."""
    counts = await outbox.counts()
    OUTBOX_DEPTH.set(counts.get("pending", 0))
    OUTBOX_DEAD.set(counts.get("dead", 0))
    return counts


def count_repair(field: str) -> None:
    """``OutboxWorker``'s ``on_repair`` hook."""
    OUTBOX_REPAIRS.labels(field=field).inc()
