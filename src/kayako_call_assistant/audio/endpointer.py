"""End-of-turn detection: turns per-frame voice activity into "the caller started talking" and "the caller
finished an utterance", with a minimum speech length so coughs and clicks count as neither."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from .native import audioop
from .vad import FRAME_MS, VoiceActivityDetector

# Voice activity detectors keep saying "speech" for a while after the voice stops (WebRTC VAD for 100 ms
# and more): counted from there, the end of a turn would come that much late. The silence before the end
# of a turn is therefore counted from the last voiced frame that is also loud, within this many dB of the
# utterance's loudest frame.
_TRAILING_EDGE_DB = 25.0
_TRAILING_EDGE_RATIO = 10 ** (-_TRAILING_EDGE_DB / 10)


def frame_energy(frame: bytes) -> float:
    return float(audioop.rms(frame, 2)) ** 2


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Enough speech to be sure the caller is talking (the moment barge-in acts on)."""


@dataclass(frozen=True, slots=True)
class UtteranceEnded:
    """A finished utterance: its audio (with a little lead-in) and how much of it was speech."""

    pcm16: bytes
    speech_ms: int
    trailing_silence_ms: int  # how long after the last speech frame the end was declared


EndpointEvent = SpeechStarted | UtteranceEnded
_NO_EVENTS: tuple[EndpointEvent, ...] = ()  # what nearly every frame completes: shared, not a new list each


@dataclass(frozen=True, slots=True)
class EndpointerConfig:
    end_of_turn_silence_ms: int = 500  # the starting value; the session adapts it turn by turn
    min_speech_ms: int = 200
    max_utterance_ms: int = 30_000
    lead_in_ms: int = 200  # audio kept from before the first voiced frame, so a soft onset is not clipped


class Endpointer:
    """Feed it 20 ms frames in order; it returns the events each frame completes.

    ``in_speech`` and ``hearing`` are plain attributes kept current by ``push`` rather than properties: the
    session reads both after every frame, fifty times a second per call.
    """

    def __init__(self, vad: VoiceActivityDetector, config: EndpointerConfig) -> None:
        self._vad = vad
        self._config = config
        self._lead_in: deque[bytes] = deque(maxlen=max(1, config.lead_in_ms // FRAME_MS))
        self._frames: list[bytes] = []
        self._voiced_ms = 0
        self._silence_ms = 0
        self._elapsed_ms = 0
        self._peak_energy = 0.0
        self._end_of_turn_ms = config.end_of_turn_silence_ms
        # The caller is talking now (confirmed speech, end of turn not reached yet).
        self.in_speech = False
        # Voice has been heard and its fate is open: not yet a finished utterance, not yet dismissed as
        # noise. A reply must not start now (it could talk over the start of a sentence).
        self.hearing = False

    @property
    def speech_ms(self) -> int:
        """How long the caller has been talking in the utterance in progress: from its first voiced frame
        to its last loud one (the detector's hangover after the voice stops is not counted); 0 between
        utterances."""
        if not self.hearing:
            return 0
        return max(0, self._elapsed_ms - self._silence_ms)

    @property
    def end_of_turn_ms(self) -> int:
        return self._end_of_turn_ms

    def set_end_of_turn_ms(self, milliseconds: int) -> None:
        """Adapt the end-of-turn silence to what the caller is about to say (spelling needs longer pauses);
        applies from the next frame, also to the utterance in progress."""
        self._end_of_turn_ms = max(FRAME_MS, milliseconds)

    def push(self, frame: bytes) -> Sequence[EndpointEvent]:
        voiced = self._vad.is_speech(frame)
        if not self.hearing:
            if not voiced:
                self._lead_in.append(frame)
                return _NO_EVENTS
            self.hearing = True
            self._frames = [*self._lead_in, frame]
            self._elapsed_ms = FRAME_MS
            self._lead_in.clear()
            self._voiced_ms, self._silence_ms = FRAME_MS, 0
            self._peak_energy = frame_energy(frame)
        else:
            self._frames.append(frame)
            self._elapsed_ms += FRAME_MS
            energy = frame_energy(frame) if voiced else 0.0
            self._peak_energy = max(self._peak_energy, energy)
            if voiced:
                self._voiced_ms += FRAME_MS
            if voiced and energy >= self._peak_energy * _TRAILING_EDGE_RATIO:
                self._silence_ms = 0
            else:
                self._silence_ms += FRAME_MS
        config = self._config
        if not self.in_speech:
            if self._voiced_ms >= config.min_speech_ms:
                self.in_speech = True
                return (SpeechStarted(),)
            if self._silence_ms >= self._end_of_turn_ms:
                self._reset()  # too little speech before the pause: noise, not a turn
            return _NO_EVENTS
        too_long = len(self._frames) * FRAME_MS >= config.max_utterance_ms
        if self._silence_ms >= self._end_of_turn_ms or too_long:
            ended = UtteranceEnded(
                b"".join(self._frames), self._voiced_ms, trailing_silence_ms=self._silence_ms
            )
            self._reset()
            return (ended,)
        return _NO_EVENTS

    def _reset(self) -> None:
        self._frames = []
        self._voiced_ms = self._silence_ms = 0
        self._peak_energy = 0.0
        self.in_speech = False
        self.hearing = False
