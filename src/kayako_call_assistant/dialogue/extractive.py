"""Answers and case summaries made only of what was written or said, for the engine without a model.

An answer is the passage sentences that share the most words with the question, in the passage's own
order (so steps stay in sequence), made speakable and cut to the spoken limits. Word overlap on crude
stems is enough here: the passages were already ranked by the retriever; this only picks sentences.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from ..domain import CaseSummary, DialogueContext, Intent, Passage, Speaker, Turn
from .intents import classify
from .speech_text import limit_spoken, sentences, speakable

NOT_FOUND = "I couldn't find that in our help center."
_STEP = re.compile(r"^(?:Then|Next|After that|Finally),")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "i",
        "me",
        "my",
        "you",
        "your",
        "we",
        "our",
        "they",
        "their",
        "he",
        "she",
        "his",
        "her",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "should",
        "will",
        "how",
        "what",
        "why",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "there",
        "here",
        "not",
        "no",
        "yes",
        "so",
        "as",
        "about",
        "into",
        "than",
        "then",
        "too",
        "very",
        "just",
        "also",
        "get",
        "got",
        "have",
        "has",
        "had",
        "am",
        "im",
        "i'm",
        "ive",
        "i've",
        "dont",
        "don't",
        "cant",
        "can't",
        "won't",
        "isnt",
        "isn't",
        "please",
        "want",
        "need",
        "like",
        "help",
    ]
)
_SUBJECT_MAX = 80
_SUMMARY_MAX_CHARS = 600
_SUBSTANTIVE = frozenset({Intent.QUESTION, Intent.CASE_STATUS, Intent.OUT_OF_SCOPE})


def _stems(text: str) -> set[str]:
    # Six leading letters merge most inflections ("resetting"/"reset", "passwords"/"password").
    return {w[:6] for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS and len(w) > 2}


def _score(question: set[str], sentence: str) -> float:
    words = _stems(sentence)
    if not words:
        return 0.0
    return len(question & words) / math.sqrt(len(words))


def _first_procedure(spoken: list[str]) -> list[int]:
    """Indexes of the first run of steps ("First, …", "Then, …", … as ``speakable`` words list items)."""
    start = next((i for i, s in enumerate(spoken) if s.startswith("First,")), None)
    if start is None:
        return []
    end = start + 1
    while end < len(spoken) and _STEP.match(spoken[end]):
        end += 1
    return list(range(start, end))


def extractive_answer(
    question: str, passages: Sequence[Passage], *, max_sentences: int = 3, max_words: int = 60
) -> list[str]:
    """The spoken answer's sentences, taken from ``passages`` (best passage first)."""
    if not passages:
        return [NOT_FOUND]
    asked = _stems(question)
    best = max(
        passages[:3],
        key=lambda p: (
            sum(_score(asked, s) for s in sentences(speakable(p.text))) + (2.0 if p is passages[0] else 0.0)
        ),
    )
    spoken = sentences(speakable(best.text))
    if not spoken:
        return [NOT_FOUND]
    scores = [_score(asked, s) for s in spoken]
    steps = _first_procedure(spoken)
    if steps:
        # A procedure: its steps in order, introduced by the sentence before them when that one is relevant.
        lead = [steps[0] - 1] if steps[0] > 0 and scores[steps[0] - 1] > 0 else []
        chosen = lead + steps
    else:
        ranked = sorted(range(len(spoken)), key=lambda i: (-scores[i], i))
        chosen = sorted(i for i in ranked[:max_sentences] if scores[i] > 0) or list(
            range(min(2, len(spoken)))
        )
    text = limit_spoken(" ".join(spoken[i] for i in chosen), max_sentences=max_sentences, max_words=max_words)
    return sentences(text)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


def summarize_turns(transcript: Sequence[Turn]) -> CaseSummary:
    """Subject from the caller's first substantive turn (≤ 80 characters); summary from the caller's turns."""
    context = DialogueContext(state="summary")
    caller = [t.text.strip() for t in transcript if t.speaker is Speaker.CALLER and t.text.strip()]
    substantive = [
        text for text in caller if classify(text, context).intent in _SUBSTANTIVE and len(text.split()) >= 3
    ]
    if not substantive:
        substantive = [text for text in caller if len(text.split()) >= 3] or caller
    if not substantive:
        return CaseSummary(subject="Phone call", summary="The caller did not describe an issue.")
    subject = _clip(re.sub(r"\s+", " ", substantive[0]).rstrip(".?! "), _SUBJECT_MAX)
    subject = subject[0].upper() + subject[1:]
    said = " ".join(t if t[-1] in ".?!" else t + "." for t in substantive)
    return CaseSummary(subject=subject, summary=_clip(f"The caller said: {said}", _SUMMARY_MAX_CHARS))
