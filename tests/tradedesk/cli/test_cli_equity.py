"""`tradedesk equity EMAIL`: P&L per day and drawdown from the user's snapshots, with one taken now."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from tests.factories import NOW
from tests.tradedesk.cli.test_cli import ALICE, error, run, run_json
from tests.tradedesk.template_db import initialized
from tradedesk.agents.models import User
from tradedesk.brokerage.equity import EquitySnapshot

BOB = "bob@example.com"
PAST = [
    (datetime(2026, 11, 23, 15, 0, tzinfo=UTC), Decimal("99000.00")),
    (datetime(2026, 11, 23, 20, 0, tzinfo=UTC), Decimal("101000.00")),
    (datetime(2026, 11, 24, 20, 0, tzinfo=UTC), Decimal("98000.00")),
]


pytestmark = pytest.mark.usefixtures("frozen_market")


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A database where alice has Monday's and Tuesday's snapshots and bob one of his own."""
    db = f"sqlite:///{tmp_path}/equity.db"
    initialized(db)
    run(db, "user", "add", ALICE)
    run(db, "user", "add", BOB)
    engine = create_engine(db)
    with Session(engine) as session, session.begin():
        ids = {u.email: u.id for u in session.scalars(select(User))}
        for at, value in PAST:
            session.add(EquitySnapshot(user_id=ids[ALICE], at=at, cash=value, equity=value))
        session.add(EquitySnapshot(user_id=ids[BOB], at=PAST[0][0], cash=Decimal(5), equity=Decimal(5)))
    engine.dispose()
    return db


def test_equity_json_gives_pnl_per_day_and_drawdown_ending_now(url: str) -> None:
    equity_now = Decimal(run_json(url, "portfolio", ALICE)["equity"])
    doc = run_json(url, "equity", ALICE)
    assert doc["user"] == ALICE and doc["snapshots"][-1]["at"] == NOW.isoformat()
    assert [(d["day"], Decimal(d["pnl"])) for d in doc["days"]] == [
        ("2026-11-23", Decimal("2000")),
        ("2026-11-24", Decimal("-3000")),
        ("2026-11-25", equity_now - Decimal("98000")),
    ]
    assert Decimal(doc["drawdown"]["max_amount"]) == min(Decimal("-3000"), equity_now - Decimal("101000"))
    assert Decimal(doc["drawdown"]["peak"]) == max(Decimal("101000"), equity_now)


def test_equity_prints_the_days_and_the_drawdown(url: str) -> None:
    out = run(url, "equity", ALICE, "--days", "2").stdout
    assert "P&L per day" in out and "2026-11-24" in out and "-3,000.00" in out
    assert "2026-11-23" not in out  # outside the two days, though Tuesday is measured from its close
    assert "max amount" in out


def test_equity_refuses_an_unknown_user_or_day_count_in_one_line(url: str) -> None:
    assert "nobody@example.com" in error(url, "equity", "nobody@example.com")
    assert "between 1 and 366 days" in error(url, "equity", ALICE, "--days", "0")


def test_equity_of_a_user_without_history_starts_from_now(url: str) -> None:
    run(url, "user", "add", "carol@example.com")
    doc = run_json(url, "equity", "carol@example.com")
    assert len(doc["snapshots"]) == 1 and [Decimal(d["pnl"]) for d in doc["days"]] == [0]
    assert Decimal(doc["drawdown"]["max_amount"]) == 0
