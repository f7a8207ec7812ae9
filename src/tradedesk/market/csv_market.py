"""Historical bars from CSV files (date,open,high,low,close,volume), replayed as a Market.

A bar is known once it has ended: at time t the quote is built from the close of the latest bar that
ended by t (no look-ahead), with bid and ask `spread_bps` apart around it. Fundamentals come from the
reference data in `tickers` (P/E and yield at the replayed price) for the symbols it has.
"""

from __future__ import annotations

import bisect
import csv
import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradedesk.market.clock import aware, utcnow
from tradedesk.market.money import cents, cents_down, cents_up
from tradedesk.market.protocol import Bar, Fundamentals, Quote, UnknownSymbol, fundamentals_at
from tradedesk.market.tickers import TICKERS, Ticker

COLUMNS = ("date", "open", "high", "low", "close", "volume")


class CsvFormatError(ValueError):
    """A CSV file that is not date,open,high,low,close,volume; the message names the file and line."""


def load_bars(path: str | Path) -> list[Bar]:
    """The bars of one CSV file, oldest first. `date` is YYYY-MM-DD or an ISO datetime (UTC unless it says)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = {(name or "").strip().lower() for name in reader.fieldnames or []}
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise CsvFormatError(f"{path}: no column {', '.join(missing)}; the header must be {','.join(COLUMNS)}")
        bars = []
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            try:
                when = datetime.fromisoformat(row["date"])
                open_, high, low, close = (cents(Decimal(row[c])) for c in ("open", "high", "low", "close"))
                volume = int(Decimal(row["volume"]))
            except (ValueError, InvalidOperation):
                raise CsvFormatError(f"{path}, line {line}: cannot read {raw}") from None
            if low <= 0 or volume < 0 or not low <= min(open_, close) <= max(open_, close) <= high:
                raise CsvFormatError(f"{path}, line {line}: prices must be positive with low <= open, close <= high")
            bars.append(Bar(when if when.tzinfo else when.replace(tzinfo=UTC), open_, high, low, close, volume))
    return sorted(bars, key=lambda bar: bar.time)


class CsvMarket:
    """Replays historical bars (e.g. one CSV file per symbol) as the market, on any clock."""

    def __init__(
        self,
        bars: Mapping[str, Sequence[Bar]],
        clock: Callable[[], datetime] = utcnow,
        spread_bps: float = 5.0,
        reference: Mapping[str, Ticker] = TICKERS,
        displayed: int | None = None,
    ) -> None:
        """`displayed`: the shares shown at the bid and at the ask (None, the default: as many as an order wants,
        as bars say nothing of the book's depth)."""
        if displayed is not None and displayed < 1:
            raise ValueError(f"displayed must be at least 1 share (got {displayed})")
        self.clock = clock
        self.spread_bps = spread_bps
        self.displayed = displayed
        self._reference = reference
        self._bars = {symbol.upper(): sorted(series, key=lambda b: b.time) for symbol, series in bars.items() if series}
        self._ends = {symbol: [b.time + _spacing(series) for b in series] for symbol, series in self._bars.items()}

    @classmethod
    def from_directory(
        cls, directory: str | Path, clock: Callable[[], datetime] = utcnow, spread_bps: float = 5.0
    ) -> CsvMarket:
        """One file per symbol, named after it (AAPL.csv)."""
        files = sorted(Path(directory).glob("*.csv"))
        if not files:
            raise CsvFormatError(f"{directory}: no .csv files (expected one per symbol, e.g. AAPL.csv)")
        return cls({f.stem.upper(): load_bars(f) for f in files}, clock=clock, spread_bps=spread_bps)

    def now(self) -> datetime:
        return aware(self.clock())

    def symbols(self) -> list[str]:
        return sorted(self._bars)

    def name(self, symbol: str) -> str:
        key = self._symbol(symbol)
        ticker = self._reference.get(key)
        return ticker.name if ticker else key

    def _symbol(self, symbol: str) -> str:
        key = symbol.strip().upper()
        if key not in self._bars:
            raise UnknownSymbol(symbol, self.symbols())
        return key

    def _completed(self, key: str, at: datetime) -> int:
        """How many of `key`'s bars had ended by `at`."""
        done = bisect.bisect_right(self._ends[key], at)
        if done == 0:
            first = self._ends[key][0]
            raise ValueError(f"no {key} data yet at {at.isoformat()}: its first bar ends {first.isoformat()}")
        return done

    def quote(self, symbol: str, at: datetime | None = None) -> Quote:
        key = self._symbol(symbol)
        when = self.now() if at is None else aware(at)
        bar = self._bars[key][self._completed(key, when) - 1]
        half = bar.close * Decimal(str(self.spread_bps)) / 20_000
        bid = max(cents_down(bar.close - half), Decimal("0.01"))
        ask = max(cents_up(bar.close + half), bid + Decimal("0.01"))
        return Quote(key, bid, ask, bar.close, bar.volume, when, self.displayed, self.displayed)

    def bars(
        self, symbol: str, count: int = 20, interval: timedelta = timedelta(minutes=5), at: datetime | None = None
    ) -> list[Bar]:
        """The last `count` completed bars; `interval` must be the file's own bar length."""
        key = self._symbol(symbol)
        spacing = _spacing(self._bars[key])
        if interval != spacing:
            raise ValueError(f"{key}'s CSV has bars of {_length(spacing)} only; ask for bars of that interval")
        done = self._completed(key, self.now() if at is None else aware(at))
        return self._bars[key][max(0, done - count) : done]

    def fundamentals(self, symbol: str) -> Fundamentals:
        key = self._symbol(symbol)
        ticker = self._reference.get(key)
        if ticker is None:
            raise ValueError(f"no fundamentals for {key}: the CSV has prices only and {key} has no reference data")
        return fundamentals_at(ticker, self.quote(key).last)


def _length(spacing: timedelta) -> str:
    """A bar length in words: "1 day", "5 minutes", else timedelta's own form."""
    for unit, size in (("day", timedelta(days=1)), ("hour", timedelta(hours=1)), ("minute", timedelta(minutes=1))):
        count, rest = divmod(spacing, size)
        if count and not rest:
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return str(spacing)


def _spacing(series: Sequence[Bar]) -> timedelta:
    """The typical time between bars (one day for a single bar)."""
    gaps = Counter(b.time - a.time for a, b in itertools.pairwise(series))
    return min(gaps, key=lambda gap: (-gaps[gap], gap)) if gaps else timedelta(days=1)
