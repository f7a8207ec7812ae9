"""Drawdown and P&L per New York day from equity snapshots, on a real database, scoped to their owner."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.tradedesk.brokerage import new_user
from tradedesk.brokerage.equity import EquitySnapshot
from tradedesk.brokerage.equity_report import DayPnl, daily_pnl, drawdown, report

CURVE = [  # (UTC time, equity): Monday and Tuesday, two snapshots each, then Wednesday morning in New York
    (datetime(2026, 11, 23, 15, 0, tzinfo=UTC), Decimal("100000.00")),
    (datetime(2026, 11, 23, 20, 0, tzinfo=UTC), Decimal("101000.00")),
    (datetime(2026, 11, 24, 15, 0, tzinfo=UTC), Decimal("99000.00")),
    (datetime(2026, 11, 25, 1, 0, tzinfo=UTC), Decimal("98500.00")),  # 20:00 on Tuesday in New York
    (datetime(2026, 11, 25, 15, 0, tzinfo=UTC), Decimal("100000.00")),
]
WEDNESDAY = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def test_drawdown_is_the_deepest_fall_from_a_running_peak() -> None:
    found = drawdown([value for _, value in CURVE])
    assert found is not None
    assert (found.max_amount, found.max_percent) == (Decimal("-2500.00"), Decimal("-2.48"))
    assert (found.peak, found.current_amount, found.current_percent) == (
        Decimal("101000.00"),
        Decimal("-1000.00"),
        Decimal("-0.99"),
    )
    rising = drawdown([Decimal(1), Decimal(2), Decimal(3)])
    assert rising is not None and rising.max_amount == 0 and rising.current_amount == 0
    assert drawdown([]) is None


def test_a_dip_too_small_to_show_is_zero_percent_not_minus_zero() -> None:
    found = drawdown([Decimal("100000.00"), Decimal("99995.80")])
    assert found is not None and found.max_amount == Decimal("-4.20")
    assert str(found.max_percent) == str(found.current_percent) == "0.00"


def test_daily_pnl_is_close_to_close_by_new_york_day() -> None:
    assert daily_pnl(CURVE) == [
        DayPnl(date(2026, 11, 23), Decimal("101000.00"), Decimal("1000.00")),  # from the day's first snapshot
        DayPnl(date(2026, 11, 24), Decimal("98500.00"), Decimal("-2500.00")),
        DayPnl(date(2026, 11, 25), Decimal("100000.00"), Decimal("1500.00")),
    ]
    assert daily_pnl(CURVE[2:], before=Decimal("101000.00"))[0].pnl == Decimal("-2500.00")
    assert daily_pnl([]) == []


def test_report_reads_only_the_owners_snapshots_in_the_window(db: Engine) -> None:
    alice, bob = new_user(db), new_user(db)
    with Session(db) as session, session.begin():
        for at, value in CURVE:
            session.add(EquitySnapshot(user_id=alice, at=at, cash=value, equity=value))
        session.add(EquitySnapshot(user_id=bob, at=CURVE[1][0], cash=Decimal(1), equity=Decimal(1)))
    with Session(db) as session:
        everything = report(session, alice, WEDNESDAY, days=30)
        assert everything.snapshots == CURVE
        assert [d.pnl for d in everything.days] == [Decimal("1000.00"), Decimal("-2500.00"), Decimal("1500.00")]
        assert everything.drawdown is not None and everything.drawdown.max_amount == Decimal("-2500.00")
        two_days = report(session, alice, WEDNESDAY, days=2)  # Tuesday is measured from Monday's close
        assert [(d.day.day, d.pnl) for d in two_days.days] == [(24, Decimal("-2500.00")), (25, Decimal("1500.00"))]
        before_any = report(session, alice, datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
        assert before_any.snapshots == CURVE[:1]  # nothing after the moment asked about
        stranger = report(session, new_user(db), WEDNESDAY)
        assert stranger.snapshots == [] and stranger.days == [] and stranger.drawdown is None
        with pytest.raises(ValueError, match="between 1 and 366 days"):
            report(session, alice, WEDNESDAY, days=0)
