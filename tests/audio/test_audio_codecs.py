"""μ-law against G.711 reference values, resampling against aliasing, VAD and end-of-turn detection."""

from __future__ import annotations

import io
import math
import wave

import numpy as np
import pytest

from kayako_call_assistant.audio.endpointer import Endpointer, EndpointerConfig, SpeechStarted, UtteranceEnded
from kayako_call_assistant.audio.mulaw import pcm16_to_ulaw, ulaw_to_pcm16
from kayako_call_assistant.audio.pcm import StreamResampler, resample
from kayako_call_assistant.audio.vad import FRAME_BYTES, SileroVad, WebRtcVad
from kayako_call_assistant.audio.wav import read_wav, wav_bytes


def pcm(samples: np.ndarray) -> bytes:
    return np.asarray(samples, dtype="<i2").tobytes()


def tone(freq: float, seconds: float, rate: int, amplitude: float = 12000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return pcm(np.sin(2 * math.pi * freq * t) * amplitude)


def rms(data: bytes) -> float:
    samples = np.frombuffer(data, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


# --- μ-law ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "code"),
    [(0, 0xFF), (-1, 0x7E), (32767, 0x80), (-32768, 0x00), (1000, 0xCE), (-1000, 0x4E), (100, 0xF2)],
)
def test_mulaw_encodes_g711_reference_values(sample: int, code: int) -> None:
    assert pcm16_to_ulaw(pcm(np.array([sample]))) == bytes([code])


@pytest.mark.parametrize(
    ("code", "sample"), [(0xFF, 0), (0x7F, 0), (0x80, 32124), (0x00, -32124), (0xCE, 988)]
)
def test_mulaw_decodes_g711_reference_values(code: int, sample: int) -> None:
    assert np.frombuffer(ulaw_to_pcm16(bytes([code])), dtype="<i2")[0] == sample


def test_mulaw_round_trip_error_stays_within_the_quantisation_step() -> None:
    samples = np.arange(-32768, 32768, 7, dtype=np.int32)
    decoded = np.frombuffer(ulaw_to_pcm16(pcm16_to_ulaw(pcm(samples))), dtype="<i2").astype(np.int32)
    # G.711 steps grow with magnitude: at most 1/16 of the value (plus the bias near zero).
    assert np.all(np.abs(decoded - samples) <= np.abs(samples) / 16 + 33)


def test_every_code_decodes_to_a_value_that_encodes_back_to_itself() -> None:
    codes = bytes(range(256))
    again = pcm16_to_ulaw(ulaw_to_pcm16(codes))
    # 0x7F and 0xFF are both zero; every other code is its own round trip.
    assert [a for a, b in zip(again, codes, strict=True) if a != b] in ([], [0xFF])


# --- resampling -------------------------------------------------------------------------------------


def test_downsampling_removes_tones_above_the_new_nyquist_instead_of_folding_them() -> None:
    # 5 kHz at 24 kHz is above the 4 kHz Nyquist limit of 8 kHz telephone audio: a plain decimator would
    # fold it to 3 kHz at full strength; a real low-pass filter removes it.
    out = resample(tone(5000, 1.0, 24000), 24000, 8000)
    kept = resample(tone(1000, 1.0, 24000), 24000, 8000)
    assert rms(out) < 0.01 * rms(kept)
    assert rms(kept) > 0.6 * 12000


def test_resampling_keeps_duration_and_frequency() -> None:
    out = np.frombuffer(resample(tone(440, 1.0, 22050), 22050, 8000), dtype="<i2").astype(np.float64)
    assert abs(out.size - 8000) <= 2
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 8000 / out.size - 440) < 2


def test_streamed_resampling_matches_the_whole_clip_and_tolerates_odd_chunk_sizes() -> None:
    clip = tone(700, 0.5, 24000)
    stream = StreamResampler(24000, 8000)
    pieces = [stream.push(clip[i : i + 1001]) for i in range(0, len(clip), 1001)]
    pieces.append(stream.push(b"", last=True))
    streamed = b"".join(pieces)
    assert abs(len(streamed) - len(clip) // 3) <= 4
    assert abs(rms(streamed) - rms(resample(clip, 24000, 8000))) < 0.02 * rms(clip)


def test_wav_round_trip_and_stereo_mixdown() -> None:
    mono = tone(300, 0.1, 8000)
    assert read_wav(wav_bytes(mono, 8000)) == (mono, 8000)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm(np.array([1000, 3000, -200, -400])))
    assert read_wav(buffer.getvalue()) == (pcm(np.array([2000, -300])), 16000)


