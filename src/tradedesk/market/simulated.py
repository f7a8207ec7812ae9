"""The embedded default market: a deterministic simulated market.

`SimulatedMarket` gives every ticker in `tickers.TICKERS` a price that moves minute by minute, 24/7:
the log price mean-reverts (Ornstein-Uhlenbeck, half-life six months) around the ticker's reference
price, so prices stay plausible forever. It is a pure function of (seed, symbol, minute): the same
seed gives the same quotes in every process, and any timestamp is cheap to evaluate. How: the
process is drawn exactly on 1,024-minute anchors (generated once, in order, per symbol), and each
block between two anchors is a Brownian bridge from a generator seeded by (seed, symbol, block),
built when first asked for and cached. Every generator is `random.Random` seeded with a string (which
CPython hashes with SHA-512), never Python's per-process `hash()`.
"""

from __future__ import annotations

import math
import os
import random
import threading
from array import array
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from tradedesk.market.clock import aware, clock_from_env, utcnow
from tradedesk.market.money import cents, cents_down, cents_up
from tradedesk.market.protocol import Bar, Fundamentals, Quote, UnknownSymbol, fundamentals_at
from tradedesk.market.tickers import TICKERS, Ticker

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)  # minute 0 of the simulation; earlier times read as the epoch
MINUTES_PER_DAY = 1440
MINUTES_PER_YEAR = 365.25 * MINUTES_PER_DAY
BLOCK = 1024  # minutes between two exact anchors of the price process
HALF_LIFE_YEARS = 0.5  # of a deviation from the reference price
DISPLAYED = 0.1  # the shares shown at the bid or the ask, as a fraction of the minute's volume
ROUND_LOT = 100


