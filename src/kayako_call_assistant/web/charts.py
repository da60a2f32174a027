"""Geometry of the dashboard's per-day charts, drawn by the templates as inline SVG.

Hand-written rather than a charting library: the page must work without JavaScript from a CDN or a build
step and under a strict Content-Security-Policy, and a bar per day with a labelled axis is a few lines of
arithmetic. Every chart has a text table beside it for screen readers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 320
HEIGHT = 120
_TOP = 16  # room for the maximum's label
_BOTTOM = 18  # room for the day labels


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the day, e.g. "03-14"
    value_text: str  # the value as shown in the tooltip
    series: int = 0  # 0: first series, 1: second (p95 over p50)


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    bars: list[Bar]
    max_text: str
    day_labels: list[tuple[float, str]]  # x and text, every few days
    width: int = WIDTH
    height: int = HEIGHT
    baseline: float = HEIGHT - _BOTTOM


def bar_chart(
    title: str,
    days: Sequence[str],
    series: Sequence[Sequence[float | None]],
    fmt: Callable[[float], str],
    ceiling: float | None = None,
) -> Chart:
    """Bars per day; with two series each day's bars sit side by side. ``None`` values draw nothing."""
    values = [v for s in series for v in s if v is not None]
    top = ceiling if ceiling is not None else max(values, default=0.0)
    top = top or 1.0
    slot = WIDTH / max(1, len(days))
    width = slot * 0.8 / len(series)
    usable = HEIGHT - _TOP - _BOTTOM
    bars: list[Bar] = []
    for index, day in enumerate(days):
        for number, values_of in enumerate(series):
            value = values_of[index]
            if value is None:
                continue
            height = max(1.0, usable * value / top) if value > 0 else 0.0
            bars.append(
                Bar(
                    x=round(index * slot + slot * 0.1 + number * width, 1),
                    y=round(HEIGHT - _BOTTOM - height, 1),
                    width=round(width, 1),
                    height=round(height, 1),
                    label=day,
                    value_text=fmt(value),
                    series=number,
                )
            )
    step = max(1, len(days) // 5)
    last = len(days) - 1  # labels count back from today, so today always has one
    labels = [(round(i * slot + slot / 2, 1), day) for i, day in enumerate(days) if (last - i) % step == 0]
    return Chart(title=title, bars=bars, max_text=fmt(top), day_labels=labels)
