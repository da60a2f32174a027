"""The turn-taking rules, as pure functions of what was heard and when (no I/O, no clock of their own).

``CallSession`` applies them to a live call; each rule is described in docs/call-flow.md ("Call session")
with the settings that tune it:

- end of turn: the silence that ends the caller's turn depends on what the flow asked for: longer while
  the caller spells an email or reads digits, shorter after a yes/no question (``end_of_turn_ms``);
- interruption: caller speech over the assistant stops it only after ``interrupt_min_speech_ms`` of speech,
  or sooner when it is recognised as words that are not a backchannel (``is_interruption``);
- false interruption: speech that stopped the assistant but turns out to be no words, or only a
  backchannel ("uh-huh", "okay", "right", "mm-hmm"), resumes the interrupted sentence (``is_interruption``
  is False for it);
- hold: a reply is not started while the caller is talking (``may_speak``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_BACKCHANNELS = frozenset(
    {
        "uh-huh",
        "uh huh",
        "uhhuh",
        "mhm",
        "mm-hmm",
        "mm hmm",
        "mmhmm",
        "hmm",
        "mm",
        "okay",
        "ok",
        "right",
        "yeah",
        "yep",
        "sure",
        "alright",
        "all right",
        "i see",
        "got it",
        "uh",
        "um",
        "ah",
        "oh",
    }
)

# A transcript is compared by its words only: punctuation and case carry nothing here. Linear: one
# character class, no nesting.
_NOT_WORD = re.compile(r"[^a-z0-9' -]+")


@dataclass(frozen=True, slots=True)
class TurnTakingConfig:
    end_of_turn_ms: int = 500  # the default silence that ends the caller's turn
    end_of_turn_spelling_ms: int = 1200  # while the flow waits for an email, a phone number or digits
    end_of_turn_yes_no_ms: int = 400  # after a yes/no question
    interrupt_min_speech_ms: int = 400  # caller speech over the assistant this long stops it
    interrupt_min_words: int = 1  # recognised words (not backchannel) that stop it even when shorter
    backchannels: frozenset[str] = field(default_factory=lambda: DEFAULT_BACKCHANNELS)


# What the flow expects next (``CallHandler.expects``) -> which end-of-turn window applies.
_SPELLING = frozenset({"email", "phone", "digits"})


def end_of_turn_ms(config: TurnTakingConfig, expects: str | None) -> int:
    """The silence that ends the caller's next turn, given what the flow has just asked for."""
    if expects in _SPELLING:
        return config.end_of_turn_spelling_ms
    if expects == "yes_no":
        return config.end_of_turn_yes_no_ms
    return config.end_of_turn_ms


def normalize(text: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def is_backchannel(text: str, config: TurnTakingConfig) -> bool:
    """Only acknowledgement sounds ("uh-huh", "okay, right"): the caller is listening, not taking a turn."""
    words = normalize(text)
    if not words:
        return False
    if words in config.backchannels:
        return True
    parts = [part.strip() for part in re.split(r"[,.!?;]+", text.lower()) if part.strip()]
    return len(parts) > 1 and all(normalize(part) in config.backchannels for part in parts)


def is_interruption(text: str, config: TurnTakingConfig) -> bool:
    """Whether what the caller said over the assistant takes the turn: words, and not just a backchannel.
    False for no words at all (noise the recogniser heard nothing in) — a false interruption."""
    words = normalize(text).split()
    if len(words) < max(1, config.interrupt_min_words):
        return False
    return not is_backchannel(text, config)


def pauses_assistant(speech_ms: int, config: TurnTakingConfig) -> bool:
    """Caller speech over the assistant long enough to stop its audio now (before any words are known)."""
    return speech_ms >= config.interrupt_min_speech_ms


def may_speak(*, caller_voice_pending: bool, caller_turn_pending: bool) -> bool:
    """A reply (or the filler) may start playing only when the caller is not talking and has no turn waiting
    to be transcribed: otherwise it would talk over them or answer half a sentence."""
    return not (caller_voice_pending or caller_turn_pending)
