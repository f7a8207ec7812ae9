"""The simulated market: deterministic, moving, plausible, and clear about unknown symbols."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tradedesk.market import (
    EPOCH,
    ManualClock,
    Market,
    SimulatedMarket,
    UnknownSymbol,
    default_market,
)
from tradedesk.market.tickers import TICKERS

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
REQUIRED = {
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "JNJ", "PG", "KO", "PEP", "XOM", "CVX",
    "WMT", "HD", "DIS", "NFLX", "INTC", "AMD", "CSCO", "ORCL", "BAC", "PFE", "MRK", "T", "VZ", "SPY",
}  # fmt: skip


def test_lists_at_least_25_real_tickers_with_complete_fundamentals() -> None:
    market = SimulatedMarket(seed=1, clock=lambda: T0)
    assert isinstance(market, Market)
    assert len(market.symbols()) >= 25
    assert set(market.symbols()) >= REQUIRED
    for symbol in market.symbols():
        f = market.fundamentals(symbol)
        assert f.symbol == symbol and f.name == market.name(symbol) and f.sector
        for value in (f.eps, f.revenue_growth, f.operating_margin, f.net_margin, f.debt_to_equity, f.dividend_yield):
            assert isinstance(value, Decimal)
        assert (f.pe_ratio is None) == (f.eps <= 0)
        if f.pe_ratio is not None:
            assert 3 < f.pe_ratio < 300
        assert -1 < f.net_margin < 1 and f.debt_to_equity >= 0 and 0 <= f.dividend_yield < Decimal("0.15")


def test_pe_ratio_and_dividend_yield_follow_the_price() -> None:
    market = SimulatedMarket(seed=1, clock=lambda: T0)
    ko = market.fundamentals("KO")
    last = market.quote("KO").last
    assert ko.pe_ratio == (last / ko.eps).quantize(Decimal("0.01"))
    dividend = Decimal(str(TICKERS["KO"].dividend_yield)) * Decimal(str(TICKERS["KO"].price))
    assert ko.dividend_yield == (dividend / last).quantize(Decimal("0.0001"))
    assert market.fundamentals("INTC").pe_ratio is None  # losses


def test_same_seed_gives_the_same_market_and_another_seed_another() -> None:
    times = [T0 + timedelta(minutes=37 * i) for i in range(20)]
    a, b, c = SimulatedMarket(seed=5), SimulatedMarket(seed=5), SimulatedMarket(seed=6)
    for symbol in ("AAPL", "T", "SPY"):
        assert [a.quote(symbol, at=t) for t in times] == [b.quote(symbol, at=t) for t in times]
        assert a.bars(symbol, 30, at=times[-1]) == b.bars(symbol, 30, at=times[-1])
        assert [a.quote(symbol, at=t).last for t in times] != [c.quote(symbol, at=t).last for t in times]


def test_same_seed_gives_the_same_quotes_in_another_process() -> None:
    """Guards against per-process randomness (e.g. Python's salted str hash)."""
    code = (
        "from datetime import datetime, UTC; from tradedesk.market import SimulatedMarket; "
        "m = SimulatedMarket(seed=5); t = datetime(2025, 3, 3, 14, 30, tzinfo=UTC); "
        "print([str(m.quote(s, at=t).last) for s in ('AAPL', 'NVDA', 'KO')], m.quote('AAPL', at=t).volume)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    here = SimulatedMarket(seed=5)
    expected = [str(here.quote(s, at=T0).last) for s in ("AAPL", "NVDA", "KO")]
    assert out.strip() == f"{expected} {here.quote('AAPL', at=T0).volume}"


def test_prices_move_as_the_clock_runs() -> None:
    clock = ManualClock(T0)
    market = SimulatedMarket(seed=2, clock=clock)
    seen = []
    for _ in range(30):
        seen.append(market.quote("AAPL"))
        clock.advance(timedelta(minutes=1))
    assert all(q.time == T0 + timedelta(minutes=i) for i, q in enumerate(seen))
    assert len({q.last for q in seen}) >= 15  # a watcher sees change minute to minute
    assert len({(q.bid, q.ask) for q in seen}) >= 15
    # within one minute the book stands still
    assert market.quote("AAPL", at=T0 + timedelta(seconds=59)).last == seen[0].last


def test_quotes_are_plausible_for_every_symbol() -> None:
    market = SimulatedMarket(seed=3)
    for symbol in market.symbols():
        ticker = TICKERS[symbol]
        for days in (0, 90, 400, 1500):
            q = market.quote(symbol, at=T0 + timedelta(days=days, minutes=days))
            assert q.bid.as_tuple().exponent == -2 and q.ask.as_tuple().exponent == -2
            assert Decimal("0.01") <= q.bid < q.ask and q.bid <= q.last <= q.ask
            mid = (q.bid + q.ask) / 2
            spread_bps = (q.ask - q.bid) / mid * 10_000
            assert spread_bps <= max(Decimal(str(3 * ticker.spread_bps)), Decimal("0.02") / mid * 10_000)
            assert 0.3 < float(mid) / ticker.price < 3.3  # mean reversion keeps prices near their reference
            assert 0.3 * ticker.avg_volume < q.volume < 3 * ticker.avg_volume


def test_volatility_is_close_to_the_tickers() -> None:
    market = SimulatedMarket(seed=4)
    for symbol in ("KO", "AAPL", "TSLA"):
        closes = [float(b.close) for b in market.bars(symbol, 250, timedelta(days=1), at=T0)]
        returns = [math.log(b / a) for a, b in itertools.pairwise(closes)]
        mean = sum(returns) / len(returns)
        annual = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1) * 365.25)
        assert 0.7 * TICKERS[symbol].volatility < annual < 1.3 * TICKERS[symbol].volatility, symbol


