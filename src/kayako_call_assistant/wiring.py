"""The one place where adapters are chosen from configuration and joined to the core.

Everything that opens a connection (the Kayako client, the database engine) is created inside an async
context manager and closed when it exits, so the CLI, the server and tests share one assembly.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

from . import kayako
from .calls.policy import CallPolicy
from .calls.service import CallService
from .knowledge.base import KnowledgeBase
from .knowledge.gate import GateThresholds
from .llm.engines import embedder_from_settings, language_engine_from_settings
from .observability import metrics
from .observability.call_metrics import MeteredCallStore
from .observability.engine_metrics import MeteredLanguageEngine
from .observability.metrics import PriceTable, count_repair
from .observability.redact import redact_text
from .ports import CallStore, HelpDesk, LanguageEngine, OutboxStore
from .settings import Settings
from .storage import SqlStores, create_engine, database_url, upgrade
from .telephony.router import Telephony
from .tickets.outbox import OutboxWorker


def policy_from_settings(settings: Settings) -> CallPolicy:
    return CallPolicy(
        helpdesk_name=settings.helpdesk_name,
        max_failed_answers=settings.max_failed_answers,
        max_silence_reprompts=settings.max_silence_reprompts,
        max_contact_attempts=settings.max_contact_attempts,
        always_human_topics=tuple(settings.always_human_topics),
        transfer_enabled=settings.transfer_enabled,
        collect_details_before_transfer=settings.collect_details_before_transfer,
        case_priority_escalated=settings.case_priority,
        case_priority_resolved=settings.case_priority_resolved,
        case_type=settings.case_type,
        case_for_resolved_calls=settings.case_for_resolved_calls,
        case_for_answered_calls=settings.case_for_answered_calls,
        case_number_group_size=settings.case_number_group_size,
        caller_id_trust=settings.caller_id_trust,
        caller_lookup_timeout_seconds=settings.caller_lookup_timeout_seconds,
        case_delivery_budget_seconds=settings.case_delivery_budget_seconds,
        answer_confirm=settings.kb_confirm,
        answer_confirm_band=settings.kb_confirm_band,
    )


def knowledge_from_settings(helpdesk: HelpDesk, settings: Settings) -> KnowledgeBase:
    """The help-center index with the configured embedder, fusion weight and answer gate."""
    gate = GateThresholds(
        answer=settings.kb_gate_answer,
        answer_disagree=settings.kb_gate_answer_disagree,
        margin=settings.kb_gate_margin,
        lexical_only=settings.kb_answer_threshold,
    )
    return KnowledgeBase(
        helpdesk,
        embedder=embedder_from_settings(settings) if settings.kb_semantic else None,
        answer_threshold=settings.kb_answer_threshold,
        gate=gate,
        lexical_weight=settings.kb_lexical_weight,
        refresh_seconds=settings.kb_refresh_seconds,
    )


def prices_from_settings(settings: Settings) -> PriceTable:
    """The configured provider prices for the engines that are remote; local engines cost nothing per call
    (deploy: kca report and kca_cost_usd_total no longer bill the local engines at OpenAI's prices)."""
    model = settings.llm_engine != "local"
    stt = settings.stt_engine != "local"
    tts = settings.tts_engine != "local"
    return PriceTable(
        model_input_per_million_tokens=settings.price_model_input_per_million_tokens if model else 0.0,
        model_output_per_million_tokens=settings.price_model_output_per_million_tokens if model else 0.0,
        stt_per_minute=settings.price_stt_per_minute if stt else 0.0,
        tts_per_million_characters=settings.price_tts_per_million_characters if tts else 0.0,
    )


def _observe_kayako(method: str, path: str, status: int, seconds: float) -> None:
    metrics.KAYAKO_REQUESTS.labels(method=method, path=path, status=str(status)).inc()
    metrics.KAYAKO_LATENCY.labels(method=method, path=path).observe(seconds)


@contextlib.asynccontextmanager
async def kayako_client(
    settings: Settings, *, base_url: str | None = None
) -> AsyncIterator[kayako.KayakoClient]:
    async with kayako.build_client(
        settings,
        base_url=base_url,
        on_request=_observe_kayako,
        on_rate_limit_wait=metrics.KAYAKO_RATE_LIMIT_WAIT.inc,
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def build_helpdesk(settings: Settings, *, base_url: str | None = None) -> AsyncIterator[HelpDesk]:
    """Kayako as the core sees it (the embedded mock when no base URL is configured)."""
    async with kayako_client(settings, base_url=base_url) as client:
        yield kayako.build_helpdesk(client, settings)


@dataclass(slots=True)
class Runtime:
    """Everything a running assistant (server, chat, tests) needs, built from one ``Settings``."""

    settings: Settings
    kayako: kayako.KayakoClient
    helpdesk: HelpDesk
    engine: LanguageEngine
    knowledge: KnowledgeBase
    stores: SqlStores
    calls: MeteredCallStore
    outbox_worker: OutboxWorker
    call_service: CallService


def outbox_worker_from_settings(
    settings: Settings,
    outbox: OutboxStore,
    helpdesk: HelpDesk,
    calls: CallStore,
    engine: LanguageEngine | None = None,
) -> OutboxWorker:
    """The case outbox worker (the server's, and `kca outbox requeue --now`'s)."""
    return OutboxWorker(
        outbox,
        helpdesk,
        calls,
        base_delay=settings.outbox_base_delay_seconds,
        max_delay=settings.outbox_max_delay_seconds,
        max_attempts=settings.outbox_max_attempts,
        lease_seconds=settings.outbox_lease_seconds,
        poll_seconds=settings.outbox_poll_seconds,
        anonymous_requester_email=settings.anonymous_requester_email or None,
        on_repair=count_repair,
        engine=engine,  # writes the case summaries the calls deferred
    )


@contextlib.asynccontextmanager
async def call_runtime(settings: Settings, *, kayako_base_url: str | None = None) -> AsyncIterator[Runtime]:
    """Open the migrated database, the Kayako client and the knowledge base; assemble the call service."""
    from .config_check import UnsafeConfiguration, admin_token_problem, static_problems

    # Staging and production fail closed: every unsafe setting is reported, nothing is opened.
    problems = static_problems(settings)
    if problems:
        raise UnsafeConfiguration(problems, settings.environment)
    engine = create_engine(database_url(settings))
    try:
        await upgrade(engine)
        admin = await admin_token_problem(settings, engine)
        if admin is not None:
            raise UnsafeConfiguration([admin], settings.environment)
        stores = SqlStores(engine, redact=redact_text if settings.redact_transcripts else None)
        async with kayako_client(settings, base_url=kayako_base_url) as client:
            helpdesk = kayako.build_helpdesk(client, settings)
            language = MeteredLanguageEngine(language_engine_from_settings(settings))
            knowledge = knowledge_from_settings(helpdesk, settings)
            await knowledge.sync()
            calls = MeteredCallStore(stores.calls, prices_from_settings(settings))
            worker = outbox_worker_from_settings(settings, stores.outbox, helpdesk, calls, language)
            service = CallService(
                helpdesk=helpdesk,
                engine=language,
                retriever=knowledge,
                calls=calls,
                outbox=stores.outbox,
                policy=policy_from_settings(settings),
                delivery=worker,
            )
            yield Runtime(
                settings=settings,
                kayako=client,
                helpdesk=helpdesk,
                engine=language,
                knowledge=knowledge,
                stores=stores,
                calls=calls,
                outbox_worker=worker,
                call_service=service,
            )
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def telephony_runtime(settings: Settings, runtime: Runtime) -> AsyncIterator[Telephony]:
    """The Twilio side: signatures, speech engines, voice activity detection and live-call control."""
    from .audio.endpointer import EndpointerConfig
    from .audio.vad import vad_from_settings
    from .session.call_session import SessionConfig
    from .session.speech_cache import SpeechCache
    from .session.turn_taking import TurnTakingConfig
    from .speech.engines import speech_to_text_from_settings, text_to_speech_from_settings
    from .speech.local_tts import LocalTextToSpeech
    from .telephony.call_control import TwilioCallControl
    from .telephony.signature import TwilioSignatures, auth_tokens
    from .telephony.stream_auth import InProcessUsedTokens, RedisUsedTokens, StreamTokens, UsedTokens
    from .telephony.transfer import validate_transfer_target
    from .telephony.twiml import whisper_url

    tokens = auth_tokens(
        settings.twilio_auth_token.get_secret_value(),
        settings.twilio_auth_token_secondary.get_secret_value(),
        production=settings.production_rules,
    )
    if settings.transfer_target:
        validate_transfer_target(settings.transfer_target)
    control: TwilioCallControl | None = None
    if settings.twilio_account_sid:
        control = TwilioCallControl(
            account_sid=settings.twilio_account_sid,
            auth_token=tokens[0],
            api_base_url=settings.twilio_api_base_url or None,
            target=settings.transfer_target,
            caller_id=settings.transfer_caller_id or None,
            workflow_sid=settings.transfer_workflow_sid or None,
            whisper_url_for=lambda case_id: whisper_url(settings.public_url, case_id),
        )
    tts = text_to_speech_from_settings(settings)
    used: UsedTokens = RedisUsedTokens(settings.redis_url) if settings.redis_url else InProcessUsedTokens()
    secret = settings.stream_secret.get_secret_value().encode("utf-8") or secrets.token_bytes(32)
    telephony = Telephony(
        service=runtime.call_service,
        calls=runtime.calls,
        signatures=TwilioSignatures(
            tokens, settings.public_url, trusted_proxies=settings.forwarded_allow_ips
        ),
        stt=speech_to_text_from_settings(settings),
        tts=tts,
        fallback_tts=None if isinstance(tts, LocalTextToSpeech) else LocalTextToSpeech(),
        vad=lambda: vad_from_settings(settings.vad_engine, settings.vad_aggressiveness),
        call_control=control,
        voice=SessionConfig(
            turn_taking=TurnTakingConfig(
                end_of_turn_ms=settings.end_of_turn_silence_ms,
                end_of_turn_spelling_ms=settings.end_of_turn_spelling_ms,
                end_of_turn_yes_no_ms=settings.end_of_turn_yes_no_ms,
                interrupt_min_speech_ms=settings.interrupt_min_speech_ms,
                interrupt_min_words=settings.interrupt_min_words,
            ),
            endpointer=EndpointerConfig(
                end_of_turn_silence_ms=settings.end_of_turn_silence_ms,
                min_speech_ms=settings.min_speech_ms,
                max_utterance_ms=int(settings.max_utterance_seconds * 1000),
            ),
            idle_timeout_seconds=settings.idle_timeout_seconds,
            filler_after_seconds=settings.filler_after_seconds,
            filler_text=settings.filler_text,
            playback_message_seconds=settings.playback_message_ms / 1000,
            playback_lead_seconds=settings.playback_lead_ms / 1000,
        ),
        public_url=settings.public_url,
        media_url=settings.media_url,
        speech_cache=SpeechCache(settings.speech_cache_mb * 1024 * 1024)
        if settings.speech_cache_mb
        else None,
        media_signatures=TwilioSignatures(
            tokens, settings.media_url, trusted_proxies=settings.forwarded_allow_ips
        )
        if settings.media_url
        else None,
        stream_tokens=StreamTokens(secret, used=used, ttl_seconds=settings.stream_token_ttl_seconds),
        mode=settings.twilio_mode,
        gather_voice=settings.gather_voice,
        transfer_target=settings.transfer_target,
        transfer_caller_id=settings.transfer_caller_id or None,
        transfer_workflow_sid=settings.transfer_workflow_sid or None,
        helpdesk_name=settings.helpdesk_name,
    )
    try:
        yield telephony
    finally:
        if control is not None:
            await control.aclose()
        if isinstance(used, RedisUsedTokens):
            await used.aclose()
