"""The application layer (`tradedesk.app.desk`) on a real database: users, agents, scoping, limits, pausing, decisions,
orders and today's P&L. Turns use a scripted model in-process (the only double); schedules need the job tables,
so those tests run on an initialized SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import agentrecord
from agentrecord import UnknownProvider
from agentrecord.testing import ScriptedModel, call, scripted
from tests.factories import NOW
from tests.tradedesk.web.conftest import initialized
from tradedesk.agents.models import Daytrader, StockInvestor
from tradedesk.app import desk
from tradedesk.brokerage.accounts import Order
from tradedesk.brokerage.equity import EquitySnapshot
from tradedesk.users import User, identity

"""10:00 in New York on a Wednesday: the exchange is open."""


@pytest.fixture(autouse=True)
def market(frozen_market: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEDESK_EXCHANGE_HOURS", "nyse")
    monkeypatch.setenv("OPENAI_SECRET", "sk-env")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_SECRET", raising=False)


@pytest.fixture
def jobs_db(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file as `tradedesk init` leaves it (the job and schedule tables included)."""
    engine = agentrecord.create_engine(initialized(f"sqlite:///{tmp_path}/desk.db"))
    yield engine
    engine.dispose()


def user(session: Session, email: str) -> User:
    made = desk.add_user(session, email)
    session.commit()
    return made


def talk(agent: Daytrader | StockInvestor, *steps: object) -> Any:
    with scripted(type(agent), ScriptedModel(list(steps))):  # type: ignore[arg-type]
        return agent.talk("go")


def test_add_user_opens_an_account_sets_a_password_and_refuses_duplicates_and_bad_input(db: Engine) -> None:
    with Session(db) as session:
        alice = desk.add_user(session, "  Alice@Example.COM ", "correct horse")
        session.commit()
        assert alice.email == "alice@example.com"
        assert desk.Desk(session, alice).portfolio().cash == Decimal("100000")
        assert identity.authenticate(session, "alice@example.com", "correct horse").id == alice.id
        with pytest.raises(desk.Conflict, match="already exists") as taken:
            desk.add_user(session, "ALICE@example.com")
        assert taken.value.status == 409
        with pytest.raises(desk.Invalid, match="Not an email") as bad:
            desk.add_user(session, "alice.example.com")
        assert bad.value.status == 422
        with pytest.raises(desk.Invalid, match="at least 8"):
            desk.add_user(session, "bob@example.com", "short")
        session.rollback()
        assert session.scalars(select(User.email)).all() == ["alice@example.com"]
        with pytest.raises(desk.NotFound, match=r"No user carol@example\.com"):
            desk.user_by_email(session, "carol@example.com")


