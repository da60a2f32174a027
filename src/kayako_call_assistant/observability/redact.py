"""Removing callers' personal data from text before it reaches logs, error reports or stored transcripts.

Written here rather than taken from a library: the PII scrubbers on PyPI either pull in large NLP models
(presidio + spaCy) or do not Luhn-check card numbers; the patterns a phone help desk sees are few.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# Digit runs allowing the separators people and formatters put in phone and card numbers; a run right
# after a colon is the seconds of a timestamp, not a number to hide.
_DIGIT_RUN = re.compile(r"(?<![\w:])\+?\d(?:[\d\s\-().]{5,}\d)(?![\w])")

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


def _classify(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return CARD_MARK
    if 7 <= len(digits) <= 15:
        return PHONE_MARK
    if len(digits) > 15:
        return NUMBER_MARK
    return raw


def redact_text(text: str) -> str:
    """Replace emails, phone numbers, Luhn-valid card numbers and other long digit runs with markers."""
    if not text:
        return text
    text = EMAIL.sub(EMAIL_MARK, text)
    return _DIGIT_RUN.sub(_classify, text)


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
