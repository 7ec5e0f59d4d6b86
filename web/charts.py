"""Bar charts drawn on the server as SVG: no script, no CDN, no inline style (the CSP forbids
them); colours come from classes in the static stylesheet. The geometry is computed here and
the template only writes it out, so the template escapes every label like any other text.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 600, 180
LEFT, BOTTOM, TOP = 28, 22, 8  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, int], ...]  # (y, value) of the horizontal grid lines
    labels: tuple[tuple[float, str], ...]  # (x, text) under the bars
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: float = HEIGHT - BOTTOM


def _nice_top(highest: int) -> int:
    """The axis' top: 1, 2, 5 times a power of ten, at least the highest bar."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= highest:
                return step * factor
        step *= 10


def stacked_days(days, titles, label_every: int = 7) -> Chart:
    """One bar per day, booked below and failed stacked on top. ``titles(day)`` gives the
    text a pointer or a screen reader gets for that day."""
    highest = max([d.booked + d.failed for d in days] + [1])
    top = _nice_top(highest)
    plot = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(days), 1)
    bars, labels = [], []
    for index, day in enumerate(days):
        x = LEFT + index * slot + slot * 0.15
        width = slot * 0.7
        base = HEIGHT - BOTTOM
        for count, css in ((day.booked, "bar-booked"), (day.failed, "bar-failed")):
            if count:
                height = plot * count / top
                base -= height
                bars.append(Bar(round(x, 1), round(base, 1), round(width, 1), round(height, 1),
                                css, titles(day)))
        if (len(days) - 1 - index) % label_every == 0:  # today, a week before, ...
            labels.append((round(x + width / 2, 1), day.day.strftime("%d-%m")))
    ticks = tuple((round(HEIGHT - BOTTOM - plot * value / top, 1), value)
                  for value in dict.fromkeys((0, top // 2, top)))
    return Chart(tuple(bars), ticks, tuple(labels))


def horizontal(counts: dict[str, int], names, css: str = "bar-waiting") -> Chart:
    """One horizontal bar per kind of waiting (``names(key)`` is its label)."""
    row = 26
    height = max(len(counts), 1) * row + 4
    highest = max(list(counts.values()) + [1])
    room = WIDTH - 200
    bars = tuple(Bar(160, 4 + i * row, round(room * n / highest, 1) or 1, row - 8, css,
                     f"{names(key)}: {n}") for i, (key, n) in enumerate(counts.items()))
    labels = tuple((4 + i * row + row / 2, f"{names(key)}") for i, key in enumerate(counts))
    return Chart(bars, (), labels, height=height, left=160, base=height)
