"""The portfolio page reads the equity snapshots: drawdown from the peak and P&L per day, the user's own only."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from tradedesk.app.desk import Desk
from tradedesk.brokerage import services
from tradedesk.brokerage.equity import EquitySnapshot
from tradedesk.users import User

from .conftest import signed_up

PAST = [
    (datetime(2026, 11, 23, 20, 0, tzinfo=UTC), Decimal("100500")),  # Monday
    (datetime(2026, 11, 24, 20, 0, tzinfo=UTC), Decimal("99000")),  # Tuesday
]


pytestmark = pytest.mark.usefixtures("frozen_market")


def _record(url: str, email: str, snapshots: list[tuple[datetime, Decimal]]) -> None:
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        user_id = session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        for at, value in snapshots:
            session.add(EquitySnapshot(user_id=user_id, at=at, cash=value, equity=value))
    engine.dispose()


def test_the_portfolio_page_shows_drawdown_and_pnl_per_day(live: str, web_db: str) -> None:
    alice = signed_up(live, "alice@example.com")
    signed_up(live, "bob@example.com").close()
    _record(web_db, "alice@example.com", PAST)
    _record(web_db, "bob@example.com", [(PAST[0][0], Decimal("777777"))])
    page = alice.page("/portfolio").text
    assert "P&amp;L per day" in page and "2026-11-24" in page and "2026-11-25" in page
    assert "-$1,500.00" in page  # Tuesday, from Monday's close
    assert "+$1,000.00" in page  # today: the fresh $100,000 account against Tuesday's close
    assert "max drawdown" in page and "(-1.49%)" in page and "Peak $100,500.00" in page
    assert "777,777" not in page


def test_a_new_accounts_page_has_one_day_and_no_drawdown(live: str) -> None:
    page = signed_up(live, "carol@example.com").page("/portfolio").text
    assert "2026-11-25" in page and 'max drawdown <strong class="">$0.00 (0.00%)' in page


def test_the_portfolio_page_shows_the_commissions_paid(live: str, web_db: str) -> None:
    dave = signed_up(live, "dave@example.com")
    assert "Commissions" not in dave.page("/portfolio").text  # no costs configured: no line
    engine = create_engine(web_db)
    with Session(engine) as session:
        user = session.scalars(select(User).where(User.email == "dave@example.com")).one()
        Desk(session, user).set_costs(Decimal("0.01"), Decimal("2.50"), None)
        placed = services.broker().place_order(session, user.id, symbol="AAPL", side="buy", quantity=10)
        assert (placed.status, placed.commission) == ("filled", Decimal("2.50"))
        session.commit()
    engine.dispose()
    page = dave.page("/portfolio").text
    assert "Commissions" in page and "$2.50" in page
