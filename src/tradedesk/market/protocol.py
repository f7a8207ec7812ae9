"""The market behind one interface: what the broker, the tools and the CLI need from market data.

`Market` is the protocol; `Quote`, `Bar` and `Fundamentals` are what it answers with. The simulated market
(`simulated`) and CSV replays (`csv_market`) implement it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

from tradedesk.market.money import cents
from tradedesk.market.tickers import Ticker

RATIO = Decimal("0.0001")


@dataclass(frozen=True)
class Quote:
    """The top of the book: best bid and ask, last trade, shares traded in the last 24 hours.

    `bid_size` and `ask_size` are the shares displayed at the bid and the ask (None: as many as wanted); an order
    larger than them fills in part now and the rest later (see `broker`).
    """

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    volume: int
    time: datetime
    bid_size: int | None = None
    ask_size: int | None = None


@dataclass(frozen=True)
class Bar:
    """Open/high/low/close of trades in [time, time + interval); the newest bar may still be forming."""

    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(frozen=True)
class Fundamentals:
    """A company's valuation and financials. Ratios are fractions (0.25 = 25%); P/E is None on losses."""

    symbol: str
    name: str
    sector: str
    eps: Decimal
    pe_ratio: Decimal | None
    revenue_growth: Decimal
    operating_margin: Decimal
    net_margin: Decimal
    debt_to_equity: Decimal
    dividend_yield: Decimal


class UnknownSymbol(ValueError):
    """A ticker the market does not list; the message says which ones it does."""

    def __init__(self, symbol: str, known: Iterable[str]) -> None:
        self.symbol = symbol
        listed = ", ".join(known)
        super().__init__(f"Unknown symbol {symbol!r}. This market lists: {listed} (see Market.symbols()).")


@runtime_checkable
class Market(Protocol):
    """What the broker, the tools and the CLI need from market data."""

    def now(self) -> datetime:
        """The market's current time (aware, UTC)."""
        ...

    def symbols(self) -> list[str]: ...

    def name(self, symbol: str) -> str: ...

    def quote(self, symbol: str, at: datetime | None = None) -> Quote: ...

    def bars(
        self, symbol: str, count: int = 20, interval: timedelta = timedelta(minutes=5), at: datetime | None = None
    ) -> list[Bar]: ...

    def fundamentals(self, symbol: str) -> Fundamentals: ...


def fundamentals_at(ticker: Ticker, last: Decimal) -> Fundamentals:
    """`ticker`'s reference fundamentals with P/E and dividend yield at the price `last`."""
    eps = cents(ticker.eps)
    dividend = Decimal(str(ticker.dividend_yield)) * Decimal(str(ticker.price))
    return Fundamentals(
        symbol=ticker.symbol,
        name=ticker.name,
        sector=ticker.sector,
        eps=eps,
        pe_ratio=cents(last / eps) if eps > 0 else None,
        revenue_growth=_ratio(ticker.revenue_growth),
        operating_margin=_ratio(ticker.operating_margin),
        net_margin=_ratio(ticker.net_margin),
        debt_to_equity=_ratio(ticker.debt_to_equity),
        dividend_yield=(dividend / last).quantize(RATIO),
    )


def _ratio(value: float) -> Decimal:
    return Decimal(str(value)).quantize(RATIO)
