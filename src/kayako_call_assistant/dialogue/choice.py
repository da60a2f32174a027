"""Which of the options the assistant named the caller picked: "the first one", "the second", "neither", or
words of one option's title ("the one about the reset email").

Ordinal words and title overlap are rules rather than a model: the caller answers a question that named
exactly two options, and the answer is short.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from rapidfuzz import fuzz

from .intents import normalize

NEITHER: Final = -1  # the caller wants none of the options

_ORDINALS = (
    re.compile(r"\b(?:first|1st|former|top|earlier|(?:number|option) one)\b"),
    re.compile(r"\b(?:second|2nd|latter|last|other|next|(?:number|option) two)\b"),
)
_NEITHER = re.compile(
    r"\b(?:neither|none|nothing like that|no(?:ne)? of (?:them|those|these)|not (?:really )?(?:either|"
    r"those|that)|something else|different)\b"
)
_STOP = frozenset(
    {"a", "an", "the", "to", "of", "in", "on", "for", "and", "or", "my", "your", "how", "i", "do", "does"}
    | {"is", "it", "about", "with", "from", "can", "what", "why", "when", "one", "where"}
)
_TITLE_MATCH = 60.0  # rapidfuzz token-set ratio from which the caller's words name a title
_TITLE_MARGIN = 10.0  # ... and by how much it must beat the other title


def _content(text: str) -> str:
    return " ".join(w for w in normalize(text).split() if w not in _STOP)


def choose(answer: str, titles: Sequence[str]) -> int | None:
    """The index in ``titles`` the caller picked, ``NEITHER``, or None when the answer does not say."""
    norm = normalize(answer)
    if not norm:
        return None
    if _NEITHER.search(norm):
        return NEITHER
    said = _content(answer)
    if said:
        scores = [fuzz.token_set_ratio(said, _content(title)) for title in titles]
        best = max(range(len(scores)), key=scores.__getitem__)
        others = [score for index, score in enumerate(scores) if index != best]
        if scores[best] >= _TITLE_MATCH and all(scores[best] - other >= _TITLE_MARGIN for other in others):
            return best
    # Title words take precedence: "the second one about the invoice" names the invoice title above.
    picked = [index for index, pattern in enumerate(_ORDINALS[: len(titles)]) if pattern.search(norm)]
    if len(picked) == 1 and len(norm.split()) <= 8:
        return picked[0]
    return None
