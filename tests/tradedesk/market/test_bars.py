"""Recent bars by named interval: consistent with the market's quotes, never from its future, CSV bars as filed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradedesk.market import ManualClock, SimulatedMarket, UnknownSymbol
from tradedesk.market.bars import BadBarsRequest, interval_of, recent
from tradedesk.market.csv_market import CsvMarket

NOW = datetime(2026, 11, 25, 15, 7, 30, tzinfo=UTC)
DAILY = """date,open,high,low,close,volume
2024-01-02,187.15,188.44,183.89,185.64,82488700
2024-01-03,184.22,185.88,183.43,184.25,58414500
2024-01-04,182.15,183.09,180.88,181.91,71983600
"""


def test_minute_bars_close_at_the_last_trade_the_market_quoted_in_that_minute() -> None:
    market = SimulatedMarket(seed=3, clock=lambda: NOW)
    found = recent(market, "aapl", "1m", 30)
    assert found.symbol == "AAPL" and found.interval == "1m" and len(found.bars) == 30
    for bar in found.bars:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.close == market.quote("AAPL", at=bar.time).last  # a minute bar is one minute's trade
        assert bar.open == bar.close and bar.high == bar.close and bar.low == bar.close


def test_daily_bars_span_the_days_quotes_and_end_at_the_clock() -> None:
    market = SimulatedMarket(seed=3, clock=lambda: NOW)
    found = recent(market, "MSFT", "1d", 5)
    assert [b.time for b in found.bars] == [datetime(2026, 11, day, tzinfo=UTC) for day in (21, 22, 23, 24, 25)]
    today = found.bars[-1]
    assert today.close == market.quote("MSFT").last  # the forming bar closes at the current quote
    minutes = recent(market, "MSFT", "1m", 500).bars
    todays_minutes = [b for b in minutes if b.time >= today.time]
    assert today.high >= max(b.high for b in todays_minutes) and today.low <= min(b.low for b in todays_minutes)
    yesterday = found.bars[-2]
    assert yesterday.close == market.quote("MSFT", at=today.time - timedelta(minutes=1)).last
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in found.bars)


def test_no_bar_starts_after_the_markets_clock_and_the_same_seed_gives_the_same_bars() -> None:
    clock = ManualClock(NOW)
    market = SimulatedMarket(seed=11, clock=clock)
    before = recent(market, "NVDA", "1m", 10)
    assert before.bars[-1].time == NOW.replace(second=0) and before.as_of == NOW
    clock.advance(timedelta(minutes=3))
    after = recent(market, "NVDA", "1m", 10)
    assert after.bars[-1].time == NOW.replace(second=0) + timedelta(minutes=3)
    assert after.bars[:7] == before.bars[3:]  # the past does not change as the clock runs
    assert recent(SimulatedMarket(seed=11, clock=clock), "NVDA", "1m", 10) == after


def test_csv_replay_bars_are_the_files_completed_rows(tmp_path: Path) -> None:
    (tmp_path / "AAPL.csv").write_text(DAILY)
    market = CsvMarket.from_directory(tmp_path, clock=lambda: datetime(2024, 1, 4, 12, tzinfo=UTC))
    found = recent(market, "AAPL", "1d", 10)
    assert [(b.open, b.high, b.low, b.close, b.volume) for b in found.bars] == [
        (Decimal("187.15"), Decimal("188.44"), Decimal("183.89"), Decimal("185.64"), 82488700),
        (Decimal("184.22"), Decimal("185.88"), Decimal("183.43"), Decimal("184.25"), 58414500),
    ]  # Jan 4 has not closed at noon
    assert found.bars[-1].close == market.quote("AAPL").last


@pytest.mark.parametrize(
    ("interval", "count", "message"), [("5m", 10, "Unknown interval '5m'"), ("1d", 0, "between 1")]
)
def test_a_bad_interval_or_count_says_what_to_ask_for(interval: str, count: int, message: str) -> None:
    with pytest.raises(BadBarsRequest, match=message):
        recent(SimulatedMarket(clock=lambda: NOW), "AAPL", interval, count)


def test_intervals_are_named_case_insensitively_and_unknown_symbols_are_refused() -> None:
    assert interval_of(" 1D ") == timedelta(days=1) and interval_of("1m") == timedelta(minutes=1)
    with pytest.raises(UnknownSymbol, match="ZZZZ"):
        recent(SimulatedMarket(clock=lambda: NOW), "ZZZZ")


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    minutes=st.integers(0, 3 * 365 * 1440),
    symbol=st.sampled_from(["AAPL", "NVDA", "SPY", "KO"]),
)
def test_a_days_bar_bounds_every_minute_of_it_and_closes_at_the_last_quote(
    seed: int, minutes: int, symbol: str
) -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    market = SimulatedMarket(seed=seed, clock=lambda: now)
    day = recent(market, symbol, "1d", 1).bars[-1]
    minute_bars = [b for b in recent(market, symbol, "1m", 500).bars if b.time >= day.time]
    assert day.time <= now and all(b.time <= now for b in minute_bars)
    assert day.close == market.quote(symbol).last == minute_bars[-1].close
    if minute_bars[0].time == day.time:  # the day began within the last 500 minutes
        assert day.open == minute_bars[0].open
    assert day.high == max([day.high, *(b.high for b in minute_bars)])
    assert day.low == min([day.low, *(b.low for b in minute_bars)])
