"""The speech engines the configuration asks for (called from ``wiring`` and the CLI)."""

from __future__ import annotations

import openai

from ..llm.openai_engine import client_from_settings
from ..ports import SpeechToText, TextToSpeech
from ..settings import Settings
from .load_test import InstantSpeechToText, ToneTextToSpeech
from .local_stt import HELP_DESK_PROMPT, LocalSpeechToText
from .local_tts import LocalTextToSpeech
from .openai_stt import OpenAISpeechToText
from .openai_tts import OpenAITextToSpeech


def _client(settings: Settings, timeout: float) -> openai.AsyncOpenAI:
    return client_from_settings(settings).with_options(timeout=timeout)


def speech_to_text_from_settings(settings: Settings, engine: str | None = None) -> SpeechToText:
    engine = engine or settings.stt_engine
    if engine == "openai":
        return OpenAISpeechToText(_client(settings, settings.stt_timeout_seconds), model=settings.stt_model)
    if engine == "instant":  # Settings refuses it outside development
        return InstantSpeechToText(settings.stt_instant_texts)
    # The help-desk prompt and a beam of 5 cut word errors on telephone audio from 57 % to 34 % at about the
    # same CPU per utterance (bench/stt_wer.py, docs/speech.md).
    return LocalSpeechToText(settings.stt_local_model_dir, beam_size=5, initial_prompt=HELP_DESK_PROMPT)


def text_to_speech_from_settings(settings: Settings, engine: str | None = None) -> TextToSpeech:
    engine = engine or settings.tts_engine
    if engine == "tone":  # Settings refuses it outside development
        return ToneTextToSpeech()
    if engine == "openai":
        return OpenAITextToSpeech(
            _client(settings, settings.tts_timeout_seconds),
            model=settings.tts_model,
            voice=settings.tts_voice,
        )
    return LocalTextToSpeech(settings.tts_local_voice, settings.tts_local_words_per_minute)
