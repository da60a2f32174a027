"""Telephone audio of sentences already spoken, shared by every call of the process.

A help desk's assistant says the same sentences over and over: the greeting, "Did that solve it?", the
filler, the scope statement, and the answers of the articles callers ask about most. Synthesizing one
costs the speech engine's time (eSpeak NG, Piper: tens of milliseconds of CPU a sentence; a cloud voice: a
round trip and its price), and every second of it is then resampled to 8 kHz and μ-law encoded. The cache
keeps the finished 8 kHz μ-law of whole sentences, by engine and text, so a sentence said before is sent
without either. Only sentences synthesized to the end are kept (a cut-off one is incomplete), and the
cache is bounded in bytes (least recently used first out): 64 MB hold about 2 hours of speech.

Written here rather than with ``functools.lru_cache`` or ``cachetools``: the bound is on bytes, not entries,
and entries are added after the fact (when a sentence has finished), not by wrapping a function.
"""

from __future__ import annotations

from collections import OrderedDict

from ..observability.metrics import SPEECH_CACHE


class SpeechCache:
    """μ-law 8 kHz audio by (engine name, sentence). Used from the event loop only (no lock)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._bytes = 0

    def get(self, engine: str, text: str) -> bytes | None:
        """The sentence's audio if it was kept (counted as a hit or a miss)."""
        key = (engine, text)
        audio = self._entries.get(key)
        if audio is None:
            SPEECH_CACHE.labels(result="miss").inc()
            return None
        self._entries.move_to_end(key)
        SPEECH_CACHE.labels(result="hit").inc()
        return audio

    def put(self, engine: str, text: str, ulaw: bytes) -> None:
        """Keep a whole sentence's audio; the least recently used go first when the bound is passed."""
        if not ulaw or len(ulaw) > self.max_bytes:
            return
        key = (engine, text)
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._bytes -= len(previous)
        self._entries[key] = ulaw
        self._bytes += len(ulaw)
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
