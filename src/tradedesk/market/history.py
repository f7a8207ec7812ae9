"""Real daily price history, loaded offline: the bundled S&P 500 sample, or a user's own CSV files.

A `History` holds one series of daily bars per symbol, each bar timestamped at its session's close
(16:00 New York): the instant its prices became known. It is what a backtest engine holds; agents see it
only through `HistoricalMarket`, which answers as of its clock. `next_bar` (the bar a decision fills on)
is here, on the engine's side, and not on the market the tools read.

The bundled data is skfolio's S&P 500 sample (BSD-3-Clause), read straight from the CSV files its wheel
ships, without importing skfolio (which loads pandas and scikit-learn): adjusted daily closes of 20 stocks
and the S&P 500 index (`SPX`), 1990-01-02 to 2022-12-28. See docs/decisions.md for its limits.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo

from tradedesk.market.clock import aware
from tradedesk.market.csv_market import CsvFormatError, load_bars
from tradedesk.market.money import cents
from tradedesk.market.protocol import Bar, UnknownSymbol

__all__ = [
    "INDEX",
    "NAMES",
    "History",
    "HistoryError",
    "bundled",
    "close_of",
    "load_closes",
]

NEW_YORK = ZoneInfo("America/New_York")
SESSION_CLOSE = time(16, 0)
INDEX = "SPX"  # the S&P 500 index: the benchmark's symbol
DISTRIBUTION = "skfolio"
STOCKS_FILE, INDEX_FILE = "skfolio/datasets/data/sp500_dataset.csv.gz", "skfolio/datasets/data/sp500_index.csv.gz"
NAMES = {
    "AAPL": "Apple Inc.",
    "AMD": "Advanced Micro Devices, Inc.",
    "BAC": "Bank of America Corporation",
    "BBY": "Best Buy Co., Inc.",
    "CVX": "Chevron Corporation",
    "GE": "General Electric Company",
    "HD": "The Home Depot, Inc.",
    "JNJ": "Johnson & Johnson",
    "JPM": "JPMorgan Chase & Co.",
    "KO": "The Coca-Cola Company",
    "LLY": "Eli Lilly and Company",
    "MRK": "Merck & Co., Inc.",
    "MSFT": "Microsoft Corporation",
    "PEP": "PepsiCo, Inc.",
    "PFE": "Pfizer Inc.",
    "PG": "The Procter & Gamble Company",
    "RRC": "Range Resources Corporation",
    "UNH": "UnitedHealth Group Incorporated",
    "WMT": "Walmart Inc.",
    "XOM": "Exxon Mobil Corporation",
    INDEX: "S&P 500 index",
}


class HistoryError(ValueError):
    """A request the data cannot answer (before its first bar, after its last); the message says its range."""


def close_of(day: date) -> datetime:
    """The instant a daily bar of `day` is known: 16:00 New York, in UTC.

    On the exchange's 13:00 early-close days this is three hours late, which errs on the safe side: a bar is
    never visible before its prices were.
    """
    return datetime.combine(day, SESSION_CLOSE, NEW_YORK).astimezone(UTC)


@dataclass(frozen=True)
class History:
    """Daily bars per symbol (oldest first, `Bar.time` = the session's close); the engine's view of the data.

    `closes_only`: the source has closes only, so each bar's open, high and low equal its close and its volume
    is 0. `indexes`: symbols that are indexes (a benchmark to read, not a security to buy).
    """

    series: Mapping[str, Sequence[Bar]]
    names: Mapping[str, str] = field(default_factory=dict)
    closes_only: bool = False
    indexes: frozenset[str] = frozenset()
    source: str = "user CSV files"
    _closes: dict[str, list[datetime]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.series or not (isinstance(self.series, _LazySeries) or all(self.series.values())):
            raise HistoryError(f"{self.source}: no bars (every symbol needs at least one)")
        object.__setattr__(self, "_closes", {})

    @classmethod
    def from_directory(cls, directory: str | Path) -> History:
        """One OHLCV file per symbol, named after it (AAPL.csv), in `CsvMarket`'s format; one row per day."""
        files = sorted(Path(directory).glob("*.csv"))
        if not files:
            raise CsvFormatError(f"{directory}: no .csv files (expected one per symbol, e.g. AAPL.csv)")
        return cls({f.stem.upper(): _daily(f, load_bars(f)) for f in files}, source=str(directory))

    @classmethod
    def from_closes(
        cls, path: str | Path, names: Mapping[str, str] | None = None, indexes: Iterable[str] = ()
    ) -> History:
        """A wide file of closes, `Date,SYM1,SYM2,...` (plain or .gz): bars with open = high = low = close."""
        series = load_closes(path)
        return cls(series, dict(names or {}), True, frozenset(s.upper() for s in indexes), str(path))

    def symbols(self) -> list[str]:
        return sorted(self.series)

    def name(self, symbol: str) -> str:
        key = self.key(symbol)
        return self.names.get(key, key)

    def key(self, symbol: str) -> str:
        """`symbol` as the data spells it, or UnknownSymbol listing the ones it has."""
        key = symbol.strip().upper()
        if key not in self.series:
            raise UnknownSymbol(symbol, self.symbols())
        return key

    def first(self, symbol: str) -> Bar:
        return self.series[self.key(symbol)][0]

    def last(self, symbol: str) -> Bar:
        return self.series[self.key(symbol)][-1]

    def known(self, symbol: str, at: datetime) -> int:
        """How many of `symbol`'s bars had closed by `at`; HistoryError before the first or past the data's end."""
        key, when = self.key(symbol), aware(at)
        closes = self._closes_of(key)
        if when < closes[0]:
            raise HistoryError(
                f"no {key} data at {when.isoformat()}: its first bar closes {closes[0].isoformat()} ({self.source})"
            )
        if when >= _stale_after(closes[-1]):
            raise HistoryError(
                f"no {key} data at {when.isoformat()}: it ends with the session of "
                f"{closes[-1].astimezone(NEW_YORK).date()} ({self.source})"
            )
        return bisect.bisect_right(closes, when)

    def _closes_of(self, key: str) -> list[datetime]:
        if key not in self._closes:
            self._closes[key] = [bar.time for bar in self.series[key]]
        return self._closes[key]

    def next_bar(self, symbol: str, after: datetime) -> Bar:
        """The first bar closing strictly after `after`: the one an order decided at `after` fills on.

        For the backtest engine only (agents' tools read `HistoricalMarket`, which never looks past its clock).
        """
        key, when = self.key(symbol), aware(after)
        closes = self._closes_of(key)
        index = bisect.bisect_right(closes, when)
        if index == len(closes):
            raise HistoryError(f"no {key} bar after {when.isoformat()}: its data ends {closes[-1].isoformat()}")
        return self.series[key][index]

    def sessions(self, start: date, end: date, symbol: str | None = None) -> list[datetime]:
        """The closes of `symbol`'s sessions from `start` to `end` (inclusive): a daily backtest's decision times.

        `symbol` defaults to the index when the data has one, else its first symbol.
        """
        key = self.key(symbol) if symbol else INDEX if INDEX in self.series else self.symbols()[0]
        closes = self._closes_of(key)
        low, high = bisect.bisect_left(closes, close_of(start)), bisect.bisect_right(closes, close_of(end))
        return closes[low:high]


def load_closes(path: str | Path) -> dict[str, list[Bar]]:
    """The daily closes of a wide CSV (`Date,SYM1,...`, plain or gzipped), as bars with open = high = low = close.

    An empty cell is a day the symbol did not trade (before its listing, after its delisting): no bar.
    """
    series: dict[str, list[Bar]] = {}
    for symbol, cells in _columns(path).items():
        try:
            series[symbol] = [_bar(when, text) for when, text, _ in cells]
        except (ValueError, InvalidOperation):
            bad, line = next((text, line) for _, text, line in cells if not _valid(text))
            raise CsvFormatError(f"{path}, line {line}: {symbol}'s close {bad!r} is not a positive price") from None
    return series


@lru_cache(maxsize=1)
def bundled() -> History:
    """skfolio's S&P 500 sample: 20 stocks' adjusted closes and the index (`SPX`), 1990-01-02 to 2022-12-28.

    Each symbol's bars are built on first use (all 21 take about a second; a backtest reads a few).
    """
    columns = _columns(_shipped(STOCKS_FILE))
    (columns[INDEX],) = _columns(_shipped(INDEX_FILE)).values()  # one column, named SP500 in the file
    source = f"skfolio {metadata.version(DISTRIBUTION)} S&P 500 sample"
    return History(_LazySeries(columns), NAMES, True, frozenset({INDEX}), source)


Cells = list[tuple[datetime, str, int]]


class _LazySeries(Mapping[str, Sequence[Bar]]):
    """Bars per symbol, built from a trusted file's cells when a symbol is first read."""

    def __init__(self, columns: dict[str, Cells]) -> None:
        self._columns = columns
        self._built: dict[str, list[Bar]] = {}

    def __getitem__(self, symbol: str) -> Sequence[Bar]:
        if symbol not in self._built:
            self._built[symbol] = [_bar(when, text) for when, text, _ in self._columns[symbol]]
        return self._built[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


def _columns(path: str | Path) -> dict[str, Cells]:
    """A wide CSV's non-empty cells per symbol: (the day's close, the cell's text, the line), oldest first."""
    raw = Path(path).read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    reader = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(reader, [])]
    if len(header) < 2 or header[0].lower() != "date":
        raise CsvFormatError(f"{path}: the header must be Date followed by one column per symbol (Date,AAPL,MSFT)")
    symbols = [name.upper() for name in header[1:]]
    columns: dict[str, Cells] = {symbol: [] for symbol in symbols}
    previous: date | None = None
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            day = date.fromisoformat(row[0].strip())
        except ValueError:
            raise CsvFormatError(f"{path}, line {line}: {row[0]!r} is not a date (YYYY-MM-DD)") from None
        if len(row) != len(header) or (previous is not None and day <= previous):
            raise CsvFormatError(f"{path}, line {line}: expected {len(header)} cells on a date after {previous}")
        previous, when = day, close_of(day)
        for symbol, cell in zip(symbols, row[1:], strict=True):
            cell = cell.strip()
            if cell and cell.lower() != "nan":
                columns[symbol].append((when, cell, line))
    return {symbol: cells for symbol, cells in columns.items() if cells}


def _shipped(name: str) -> Path:
    """The path of a data file inside the installed skfolio wheel (found without importing skfolio)."""
    hint = "install it with `pip install --no-deps skfolio` (only the price history in its wheel is read)"
    try:
        path = Path(str(metadata.distribution(DISTRIBUTION).locate_file(name)))
    except metadata.PackageNotFoundError:
        raise HistoryError(f"{DISTRIBUTION} is not installed: {hint}") from None
    if not path.is_file():
        raise HistoryError(f"{path} is missing from the installed {DISTRIBUTION}: {hint}")
    return path


def _bar(when: datetime, text: str) -> Bar:
    """A closes-only bar: open, high and low are the close; no volume."""
    value = cents(Decimal(text))
    if value <= 0:
        raise ValueError(f"a price must be positive (got {text})")
    return Bar(when, value, value, value, value, 0)


def _valid(text: str) -> bool:
    try:
        _bar(close_of(date(2000, 1, 3)), text)
    except (ValueError, InvalidOperation):
        return False
    return True


def _daily(path: Path, bars: Sequence[Bar]) -> list[Bar]:
    """A per-symbol file's bars re-timestamped at their session's close; two bars on one day are refused."""
    days = [bar.time.date() for bar in bars]
    for earlier, later in itertools.pairwise(days):
        if earlier == later:
            raise CsvFormatError(f"{path}: two bars on {later}; the historical market takes one bar per day")
    return [Bar(close_of(day), b.open, b.high, b.low, b.close, b.volume) for day, b in zip(days, bars, strict=True)]


def _stale_after(last_close: datetime) -> datetime:
    """When a series' last bar stops being the latest news: the close of the next weekday after it."""
    day = last_close.astimezone(NEW_YORK).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return close_of(day)
