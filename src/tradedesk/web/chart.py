"""Charts drawn on the server as inline SVG: nothing to load, nothing to run in the browser."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from html import escape

from markupsafe import Markup

from tradedesk.app import Bar

WIDTH, HEIGHT, PAD = 640, 200, 28


def _scale(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    return low, high


def _y(value: float, low: float, high: float) -> float:
    return PAD + (HEIGHT - 2 * PAD) * (1 - (value - low) / (high - low))


def _frame(body: str, label: str, low: float, high: float, start: str = "", end: str = "") -> Markup:
    """The SVG (stretched to the page's width) with its labels in HTML beside it, so text never stretches."""
    times = f'<span class="start">{escape(start)}</span><span class="end">{escape(end)}</span>' if start else ""
    return Markup(
        f'<figure class="chart-wrap"><span class="hi">{high:,.2f}</span><span class="lo">{low:,.2f}</span>'
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">{body}</svg>{times}</figure>'
    )


def equity(history: Sequence[tuple[datetime, Decimal]]) -> Markup | None:
    """An equity curve (None with fewer than two snapshots: the page says so instead)."""
    if len(history) < 2:
        return None
    values = [float(v) for _, v in history]
    low, high = _scale(values)
    step = (WIDTH - 2 * PAD) / (len(values) - 1)
    points = " ".join(f"{PAD + i * step:.1f},{_y(v, low, high):.1f}" for i, v in enumerate(values))
    rising = values[-1] >= values[0]
    line = f'<polyline class="line {"up" if rising else "down"}" fill="none" points="{points}"/>'
    first, last = history[0][0], history[-1][0]
    label = f"Equity from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC: {values[0]:,.2f} to {values[-1]:,.2f}"
    return _frame(line, label, low, high, f"{first:%b %d %H:%M}", f"{last:%b %d %H:%M} UTC")


def candles(bars: Sequence[Bar]) -> Markup | None:
    """Candles of recent bars (None without bars)."""
    if not bars:
        return None
    low, high = _scale([float(b.low) for b in bars] + [float(b.high) for b in bars])
    step = (WIDTH - 2 * PAD) / len(bars)
    body = []
    for i, bar in enumerate(bars):
        x = PAD + (i + 0.5) * step
        o, c = float(bar.open), float(bar.close)
        top, bottom = _y(max(o, c), low, high), _y(min(o, c), low, high)
        kind = "up" if c >= o else "down"
        body.append(
            f'<line class="wick {kind}" x1="{x:.1f}" x2="{x:.1f}" y1="{_y(float(bar.high), low, high):.1f}" '
            f'y2="{_y(float(bar.low), low, high):.1f}"/>'
            f'<rect class="body {kind}" x="{x - step * 0.35:.1f}" y="{top:.1f}" width="{step * 0.7:.1f}" '
            f'height="{max(bottom - top, 1):.1f}"/>'
        )
    label = f"{len(bars)} bars from {bars[0].time:%H:%M} to {bars[-1].time:%H:%M} UTC"
    return _frame("".join(body), label, low, high, f"{bars[0].time:%H:%M}", f"{bars[-1].time:%H:%M} UTC")
