"""Garbage collection off the audio path: tune the collector at start-up and measure its pauses.

One event loop carries every call's audio, so a collection stops all of them at once: a full collection of
a large heap (140–240 ms measured at 200 calls) makes every call's audio late together. The start-up heap
(modules, the help-center index, the language engine's tables) never becomes garbage, so it is frozen out of
the collector's reach, and young collections run less often. Pauses are timed with ``gc.callbacks`` and
exported as ``kca_gc_pause_seconds``.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

# Collect the young generation after this many net allocations instead of 700: fewer, slightly longer young
# collections (each is proportional to what survives, which for a call's short-lived frames is little), and
# the older generations after 20 and 20 of those (instead of 10 and 10).
THRESHOLDS = (10_000, 20, 20)

GC_PAUSE = Histogram(
    "kca_gc_pause_seconds",
    "Garbage-collection pauses of the server process, by generation.",
    ["generation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
)


def tune_gc() -> None:
    """Collect once, freeze what survived start-up and raise the thresholds. Call it when the server is
    built, just before it accepts connections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


class GcPauses:
    """Times every collection of this process from ``gc.callbacks`` (installed by ``install``)."""

    def __init__(self) -> None:
        self._started = 0.0
        self.reset()
        self._observers = [GC_PAUSE.labels(generation=str(g)) for g in range(3)]

    def reset(self) -> None:
        self.collections = [0, 0, 0]
        self.max_seconds = [0.0, 0.0, 0.0]
        self.total_seconds = 0.0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = int(info["generation"])
        self.collections[generation] += 1
        self.total_seconds += seconds
        self.max_seconds[generation] = max(self.max_seconds[generation], seconds)
        self._observers[generation].observe(seconds)

    def snapshot(self) -> dict[str, Any]:
        return {
            "collections": list(self.collections),
            "max_pause_ms": [round(s * 1000, 3) for s in self.max_seconds],
            "total_pause_ms": round(self.total_seconds * 1000, 3),
            "thresholds": list(gc.get_threshold()),
            "frozen_objects": gc.get_freeze_count(),
        }
