"""The speech cache: a sentence said before is sent again without synthesis, as the same audio at the same
pace; a sentence is kept as soon as its synthesis is whole (before it has been played out), and not when
the caller cut in before it was; the cache is bounded in bytes, least recently used out."""

from __future__ import annotations

import asyncio

import pytest
from session_support import FarEnd

from kayako_call_assistant.domain import Usage
from kayako_call_assistant.fakes.speech import ToneTextToSpeech
from kayako_call_assistant.session.playback import AudioPlayback
from kayako_call_assistant.session.speech_cache import SpeechCache

pytestmark = pytest.mark.looptime


class _Recording(FarEnd):
    """The far end, also keeping every audio message's bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.audio: list[bytes] = []

    async def send_audio(self, ulaw: bytes) -> None:
        self.audio.append(ulaw)
        await super().send_audio(ulaw)


async def _say(
    far: _Recording, tts: ToneTextToSpeech, cache: SpeechCache, text: str, *, cut_at: float = 0.0
) -> None:
    playback = AudioPlayback(
        transport=far, tts=tts, fallback_tts=None, usage=Usage(), cache=cache, clock=far.loop.time
    )
    playback.start()
    playback.say(text, reply=1)
    for step in range(200):  # 4 s of 20 ms steps: every sentence here is shorter
        await asyncio.sleep(0.02)
        for name in far.take_marks():
            playback.mark_reached(name)
        if cut_at and step * 0.02 >= cut_at:
            playback.interrupt()
            break
        if not playback.speaking:
            break
    await playback.close()


async def test_a_sentence_said_before_is_sent_again_without_synthesis_at_the_same_pace() -> None:
    tts = ToneTextToSpeech(sample_rate=22050, seconds_per_character=0.05)
    cache = SpeechCache(1 << 20)
    far = _Recording()
    await _say(far, tts, cache, "Thanks for calling Acme.")
    first, far.audio = b"".join(far.audio), []
    played_first = far.timeline.assistant_seconds(0, far.loop.time())
    await _say(far, tts, cache, "Thanks for calling Acme.")
    far.stop()
    assert tts.texts == ["Thanks for calling Acme."]  # synthesized once
    assert b"".join(far.audio) == first and len(first) % 160 == 0
    assert len(cache) == 1 and cache.size_bytes == len(first)
    played_both = far.timeline.assistant_seconds(0, far.loop.time())
    assert played_both == pytest.approx(2 * played_first, rel=0.02)  # paced as before, not dumped at once


async def test_a_sentence_cut_off_before_its_synthesis_was_whole_is_not_kept() -> None:
    # A streaming voice: 100 ms of audio every 100 ms, so at 0.5 s half the sentence is not made yet.
    tts = ToneTextToSpeech(sample_rate=8000, seconds_per_character=0.05, chunk_delay_seconds=0.1)
    cache = SpeechCache(1 << 20)
    far = _Recording()
    await _say(far, tts, cache, "A sentence long enough to be interrupted half way.", cut_at=0.5)
    far.stop()
    assert len(cache) == 0


async def test_a_sentence_is_kept_once_synthesized_so_a_second_caller_gets_it_while_it_still_plays() -> None:
    # Two calls asking the same thing a second apart: the second is not synthesized again although the
    # first is still playing its (2.5 s) sentence; a sentence cut only after its synthesis was whole is
    # complete audio, and kept.
    text = "A sentence long enough to be interrupted half way."
    tts = ToneTextToSpeech(sample_rate=22050, seconds_per_character=0.05)
    cache = SpeechCache(1 << 20)
    first, second = _Recording(), _Recording()
    saying = asyncio.create_task(_say(first, tts, cache, text, cut_at=1.5))
    await asyncio.sleep(1.0)
    assert len(cache) == 1
    await _say(second, tts, cache, text)
    await saying
    first.stop()
    second.stop()
    assert tts.texts == [text]  # synthesized once
    assert b"".join(second.audio) == cache.get("tone", text)
    assert len(b"".join(first.audio)) < len(b"".join(second.audio))  # the first caller cut it short


def test_the_cache_is_bounded_in_bytes_least_recently_used_out() -> None:
    cache = SpeechCache(1000)
    cache.put("tone", "a", b"\xff" * 400)
    cache.put("tone", "b", b"\xff" * 400)
    assert cache.get("tone", "a") is not None  # now b is the least recently used
    cache.put("tone", "c", b"\xff" * 400)
    assert cache.get("tone", "b") is None and cache.get("tone", "a") is not None
    assert cache.get("other-engine", "a") is None  # another voice's audio is not this one's
    cache.put("tone", "huge", b"\xff" * 5000)  # larger than the whole cache: not kept
    assert cache.get("tone", "huge") is None and cache.size_bytes == 800
