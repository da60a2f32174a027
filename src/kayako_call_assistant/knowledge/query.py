"""Cleaning speech-style queries before search: fillers, politeness, ASR noise tokens, repeated words."""

from __future__ import annotations

import re

_NOISE = re.compile(r"\[[a-z ]+\]|<unk>|<[a-z]+>", re.IGNORECASE)
# Longest phrases first, so "you know" goes before "know" could ever matter.
_FILLERS = sorted(
    [
        "um", "umm", "uh", "uhh", "er", "erm", "ah", "hmm", "mm", "you know", "i mean", "so yeah",
        "basically", "kind of", "sort of", "okay so", "ok so", "hi", "hello", "hey",
        "please", "thanks", "thank you", "can you tell me", "could you tell me", "i was wondering",
        "i'd like to know", "i would like to know", "i want to know", "yeah",
    ],
    key=len,
    reverse=True,
)  # fmt: skip
_FILLER = re.compile(r"\b(?:" + "|".join(re.escape(f) for f in _FILLERS) + r")\b", re.IGNORECASE)
_REPEAT = re.compile(r"\b(\w+)(?:\s+\1\b)+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def clean_query(text: str) -> str:
    """Keep the information words of what a caller said; never returns less than the input had to give."""
    cleaned = _NOISE.sub(" ", text)
    cleaned = _FILLER.sub(" ", cleaned)
    cleaned = _REPEAT.sub(r"\1", cleaned)
    cleaned = _SPACE.sub(" ", cleaned).strip(" ,.")
    return cleaned or _SPACE.sub(" ", _NOISE.sub(" ", text)).strip()
