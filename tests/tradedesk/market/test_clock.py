"""The market clock from the environment: one simulated time for every process, a pure function of real time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from tradedesk.market import default_market
from tradedesk.market.clock import SimulatedClock, clock_from_env, real_clock

START = "2025-03-03T09:30:00-05:00"
OPEN = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def test_unset_start_is_the_real_clock() -> None:
    assert clock_from_env({}) is real_clock
    assert abs(real_clock() - datetime.now(UTC)) < timedelta(seconds=1)


def test_at_speed_60_one_real_second_is_a_simulated_minute() -> None:
    clock = clock_from_env(
        {"TRADEDESK_CLOCK_START": START, "TRADEDESK_CLOCK_ANCHOR": "1700000000", "TRADEDESK_CLOCK_SPEED": "60"}
    )
    assert isinstance(clock, SimulatedClock)
    assert clock.at(1_700_000_000) == OPEN
    assert clock.at(1_700_000_001) == OPEN + timedelta(minutes=1)
    assert clock.at(1_700_000_000 + 6.5 * 60) == OPEN + timedelta(hours=6, minutes=30)  # the whole session


def test_the_simulated_clock_runs_with_real_time() -> None:
    anchor = time.time()
    clock = clock_from_env(
        {"TRADEDESK_CLOCK_START": START, "TRADEDESK_CLOCK_ANCHOR": str(anchor), "TRADEDESK_CLOCK_SPEED": "60"}
    )
    first = clock()
    time.sleep(0.25)
    elapsed = clock() - first
    assert OPEN <= first < OPEN + timedelta(seconds=60)  # under a second has passed since the anchor
    assert timedelta(seconds=15) <= elapsed < timedelta(seconds=45)


def test_the_anchor_defaults_to_start_and_the_speed_to_one() -> None:
    clock = clock_from_env({"TRADEDESK_CLOCK_START": START})
    assert clock == SimulatedClock(OPEN, OPEN.timestamp(), 1.0)
    assert abs(clock() - datetime.now(UTC)) < timedelta(seconds=1)  # no offset: real time
    frozen = clock_from_env({"TRADEDESK_CLOCK_START": START, "TRADEDESK_CLOCK_SPEED": "0"})
    assert frozen() == OPEN


def test_separate_processes_agree_on_simulated_time() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEDESK_")}
    env |= {"TRADEDESK_CLOCK_START": START, "TRADEDESK_CLOCK_ANCHOR": "1700000000", "TRADEDESK_CLOCK_SPEED": "60"}
    script = "from tradedesk.market.clock import clock_from_env; print(clock_from_env().at(1700000090.5).isoformat())"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == (OPEN + timedelta(minutes=90, seconds=30)).isoformat()


def test_the_default_market_runs_on_the_environments_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEDESK_CLOCK_START", START)
    monkeypatch.setenv("TRADEDESK_CLOCK_SPEED", "0")
    monkeypatch.delenv("TRADEDESK_CLOCK_ANCHOR", raising=False)
    market = default_market()
    assert market.now() == OPEN and market.quote("AAPL").time == OPEN


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TRADEDESK_CLOCK_START": "yesterday"},
            "TRADEDESK_CLOCK_START must be an ISO 8601 datetime with a UTC offset",
        ),
        ({"TRADEDESK_CLOCK_START": "2025-03-03T09:30:00"}, "TRADEDESK_CLOCK_START must be .* has no offset"),
        (
            {"TRADEDESK_CLOCK_START": START, "TRADEDESK_CLOCK_ANCHOR": "noon"},
            "TRADEDESK_CLOCK_ANCHOR must be Unix epoch",
        ),
        (
            {"TRADEDESK_CLOCK_START": START, "TRADEDESK_CLOCK_ANCHOR": "inf"},
            "TRADEDESK_CLOCK_ANCHOR must be Unix epoch",
        ),
        ({"TRADEDESK_CLOCK_START": START, "TRADEDESK_CLOCK_SPEED": "fast"}, "TRADEDESK_CLOCK_SPEED must be a number"),
        ({"TRADEDESK_CLOCK_START": START, "TRADEDESK_CLOCK_SPEED": "-1"}, "TRADEDESK_CLOCK_SPEED must be 0 or more"),
        ({"TRADEDESK_CLOCK_SPEED": "60"}, "TRADEDESK_CLOCK_SPEED is set but TRADEDESK_CLOCK_START is not"),
        ({"TRADEDESK_CLOCK_ANCHOR": "1700000000"}, "TRADEDESK_CLOCK_ANCHOR is set but TRADEDESK_CLOCK_START"),
    ],
)
def test_bad_values_name_the_variable_and_the_expected_format(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clock_from_env(env)
