"""Recent price bars of one symbol, by a named interval ("1m", "1d"), from whichever `Market` is in use.

Every market (the simulation, a CSV replay, a live feed later) answers `Market.bars`; this module is the
application layer over it that the CLI's `chart` command (and anything else showing bars) calls: it turns
the user's words into a validated request and returns the bars with what they were asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradedesk.market.protocol import Bar, Market

INTERVALS = {"1m": timedelta(minutes=1), "1d": timedelta(days=1)}
MAX_BARS = 500


class BadBarsRequest(ValueError):
    """An interval or bar count the chart cannot draw; the message says what to ask for."""


@dataclass(frozen=True)
class Bars:
    """The newest `len(bars)` bars of `symbol` at `interval` as of `as_of`, oldest first."""

    symbol: str
    interval: str
    as_of: datetime
    bars: list[Bar]

    @property
    def change(self) -> Decimal:
        """Last close minus the first bar's open (0 without bars)."""
        return self.bars[-1].close - self.bars[0].open if self.bars else Decimal(0)


def interval_of(name: str) -> timedelta:
    """The length of the interval called `name` (case-insensitive), or BadBarsRequest listing the known ones."""
    found = INTERVALS.get(name.strip().lower())
    if found is None:
        raise BadBarsRequest(f"Unknown interval {name!r}: use one of {', '.join(INTERVALS)}.")
    return found


def recent(market: Market, symbol: str, interval: str = "1d", count: int = 30) -> Bars:
    """The last `count` bars of `symbol` at `interval` up to the market's clock (never a bar from its future)."""
    length = interval_of(interval)
    if not 1 <= count <= MAX_BARS:
        raise BadBarsRequest(f"Ask for between 1 and {MAX_BARS} bars (got {count}).")
    key = symbol.strip().upper()
    as_of = market.now()
    return Bars(key, interval.strip().lower(), as_of, market.bars(key, count=count, interval=length, at=as_of))
