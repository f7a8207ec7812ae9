"""Real history replayed as a `Market`, as of a clock: what agents' tools see during a backtest.

No look-ahead, by construction: every answer is computed from the bars whose close (`Bar.time`, the
session's 16:00 New York close) is at or before the market's clock. A question about a later time (`at`
after now) is refused with `LookAhead`, never answered. The bar an order fills on (the next one) is read by
the engine from `History.next_bar`, which this market does not offer.

Fundamentals: none. The data has prices only, and today's reference figures (P/E, margins) applied to a
past date would tell the agent what the company became; `fundamentals` says so instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from tradedesk.market.clock import aware, utcnow
from tradedesk.market.history import History, bundled
from tradedesk.market.money import cents_down, cents_up
from tradedesk.market.protocol import Bar, Fundamentals, Quote

__all__ = ["DAY", "HistoricalMarket", "LookAhead", "NoFundamentals"]

DAY = timedelta(days=1)


class LookAhead(ValueError):
    """A question about a time after the market's clock: the future is not answered."""


class NoFundamentals(ValueError):
    """The historical market has prices only, so no point-in-time fundamentals."""


class HistoricalMarket:
    """Daily bars of real history as the market, on a clock (a backtest's `ManualClock`).

    Quotes are the last known close with bid and ask `spread_bps` apart around it (the data has no book),
    and `displayed` shares at each (None: as many as an order wants).
    """

    def __init__(
        self,
        history: History | None = None,
        clock: Callable[[], datetime] = utcnow,
        spread_bps: float = 5.0,
        displayed: int | None = None,
    ) -> None:
        """`history`: the bundled S&P 500 sample when None (loaded here, not at import)."""
        if displayed is not None and displayed < 1:
            raise ValueError(f"displayed must be at least 1 share (got {displayed})")
        if spread_bps < 0:
            raise ValueError(f"spread_bps must be 0 or more (got {spread_bps})")
        self._history = bundled() if history is None else history
        self.clock = clock
        self.spread_bps = spread_bps
        self.displayed = displayed

    def now(self) -> datetime:
        return aware(self.clock())

    def symbols(self) -> list[str]:
        return self._history.symbols()

    def name(self, symbol: str) -> str:
        return self._history.name(symbol)

    def is_index(self, symbol: str) -> bool:
        """Whether `symbol` is an index (to read as a benchmark; no security to buy)."""
        return self._history.key(symbol) in self._history.indexes

    def quote(self, symbol: str, at: datetime | None = None) -> Quote:
        """The quote from the last close at or before `at` (default: now)."""
        key, when = self._history.key(symbol), self._as_of(at)
        bar = self._history.series[key][self._history.known(key, when) - 1]
        half = bar.close * Decimal(str(self.spread_bps)) / 20_000
        bid = max(cents_down(bar.close - half), Decimal("0.01"))
        ask = max(cents_up(bar.close + half), bid + Decimal("0.01"))
        return Quote(key, bid, ask, bar.close, bar.volume, when, self.displayed, self.displayed)

    def bars(self, symbol: str, count: int = 20, interval: timedelta = DAY, at: datetime | None = None) -> list[Bar]:
        """The last `count` daily bars closed by `at` (default: now), oldest first. Daily bars only."""
        key, when = self._history.key(symbol), self._as_of(at)
        if interval != DAY:
            raise ValueError(f"the historical market has daily bars only; ask {key} for bars of 1 day (1d)")
        if count < 1:
            raise ValueError(f"ask for 1 bar or more (got {count})")
        done = self._history.known(key, when)
        return list(self._history.series[key][max(0, done - count) : done])

    def fundamentals(self, symbol: str) -> Fundamentals:
        key = self._history.key(symbol)
        raise NoFundamentals(
            f"no fundamentals for {key} in a backtest: the historical data has prices only, "
            "and today's figures would reveal the future"
        )

    def _as_of(self, at: datetime | None) -> datetime:
        """`at` (default: now), refused if it is after now."""
        now = self.now()
        if at is None:
            return now
        when = aware(at)
        if when > now:
            raise LookAhead(f"{when.isoformat()} is after the market's now ({now.isoformat()}): no look-ahead")
        return when