def test_new_agent_refuses_unknown_kinds_providers_without_a_key_and_empty_models(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(db) as session:
        d = desk.Desk(session, user(session, "alice@example.com"))
        with pytest.raises(desk.Invalid, match="Unknown agent kind 'robot'"):
            d.new_agent("robot")
        with pytest.raises(desk.Invalid, match="Provider anthropic has no key"):
            d.new_agent("daytrader", "anthropic")
        with pytest.raises(UnknownProvider):
            d.new_agent("daytrader", "no-such-ai")
        with pytest.raises(desk.Invalid, match="1 to 200"):
            d.new_agent("daytrader", "openai", "  ")
        assert d.agents() == []
        made = d.new_agent("Stock-Investor", "openai", "gpt-test")
        assert (made.kind, made.provider, made.model) == ("stock_investor", "openai", "gpt-test")
        monkeypatch.setenv("TRADEDESK_SECRET_KEY", "a-server-secret-for-tests")
        identity.store_key(session, d.user, "anthropic", "sk-ant-own")
        session.commit()
        assert d.new_agent("daytrader", "anthropic").provider == "anthropic"  # the user's own key makes it ready
        assert [a.label for a in d.agents()] == ["daytrader/1", "stock_investor/1"]


def test_a_desk_reaches_only_its_users_agents_orders_and_held_calls(db: Engine) -> None:
    with Session(db) as session:
        alice, bob = (
            desk.Desk(session, user(session, "alice@example.com")),
            desk.Desk(session, user(session, "bob@example.com")),
        )
        mine, theirs = alice.new_agent("daytrader", "openai"), bob.new_agent("daytrader", "openai")
        held = talk(theirs, call("order_entry", symbol="AAPL", side="buy", quantity=1000), "Asked.")
        (pending,) = held.pending
        talk(bob.new_agent("stock_investor", "openai"), call("order_entry", symbol="KO", side="buy", quantity=1), "Ok.")
        ((order_id,),) = session.execute(select(Order.id).where(Order.user_id == bob.user.id)).all()
        for agent_id in (theirs.id, 999):
            with pytest.raises(desk.NotFound, match=rf"^No agent daytrader/{agent_id}\.$"):
                alice.agent("daytrader", agent_id)
        with pytest.raises(desk.NotFound):
            alice.agent("robot", mine.id)
        with pytest.raises(desk.NotFound):
            alice.agent("daytrader", "1 OR 1=1")
        with pytest.raises(desk.NotFound, match="has no agent daytrader/"):
            alice.agent_by_ref(f"daytrader/{theirs.id}")
        assert alice.agent_by_ref("daytrader") is mine
        assert alice.agents() == [mine] and alice.approvals() == [] and alice.orders() == []
        with pytest.raises(desk.NotFound, match=f"No agent is holding tool call {pending.call_id}."):
            alice.decide(pending.call_id, None)
        with pytest.raises(desk.NotFound, match=f"No order {order_id}."):
            alice.cancel_order(order_id)
        with pytest.raises(desk.NotFound):
            alice.cancel_order(2**70)
        assert [a["call_id"] for a in bob.approvals()] == [pending.call_id]
        assert theirs.pending_approvals and [o["status"] for o in bob.orders()] == ["filled"]


def test_set_limits_validates_every_value_and_blank_means_no_limit(db: Engine) -> None:
    with Session(db) as session:
        d = desk.Desk(session, user(session, "alice@example.com"))
        agent = d.new_agent("daytrader", "openai")
        for name, value, message in [
            ("max_order_notional", "-1", "zero or more"),
            ("max_order_notional", "lots", "must be a number"),
            ("max_position_weight", "NaN", "zero or more"),
            ("approval_threshold", "", "needs a value"),
            ("max_orders_per_day", "2.5", "whole number"),
            ("max_orders_per_day", "-3", "zero or more"),
        ]:
            with pytest.raises(desk.Invalid, match=message):
                d.set_limits(agent, **{name: value})
        session.rollback()
        d.set_limits(
            agent,
            approval_threshold="500",
            max_order_notional=" 2500.50 ",
            max_position_weight="",
            max_orders_per_day="3",
        )
        session.expire_all()
        again = d.agent("daytrader", agent.id)
        assert again.approval_threshold == Decimal("500") and again.max_order_notional == Decimal("2500.50")
        assert again.max_position_weight is None and again.max_orders_per_day == 3
        d.set_limits(again, max_orders_per_day="")
        assert d.agent("daytrader", agent.id).max_orders_per_day is None


def test_a_paused_agent_has_its_schedules_paused_and_its_orders_refused(jobs_db: Engine) -> None:
    with Session(jobs_db) as session:
        d = desk.Desk(session, user(session, "alice@example.com"))
        agent = d.new_agent("daytrader", "openai")
        first = d.add_schedule(agent, "look around", cron="0 15 * * 1-5")
        assert first.active and d.status(agent) == "idle"
        d.set_paused(agent, True)
        assert d.status(agent) == "paused" and [s.active for s in d.schedules(agent)] == [False]
        second = d.add_schedule(agent, "and again", every="1h")
        assert not second.active  # added while paused: paused too
        with pytest.raises(desk.Invalid, match="the prompt is empty"):
            d.add_schedule(agent, "  ", every="1h")
        with pytest.raises(desk.Conflict, match=f"{agent.label} is paused: resume it on its page first."):
            d.enqueue(agent, "hello")  # a paused agent takes no turn either
        assert d.jobs() == []
        with pytest.raises(desk.Invalid):
            d.add_schedule(agent, "x")
        reply = talk(agent, call("order_entry", symbol="KO", side="buy", quantity=1), "Tried.")
        assert "paused by its owner" in str(reply.messages[-2].parts[0].content)  # type: ignore[union-attr]
        assert session.scalars(select(Order)).all() == []
        d.set_paused(agent, False)
        assert sorted(s.active for s in d.schedules(agent)) == [True, True]
        talk(agent, call("order_entry", symbol="KO", side="buy", quantity=1), "Bought.")
        assert [o["status"] for o in d.orders()] == ["filled"]
        job = d.enqueue(agent, "later")
        assert d.job(job.id).status == "queued"
        bob = desk.Desk(session, user(session, "bob@example.com"))
        with pytest.raises(desk.NotFound, match=f"No job {job.id}."):
            bob.job(job.id)
        with pytest.raises(desk.NotFound, match=f"No schedule {first.id}."):
            bob.schedule(first.id)
        with pytest.raises(desk.Invalid, match="empty"):
            d.enqueue(agent, "   ")


def test_a_halted_user_s_agents_take_no_turn_and_a_schedule_added_meanwhile_waits_for_the_resume(
    jobs_db: Engine,
) -> None:
    with Session(jobs_db) as session:
        d = desk.Desk(session, user(session, "alice@example.com"))
        agent = d.new_agent("daytrader", "openai")
        d.set_halted(True)
        with pytest.raises(desk.Conflict, match="Your agents are halted: resume them first"):
            d.enqueue(agent, "hello")
        with pytest.raises(desk.Conflict, match="halted"):
            d.stream(agent, "hello")
        with pytest.raises(desk.Invalid, match="the prompt is empty"):
            d.enqueue(agent, " ")  # the prompt is checked first: its line does not depend on the agent's state
        assert d.jobs() == [] and agent.history() == []
        made = d.add_schedule(agent, "look around", every="1h")
        assert not made.active  # added while halted: paused, like those the halt paused
        d.set_halted(False)
        assert [s.active for s in d.schedules(agent)] == [True]
        assert d.enqueue(agent, "hello").status == "queued"


def test_deciding_a_call_twice_is_a_conflict(db: Engine) -> None:
    with Session(db) as session:
        d = desk.Desk(session, user(session, "alice@example.com"))
        agent = d.set_limits(d.new_agent("daytrader", "openai"), approval_threshold="100")
        held = talk(agent, call("order_entry", symbol="KO", side="buy", quantity=5), "Asked.")
        (pending,) = held.pending
        assert d.status(agent) == "waiting_approval"
        with pytest.raises(desk.Conflict, match="waiting for your decision"):
            d.enqueue(agent, "something else")
        (row,) = d.approvals()
        assert row["tool"] == "order_entry" and row["notional"] > Decimal(100)
        with scripted(Daytrader, ScriptedModel(["Bought 5 KO."])):
            decided = d.decide(pending.call_id, None)
        assert decided.verb == "approved" and decided.reply is not None and decided.reply.text == "Bought 5 KO."
        for reason in (None, "too late"):
            with pytest.raises(desk.Conflict, match="a decision is final") as twice:
                d.decide(pending.call_id, reason)
            assert twice.value.status == 409
        assert [(o["quantity"], o["status"]) for o in d.orders()] == [(5, "filled")]


def test_orders_filter_by_status_and_refuse_an_unknown_one(db: Engine) -> None:
    with Session(db) as session:
        d = desk.Desk(session, user(session, "alice@example.com"))
        agent = d.new_agent("stock_investor", "openai")
        talk(
            agent,
            call("order_entry", symbol="KO", side="buy", quantity=2),
            call(
                "order_entry",
                symbol="KO",
                side="buy",
                quantity=1,
                order_type="limit",
                limit_price=1.0,
                time_in_force="gtc",
            ),
            call("order_entry", symbol="NOPE", side="buy", quantity=1),
            "Done.",
        )
        assert [o["status"] for o in d.orders()] == ["rejected", "new", "filled"]  # newest first
        assert [o["quantity"] for o in d.orders("filled")] == [2]
        (resting,) = d.orders("new")
        assert resting["agent"] == agent.label and resting["limit_price"] == Decimal("1.00")
        assert d.orders("expired") == [] and len(d.orders(limit=1)) == 1
        with pytest.raises(desk.Invalid, match="Unknown order status 'lost'"):
            d.orders("lost")
        assert d.cancel_order(resting["id"])["status"] == "cancelled"
        with pytest.raises(desk.Conflict, match="only open orders"):
            d.cancel_order(resting["id"])


def test_today_pnl_is_equity_now_minus_the_first_snapshot_of_the_new_york_day(db: Engine) -> None:
    with Session(db) as session:
        d = desk.Desk(session, user(session, "alice@example.com"))
        first = d.portfolio()
        assert d.today_pnl(first) == 0  # the first look of the day is its opening
        session.query(EquitySnapshot).delete()
        yesterday, opening = NOW - timedelta(days=1), NOW - timedelta(minutes=25)
        before_midnight = datetime(2026, 11, 25, 4, 30, tzinfo=UTC)  # 23:30 in New York, the day before
        for at, equity in ((yesterday, "91000"), (before_midnight, "95000"), (opening, "99000.25")):
            session.add(EquitySnapshot(user_id=d.user.id, at=at, cash=Decimal(equity), equity=Decimal(equity)))
        session.commit()
        book = d.portfolio()
        assert book.equity == Decimal("100000")
        assert d.today_pnl(book) == Decimal("999.75")
        assert [e for _, e in d.equity_history()] == [
            Decimal("91000"),
            Decimal("95000"),
            Decimal("99000.25"),
            Decimal("100000"),
        ]