# --- voice activity and end of turn -------------------------------------------------------------------


def speechlike(seconds: float) -> bytes:
    """A voiced, vowel-like signal (harmonics of 150 Hz with a syllable rhythm) at 8 kHz."""
    t = np.arange(int(seconds * 8000)) / 8000
    voice = sum(np.sin(2 * math.pi * 150 * k * t) / k for k in range(1, 12))
    envelope = 0.6 + 0.4 * np.sin(2 * math.pi * 4 * t)
    return pcm(voice * envelope * 6000)


def frames(data: bytes) -> list[bytes]:
    return [data[i : i + FRAME_BYTES] for i in range(0, len(data) - FRAME_BYTES + 1, FRAME_BYTES)]


@pytest.mark.parametrize("vad_factory", [lambda: WebRtcVad(2), SileroVad], ids=["webrtc", "silero"])
def test_vad_tells_speech_from_silence(vad_factory: object) -> None:
    vad = vad_factory()  # type: ignore[operator]
    silence = [vad.is_speech(f) for f in frames(bytes(8000 * 2))]
    assert not any(silence)
    if isinstance(vad, WebRtcVad):
        voiced = [vad.is_speech(f) for f in frames(speechlike(1.0))]
        assert sum(voiced) > 0.8 * len(voiced)


class ScriptedVad:
    """Frame-level decisions from a string: '1' speech, '0' silence (the endpointer's own logic under test)."""

    def __init__(self, pattern: str) -> None:
        self.decisions = iter(pattern)

    def is_speech(self, frame: bytes) -> bool:
        return next(self.decisions) == "1"


def run_endpointer(pattern: str, config: EndpointerConfig) -> list[tuple[int, object]]:
    endpointer = Endpointer(ScriptedVad(pattern), config)
    frame = bytes(FRAME_BYTES)
    return [(i, event) for i in range(len(pattern)) for event in endpointer.push(frame)]


def test_end_of_turn_comes_after_the_configured_silence() -> None:
    config = EndpointerConfig(end_of_turn_silence_ms=400, min_speech_ms=200)
    events = run_endpointer("0" * 5 + "1" * 30 + "0" * 30, config)
    kinds = [(i, type(e).__name__) for i, e in events]
    # speech confirmed after 10 voiced frames (200 ms); ended 20 silent frames (400 ms) after the last one
    assert kinds == [(14, "SpeechStarted"), (54, "UtteranceEnded")]
    ended = events[1][1]
    assert isinstance(ended, UtteranceEnded)
    assert ended.speech_ms == 600 and ended.trailing_silence_ms == 400
    # the audio carries the lead-in before the first voiced frame
    assert len(ended.pcm16) == (5 + 30 + 20) * FRAME_BYTES


def test_a_cough_is_not_a_turn() -> None:
    config = EndpointerConfig(end_of_turn_silence_ms=400, min_speech_ms=200)
    assert run_endpointer("0" * 5 + "1" * 6 + "0" * 40, config) == []


def test_short_pauses_inside_an_utterance_do_not_end_it() -> None:
    config = EndpointerConfig(end_of_turn_silence_ms=400, min_speech_ms=200)
    events = run_endpointer("1" * 15 + "0" * 10 + "1" * 15 + "0" * 25, config)
    assert [type(e) for _, e in events] == [SpeechStarted, UtteranceEnded]


def test_a_very_long_utterance_is_cut_at_the_maximum() -> None:
    config = EndpointerConfig(end_of_turn_silence_ms=400, min_speech_ms=200, max_utterance_ms=1000)
    events = run_endpointer("1" * 120, config)
    assert [type(e) for _, e in events].count(UtteranceEnded) == 2


def test_silence_is_counted_from_the_last_loud_frame_not_the_vads_hangover() -> None:
    # The VAD keeps saying "speech" for 6 frames after the voice stops; those frames are nearly silent.
    loud = tone(300, 0.02, 8000)
    quiet = pcm(np.full(160, 3))
    config = EndpointerConfig(end_of_turn_silence_ms=400, min_speech_ms=200)
    endpointer = Endpointer(ScriptedVad("1" * 30 + "1" * 6 + "0" * 30), config)
    events = [(i, e) for i, f in enumerate([loud] * 30 + [quiet] * 36) for e in endpointer.push(f)]
    ended = [(i, e) for i, e in events if isinstance(e, UtteranceEnded)]
    assert len(ended) == 1
    index, event = ended[0]
    assert index == 29 + 20  # 400 ms after the last loud frame, not after the hangover
    assert isinstance(event, UtteranceEnded) and event.trailing_silence_ms == 400