def minute_of(at: datetime) -> int:
    """Minutes since the epoch, floored; times before the epoch read as minute 0."""
    return max(0, int((aware(at) - EPOCH).total_seconds() // 60))


def _time_of(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=minute)


def _lots(shares: float) -> int:
    """`shares` rounded down to round lots, at least one lot."""
    return max(ROUND_LOT, int(shares // ROUND_LOT) * ROUND_LOT)


class _Path:
    """One ticker's per-minute log-price offsets x, trade-side draws u in [-1, 1] and volume weights w."""

    def __init__(self, seed: int, ticker: Ticker) -> None:
        self._key = f"tradedesk/{seed}/{ticker.symbol}"
        self.sigma = ticker.volatility / math.sqrt(MINUTES_PER_YEAR)
        decay = math.exp(-math.log(2) / (HALF_LIFE_YEARS * MINUTES_PER_YEAR))
        self._block_decay = decay**BLOCK
        self._block_std = self.sigma * math.sqrt((1 - decay ** (2 * BLOCK)) / (1 - decay**2))
        self._anchor_rng = random.Random(f"{self._key}/anchors")
        self._anchors = [self._anchor_rng.gauss(0.0, self.sigma / math.sqrt(1 - decay**2))]
        self._lock = threading.Lock()
        self.block = lru_cache(maxsize=48)(self._build_block)  # 48 x 24 KB; 20 daily bars need 29 blocks

    def anchor(self, k: int) -> float:
        with self._lock:
            while len(self._anchors) <= k:
                previous = self._anchors[-1]
                self._anchors.append(previous * self._block_decay + self._anchor_rng.gauss(0.0, self._block_std))
            return self._anchors[k]

    def _build_block(self, k: int) -> tuple[array[float], array[float], array[float]]:
        start, end = self.anchor(k), self.anchor(k + 1)
        rng = random.Random(f"{self._key}/block/{k}")
        walk = [0.0]
        for _ in range(BLOCK):
            walk.append(walk[-1] + rng.gauss(0.0, self.sigma))
        pull = walk[BLOCK] - (end - start)
        x = array("d", (start + walk[j] - pull * j / BLOCK for j in range(BLOCK)))
        u = array("d", (rng.uniform(-1.0, 1.0) for _ in range(BLOCK)))
        w = array("d", (math.exp(rng.gauss(0.0, 0.5) - 0.125) for _ in range(BLOCK)))
        return x, u, w

    def series(self, first: int, last: int) -> tuple[list[float], list[float], list[float]]:
        """x, u and w for minutes first..last inclusive."""
        xs: list[float] = []
        us: list[float] = []
        ws: list[float] = []
        minute = first
        while minute <= last:
            k, offset = divmod(minute, BLOCK)
            stop = min(BLOCK, offset + last - minute + 1)
            x, u, w = self.block(k)
            xs += x[offset:stop]
            us += u[offset:stop]
            ws += w[offset:stop]
            minute += stop - offset
        return xs, us, ws


class SimulatedMarket:
    """A seeded, deterministic market over real US tickers; prices move every minute as the clock runs."""

    def __init__(
        self,
        seed: int = 0,
        clock: Callable[[], datetime] = utcnow,
        tickers: Mapping[str, Ticker] = TICKERS,
        depth: bool = True,
    ) -> None:
        """`depth`: quotes show the shares offered at the bid and ask (so large orders fill in parts); False shows
        no sizes, and any order fills whole at the quote."""
        self.seed = seed
        self.depth = depth
        self.clock = clock
        self._tickers = dict(tickers)
        self._paths: dict[str, _Path] = {}
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return aware(self.clock())

    def symbols(self) -> list[str]:
        return list(self._tickers)

    def ticker(self, symbol: str) -> Ticker:
        """The reference data of `symbol` (case-insensitive), or UnknownSymbol."""
        found = self._tickers.get(symbol.strip().upper())
        if found is None:
            raise UnknownSymbol(symbol, self._tickers)
        return found

    def name(self, symbol: str) -> str:
        return self.ticker(symbol).name

    def _path(self, ticker: Ticker) -> _Path:
        with self._lock:
            path = self._paths.get(ticker.symbol)
            if path is None:
                path = self._paths[ticker.symbol] = _Path(self.seed, ticker)
            return path

    def _book(self, ticker: Ticker, x: float, u: float) -> tuple[Decimal, Decimal, Decimal]:
        """Bid, ask and last trade around the mid price base * e^x; the trade sits at u within the spread."""
        mid = ticker.price * math.exp(x)
        half = mid * ticker.spread_bps / 20_000
        bid = max(cents_down(mid - half), Decimal("0.01"))
        ask = max(cents_up(mid + half), bid + Decimal("0.01"))
        last = min(max(cents(mid + u * half), bid), ask)
        return bid, ask, last

    def _volume(self, ticker: Ticker, first: int, weights: list[float]) -> int:
        """Shares traded in the minutes first.. (one weight each): each day's volume, spread by the weights."""
        total, i = 0.0, 0
        while i < len(weights):
            day = (first + i) // MINUTES_PER_DAY
            end = min(len(weights), (day + 1) * MINUTES_PER_DAY - first)
            total += self._day_volume(ticker, day) * sum(weights[i:end])
            i = end
        return round(total / MINUTES_PER_DAY)

    def _day_volume(self, ticker: Ticker, day: int) -> float:
        return ticker.avg_volume * _day_factor(self.seed, ticker.symbol, day)

    def quote(self, symbol: str, at: datetime | None = None) -> Quote:
        ticker = self.ticker(symbol)
        when = self.now() if at is None else aware(at)
        minute = minute_of(when)
        path = self._path(ticker)
        first = max(0, minute - MINUTES_PER_DAY + 1)
        x, u, w = path.series(first, minute)
        bid, ask, last = self._book(ticker, x[-1], u[-1])
        volume = self._volume(ticker, first, w)
        if not self.depth:
            return Quote(ticker.symbol, bid, ask, last, volume, when)
        bid_size, ask_size = self._sizes(ticker, minute, w[-1], u[-1])
        return Quote(ticker.symbol, bid, ask, last, volume, when, bid_size, ask_size)

    def _sizes(self, ticker: Ticker, minute: int, weight: float, u: float) -> tuple[int, int]:
        """Shares displayed at the bid and the ask: a tenth of the minute's volume in round lots, at least one lot.

        The side the last trade leaned to (u) shows less, as a trade there just took some of it.
        """
        shown = self._day_volume(ticker, minute // MINUTES_PER_DAY) * weight / MINUTES_PER_DAY * DISPLAYED
        return _lots(shown * (1 + u / 2)), _lots(shown * (1 - u / 2))

    def bars(
        self, symbol: str, count: int = 20, interval: timedelta = timedelta(minutes=5), at: datetime | None = None
    ) -> list[Bar]:
        """The last `count` bars up to `at` (now), aligned to the epoch; the newest one is still forming."""
        ticker = self.ticker(symbol)
        step = _interval_minutes(interval)
        if not 1 <= count <= 5000:
            raise ValueError(f"count must be between 1 and 5000 bars (got {count})")
        minute = minute_of(self.now() if at is None else at)
        newest = minute // step * step
        starts = [s for s in range(newest - (count - 1) * step, newest + 1, step) if s >= 0]
        x, u, w = self._path(ticker).series(starts[0], minute)
        trades = [xi + ui * ticker.spread_bps / 20_000 for xi, ui in zip(x, u, strict=True)]  # log trade prices
        bars = []
        for start in starts:
            lo, hi = start - starts[0], min(start + step, minute + 1) - starts[0]
            window = trades[lo:hi]
            top, bottom = lo + window.index(max(window)), lo + window.index(min(window))
            bars.append(
                Bar(
                    time=_time_of(start),
                    open=self._book(ticker, x[lo], u[lo])[2],
                    high=self._book(ticker, x[top], u[top])[2],
                    low=self._book(ticker, x[bottom], u[bottom])[2],
                    close=self._book(ticker, x[hi - 1], u[hi - 1])[2],
                    volume=self._volume(ticker, start, w[lo:hi]),
                )
            )
        return bars

    def fundamentals(self, symbol: str) -> Fundamentals:
        """Reference fundamentals; P/E and dividend yield move with the current price."""
        ticker = self.ticker(symbol)
        return fundamentals_at(ticker, self.quote(ticker.symbol).last)


def _interval_minutes(interval: timedelta) -> int:
    minutes, rest = divmod(interval, timedelta(minutes=1))
    if rest or minutes < 1:
        raise ValueError(f"interval must be a whole number of minutes, at least one (got {interval})")
    return int(minutes)


@lru_cache(maxsize=4096)
def _day_factor(seed: int, symbol: str, day: int) -> float:
    """How busy `day` is for `symbol`: lognormal around 1."""
    return math.exp(random.Random(f"tradedesk/{seed}/{symbol}/volume/{day}").gauss(0.0, 0.25) - 0.03125)


def default_market() -> SimulatedMarket:
    """The embedded market, seeded by TRADEDESK_MARKET_SEED (default 0), on the TRADEDESK_CLOCK_* clock (`clock`)."""
    raw = os.environ.get("TRADEDESK_MARKET_SEED", "0")
    try:
        seed = int(raw)
    except ValueError:
        raise ValueError(f"TRADEDESK_MARKET_SEED must be an integer (got {raw!r})") from None
    return SimulatedMarket(seed=seed, clock=clock_from_env())
