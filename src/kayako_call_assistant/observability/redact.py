"""Removing callers' personal data from text before it reaches logs, error reports or stored transcripts.

Written here rather than taken from a library: the PII scrubbers on PyPI either pull in large NLP models
(presidio + spaCy) or do not Luhn-check card numbers; the patterns a phone help desk sees are few.

Attacker-controlled text reaches these patterns (a rejected webhook's ``CallSid``, a refused request's
path, a caller's words), so they run on RE2 (``google-re2``), whose matching time is linear in the input
whatever the pattern: Python's backtracking ``re`` took time quadratic in the input for the email
pattern, and one 1 MB field froze the process for minutes. RE2 has no look-around, so the boundaries the
old patterns checked with look-behind/look-ahead are a captured prefix and ``\\b`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..linear_re import Match as _Match
from ..linear_re import compile_linear as _compile

EMAIL = _compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# An email read out as words, the way transcripts write what callers say: "jane dot doe at gmail dot com".
_SPOKEN_EMAIL = _compile(
    r"\b[a-z0-9._%+\-]+(?: (?:dot|underscore|dash|hyphen) [a-z0-9]+)* at [a-z0-9\-]+(?: dot [a-z0-9\-]+)*"
    r" dot [a-z]{2,24}\b",
    ignore_case=True,
)
# Digit runs allowing the separators people and formatters put in phone and card numbers; a run right
# after a colon is the seconds of a timestamp, not a number to hide. Group 1 is the character before the
# run (kept), group 2 the run.
_DIGIT_RUN = _compile(r"(^|[^\w:])(\+?\d[\d\s\-().]{5,}\d)\b")
_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_DIGIT_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|\d)"
# Numbers read out digit by digit ("four one five, five five five ..."), as speech-to-text writes them;
# "double five" and "triple oh" are how people say repeated digits.
_SPOKEN_NUMBER = _compile(
    rf"\b(?:(?:double|triple)[ \-]?)?{_DIGIT_WORD}(?:[\s,.\-]+(?:(?:double|triple)[ \-]?)?{_DIGIT_WORD}){{6,}}\b",
    ignore_case=True,
)
_SEPARATORS = str.maketrans({",": " ", ".": " ", "-": " ", "\t": " ", "\n": " ", "\r": " "})

EMAIL_MARK = "[email]"
PHONE_MARK = "[phone]"
CARD_MARK = "[card]"
NUMBER_MARK = "[number]"

# Keys whose values are credentials: replaced whatever they hold.
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "api_key",
        "apikey",
        "auth_token",
        "session_id",
        "x-session-id",
        "x-csrf-token",
        "client_secret",
        "cookie",
        "dsn",
    }
)
SECRET_MARK = "[secret]"  # noqa: S105 - the marker that replaces secrets, not one


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mark_for(digits: str) -> str | None:
    """The marker for a run of ``digits``, or None when the run is too short to identify anyone."""
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return CARD_MARK
    if 7 <= len(digits) <= 15:
        return PHONE_MARK
    if len(digits) > 15:
        return NUMBER_MARK
    return None


def _classify(match: _Match) -> str:
    prefix, raw = match.group(1), match.group(2)
    mark = _mark_for("".join(char for char in raw if char.isdigit()))
    return prefix + (mark if mark is not None else raw)


def _spoken_digits(words: str) -> str:
    digits: list[str] = []
    repeat = 1
    # A plain split, not a pattern: the RE2 wrapper costs microseconds per match, and a 1 MB run of
    # digit words has a quarter of a million of them.
    for word in words.lower().translate(_SEPARATORS).split():
        if word == "double":
            repeat = 2
        elif word == "triple":
            repeat = 3
        elif word in _DIGIT_WORDS or word.isdigit():
            digits.append(_DIGIT_WORDS.get(word, word) * repeat)
            repeat = 1
    return "".join(digits)


def _classify_spoken(match: _Match) -> str:
    raw = match.group(0)
    mark = _mark_for(_spoken_digits(raw))
    return mark if mark is not None else raw


def redact_text(text: str) -> str:
    """Replace emails (written or spoken), phone numbers, Luhn-valid card numbers and other long digit
    runs (written or read out digit by digit) with markers. Linear in the length of ``text``."""
    if not text:
        return text
    # The cheap substring checks skip the patterns that cannot match, which is most lines.
    if "@" in text:
        text = EMAIL.sub(EMAIL_MARK, text)
    lowered = text.lower()
    if " at " in lowered and " dot " in lowered:
        text = _SPOKEN_EMAIL.sub(EMAIL_MARK, text)
    if any(char.isdigit() for char in text):
        text = _DIGIT_RUN.sub(_classify, text)
    return _SPOKEN_NUMBER.sub(_classify_spoken, text)


def redact_cards(text: str) -> str:
    """Replace only payment card numbers (written or spoken, Luhn-valid), leaving other numbers: card
    numbers must never leave the process (PCI), whatever the redaction setting."""
    if not text:
        return text

    def written(match: _Match) -> str:
        prefix, raw = match.group(1), match.group(2)
        mark = _mark_for("".join(char for char in raw if char.isdigit()))
        return prefix + (CARD_MARK if mark == CARD_MARK else raw)

    def spoken(match: _Match) -> str:
        mark = _mark_for(_spoken_digits(match.group(0)))
        return CARD_MARK if mark == CARD_MARK else match.group(0)

    return _SPOKEN_NUMBER.sub(spoken, _DIGIT_RUN.sub(written, text))


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact a log field recursively; values under credential-like keys are replaced entirely."""
    if key is not None and key.lower() in SECRET_KEYS and value not in (None, ""):
        return SECRET_MARK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value
