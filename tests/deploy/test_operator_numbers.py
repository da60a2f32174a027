"""What operators read first: the cost of a call is zero for the local engines and priced per remote provider,
and `kca report` prints turn latency percentiles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kayako_call_assistant.domain import CallChannel, CallOutcome, CallRecord, Speaker, Turn, Usage
from kayako_call_assistant.observability.call_metrics import MeteredCallStore
from kayako_call_assistant.observability.metrics import estimate_cost
from kayako_call_assistant.observability.report import build_report
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.storage import SqlStores, create_engine, upgrade
from kayako_call_assistant.wiring import prices_from_settings

USAGE = Usage(
    model_input_tokens=1_000_000,
    model_output_tokens=1_000_000,
    audio_seconds_transcribed=60,
    characters_synthesized=1_000_000,
)
PRICES = {
    "price_model_input_per_million_tokens": 1.0,
    "price_model_output_per_million_tokens": 2.0,
    "price_stt_per_minute": 0.5,
    "price_tts_per_million_characters": 10.0,
}


def test_local_engines_cost_nothing() -> None:
    settings = Settings(llm_engine="local", stt_engine="local", tts_engine="local", **PRICES)
    assert estimate_cost(USAGE, prices_from_settings(settings)) == 0.0


def test_remote_engines_are_priced_each_by_its_provider_price() -> None:
    remote = Settings(llm_engine="openai", stt_engine="openai", tts_engine="openai", **PRICES)
    assert estimate_cost(USAGE, prices_from_settings(remote)) == 13.5
    model_only = Settings(llm_engine="openai", stt_engine="local", tts_engine="local", **PRICES)
    assert estimate_cost(USAGE, prices_from_settings(model_only)) == 3.0
    speech_only = Settings(llm_engine="local", stt_engine="openai", tts_engine="openai", **PRICES)
    assert estimate_cost(USAGE, prices_from_settings(speech_only)) == 10.5


async def test_report_prints_turn_latency_percentiles_and_local_calls_cost_nothing(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'report.db'}")
    await upgrade(engine)
    local = Settings(llm_engine="local", stt_engine="local", tts_engine="local")
    store = MeteredCallStore(SqlStores(engine).calls, prices_from_settings(local))
    start = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
    call = CallRecord(call_id="c1", channel=CallChannel.MEDIA_STREAM, started_at=start, usage=USAGE)
    await store.create_call(call)
    at = start
    for seq, gap in enumerate([0.2, 0.4, 0.6, 0.8, 3.0]):
        await store.add_turn("c1", Turn(Speaker.CALLER, "q", at, ended_at=at, seq=2 * seq))
        at += dt.timedelta(seconds=gap)
        await store.add_turn("c1", Turn(Speaker.ASSISTANT, "a", at, seq=2 * seq + 1))
        at += dt.timedelta(seconds=5)
    call.outcome, call.ended_at = CallOutcome.RESOLVED, at
    await store.update_call(call)
    report = await build_report(store)
    await engine.dispose()
    assert report.p50_turn_latency_seconds == 0.6
    assert report.p95_turn_latency_seconds == 3.0
    assert report.total_cost_usd == 0.0