def test_bars_are_aligned_consistent_and_end_at_the_quote() -> None:
    market = SimulatedMarket(seed=5)
    at = T0 + timedelta(minutes=7, seconds=20)
    bars = market.bars("MSFT", count=12, interval=timedelta(minutes=5), at=at)
    assert len(bars) == 12
    assert bars[-1].time == T0 + timedelta(minutes=5)  # the forming bar holds minutes 5..7
    assert all(b.time.tzinfo is not None and (b.time - EPOCH) % timedelta(minutes=5) == timedelta(0) for b in bars)
    assert [b.time for b in bars] == [bars[0].time + timedelta(minutes=5 * i) for i in range(12)]
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume > 0
    assert bars[-1].close == market.quote("MSFT", at=at).last
    minutes = market.bars("MSFT", count=5, interval=timedelta(minutes=1), at=T0 + timedelta(minutes=4))
    assert bars[-2].open == minutes[0].open and bars[-2].close == minutes[-1].close
    assert bars[-2].high == max(m.high for m in minutes) and bars[-2].low == min(m.low for m in minutes)
    assert bars[-2].volume == pytest.approx(sum(m.volume for m in minutes), abs=5)


def test_day_of_one_minute_bars_adds_up_to_the_quotes_volume() -> None:
    market = SimulatedMarket(seed=5)
    bars = market.bars("NVDA", count=1440, interval=timedelta(minutes=1), at=T0)
    assert sum(b.volume for b in bars) == pytest.approx(market.quote("NVDA", at=T0).volume, abs=1440)


def test_daily_bars_and_bad_arguments() -> None:
    market = SimulatedMarket(seed=5)
    days = market.bars("spy", count=20, interval=timedelta(days=1), at=T0)
    assert len(days) == 20 and days[-1].time == datetime(2025, 3, 3, tzinfo=UTC)
    assert all(0.2 * TICKERS["SPY"].avg_volume < b.volume < 3 * TICKERS["SPY"].avg_volume for b in days[:-1])
    with pytest.raises(ValueError, match="whole number of minutes"):
        market.bars("SPY", interval=timedelta(seconds=90), at=T0)
    with pytest.raises(ValueError, match="count"):
        market.bars("SPY", count=0, at=T0)
    with pytest.raises(ValueError, match="time zone"):
        market.quote("SPY", at=datetime(2025, 3, 3, 14, 30))
    # before the epoch the simulation holds its first minute
    assert market.quote("SPY", at=datetime(2019, 6, 1, tzinfo=UTC)).last == market.quote("SPY", at=EPOCH).last
    assert len(market.bars("SPY", count=10, interval=timedelta(days=1), at=EPOCH + timedelta(days=3))) == 4


def test_unknown_symbol_says_how_to_find_valid_ones() -> None:
    market = SimulatedMarket(seed=1, clock=lambda: T0)
    for call in (market.quote, market.fundamentals, market.name, market.bars):
        with pytest.raises(UnknownSymbol) as caught:
            call("ZZZZ")
        assert isinstance(caught.value, ValueError)
        assert "'ZZZZ'" in str(caught.value) and "AAPL" in str(caught.value) and "symbols()" in str(caught.value)
    assert market.quote(" aapl ").symbol == "AAPL"


def test_default_market_uses_the_real_clock_and_the_seed_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADEDESK_CLOCK_START", raising=False)  # no simulated clock (see test_clock.py)
    monkeypatch.setenv("TRADEDESK_MARKET_SEED", "42")
    market = default_market()
    assert market.seed == 42
    assert abs(market.now() - datetime.now(UTC)) < timedelta(seconds=5)
    monkeypatch.delenv("TRADEDESK_MARKET_SEED")
    assert default_market().seed == 0
    monkeypatch.setenv("TRADEDESK_MARKET_SEED", "lucky")
    with pytest.raises(ValueError, match="TRADEDESK_MARKET_SEED"):
        default_market()
