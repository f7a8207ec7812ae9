"""The seed's tools act only for the agent's owner; large orders wait for the owner's approval."""

from __future__ import annotations

import inspect
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agentrecord import ApprovalError
from agentrecord.testing import ScriptedModel, call, scripted
from tradedesk.agents.models import Daytrader, StockInvestor
from tradedesk.agents.trading_tools import (
    CancelOrder,
    FundamentalsFeed,
    OrderEntry,
    PortfolioBook,
    PositionBook,
    QuoteFeed,
)
from tradedesk.brokerage import services
from tradedesk.brokerage.accounts import Order
from tradedesk.brokerage.equity import EquitySnapshot
from tradedesk.users import User

pytestmark = pytest.mark.usefixtures("frozen_market")


def add_trader(engine: Engine, email: str) -> int:
    with Session(engine) as session:
        trader = Daytrader(user=User(email=email), provider="openai")
        session.add(trader)
        session.commit()
        return trader.id


def portfolio(engine: Engine, email: str) -> object:
    with Session(engine) as session:
        user = session.query(User).filter_by(email=email).one()
        broker = services.broker()
        broker.open_account(session, user.id)
        result = broker.portfolio(session, user.id)
        session.commit()
        return result


def talk(engine: Engine, trader_id: int, steps: list[object], prompt: str = "go") -> object:
    with scripted(Daytrader, ScriptedModel(steps)), Session(engine) as session:  # type: ignore[arg-type]
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        return trader.talk(prompt)


def test_no_tool_takes_an_argument_that_could_name_a_user_or_account() -> None:
    for tool in (QuoteFeed, OrderEntry, PositionBook, FundamentalsFeed, PortfolioBook, CancelOrder):
        params = set(inspect.signature(tool.call).parameters) - {"self"}
        assert not params & {"user", "user_id", "email", "account", "account_id", "owner"}, tool


def test_an_order_lands_in_the_owners_account_only(db: Engine) -> None:
    alice, _bob = add_trader(db, "alice@example.com"), add_trader(db, "bob@example.com")
    talk(db, alice, [call("order_entry", symbol="KO", side="buy", quantity=10), "Bought 10 KO."])
    a, b = portfolio(db, "alice@example.com"), portfolio(db, "bob@example.com")
    assert [(p.symbol, p.quantity) for p in a.positions] == [("KO", 10)]  # type: ignore[attr-defined]
    assert b.positions == [] and b.cash == Decimal("100000")  # type: ignore[attr-defined]


def test_crafted_arguments_cannot_reach_another_users_account(db: Engine) -> None:
    alice, bob = add_trader(db, "alice@example.com"), add_trader(db, "bob@example.com")
    talk(db, bob, [call("order_entry", symbol="KO", side="buy", quantity=10), "ok"])
    before = portfolio(db, "bob@example.com")
    crafted = [
        call("order_entry", symbol="KO", side="sell", quantity=10),  # sells what only Bob holds
        call("order_entry", symbol=f"KO user_id={bob}", side="sell", quantity=1),
        call("order_entry", symbol="bob@example.com", side="buy", quantity=1),
        call("position_book"),
    ]
    reply = talk(db, alice, [crafted, "done"])
    after = portfolio(db, "bob@example.com")
    assert after.cash == before.cash and after.positions == before.positions  # type: ignore[attr-defined]
    alice_book = portfolio(db, "alice@example.com")
    assert alice_book.positions == [] and alice_book.cash == Decimal("100000")  # type: ignore[attr-defined]
    seen = str(reply.messages)  # type: ignore[attr-defined]
    assert "bob@example.com" not in seen.replace("symbol='bob@example.com'", "").replace('"bob@example.com"', "")


def test_a_large_order_waits_for_approval_and_another_user_cannot_approve_it(db: Engine) -> None:
    alice, bob = add_trader(db, "alice@example.com"), add_trader(db, "bob@example.com")
    big = call("order_entry", symbol="AAPL", side="buy", quantity=100)  # ~ $20k > $10k threshold
    reply = talk(db, alice, [big])
    assert [p.call_id for p in reply.pending] == [big.id]  # type: ignore[attr-defined]
    with scripted(Daytrader, ScriptedModel([])), Session(db) as session:
        intruder = session.get(Daytrader, bob)
        assert intruder is not None
        with pytest.raises(ApprovalError, match="not awaiting approval"):
            intruder.approve(big.id)
    assert portfolio(db, "alice@example.com").positions == []  # type: ignore[attr-defined]
    with scripted(Daytrader, ScriptedModel(["Bought 100 AAPL."])), Session(db) as session:
        owner = session.get(Daytrader, alice)
        assert owner is not None
        resumed = owner.approve(big.id)
        assert resumed is not None and resumed.text == "Bought 100 AAPL."
        with pytest.raises(ApprovalError, match="already approved"):
            owner.approve(big.id)
    assert [(p.symbol, p.quantity) for p in portfolio(db, "alice@example.com").positions] == [("AAPL", 100)]  # type: ignore[attr-defined]


def test_a_stop_order_waits_for_approval_by_its_stop_notional_and_a_small_one_rests_at_once(db: Engine) -> None:
    alice = add_trader(db, "alice@example.com")
    small = call("order_entry", symbol="KO", side="buy", quantity=10, order_type="stop", stop_price=150.0)
    reply = talk(db, alice, [small, "ok"])
    results = [p.content for m in reply.messages for p in getattr(m, "parts", []) if p.part_kind == "tool-return"]  # type: ignore[attr-defined]
    assert results[-1]["status"] == "new" and results[-1]["order_type"] == "stop"
    assert results[-1]["stop_price"] == 150.0 and results[-1]["limit_price"] == 157.5  # the stop + its 5% collar
    big = call("order_entry", symbol="KO", side="buy", quantity=100, order_type="stop", stop_price=150.0)  # $15,000
    reply = talk(db, alice, [big])
    assert [p.call_id for p in reply.pending] == [big.id]  # type: ignore[attr-defined]
    assert portfolio(db, "alice@example.com").buying_power == Decimal("98425")  # type: ignore[attr-defined]  (only the small one)


def tool_results(reply: object) -> list[dict[str, object]]:
    return [p.content for m in reply.messages for p in getattr(m, "parts", []) if p.part_kind == "tool-return"]  # type: ignore[attr-defined]


def test_cancel_order_cancels_the_owners_open_order_and_cannot_touch_another_users(db: Engine) -> None:
    alice, bob = add_trader(db, "alice@example.com"), add_trader(db, "bob@example.com")
    stop = call("order_entry", symbol="KO", side="buy", quantity=5, order_type="stop", stop_price=150.0)
    [placed] = tool_results(talk(db, alice, [stop, "ok"]))
    assert placed["status"] == "new"
    [refused] = tool_results(talk(db, bob, [call("cancel_order", order_id=placed["id"]), "ok"]))
    assert refused["status"] == "not cancelled" and "no order" in str(refused["reason"])
    [cancelled] = tool_results(talk(db, alice, [call("cancel_order", order_id=placed["id"]), "ok"]))
    assert (cancelled["status"], cancelled["reason"]) == ("cancelled", f"cancelled by daytrader/{alice}")
    [again] = tool_results(talk(db, alice, [call("cancel_order", order_id=placed["id"]), "ok"]))
    assert again["status"] == "not cancelled" and "only open orders" in str(again["reason"])
    assert portfolio(db, "alice@example.com").buying_power == Decimal("100000")  # type: ignore[attr-defined]


def test_cancelling_an_order_above_the_approval_threshold_waits_for_approval(db: Engine) -> None:
    alice = add_trader(db, "alice@example.com")
    with Session(db) as session:
        trader = session.get(Daytrader, alice)
        assert trader is not None
        trader.approval_threshold = Decimal("1000")
        session.commit()
    small = call("order_entry", symbol="KO", side="buy", quantity=5, order_type="stop", stop_price=150.0)  # $750
    [placed] = tool_results(talk(db, alice, [small, "ok"]))
    big = call("order_entry", symbol="KO", side="buy", quantity=100, order_type="stop", stop_price=150.0)  # $15,000
    assert [p.call_id for p in talk(db, alice, [big]).pending] == [big.id]  # type: ignore[attr-defined]
    with scripted(Daytrader, ScriptedModel(["placed"])), Session(db) as session:
        owner = session.get(Daytrader, alice)
        assert owner is not None
        owner.approve(big.id)
    with Session(db) as session:
        [big_id] = [o.id for o in session.scalars(select(Order)) if o.quantity == 100]
    [cancelled] = tool_results(talk(db, alice, [call("cancel_order", order_id=placed["id"]), "ok"]))
    assert cancelled["status"] == "cancelled"  # below the threshold: no approval
    cancel_big = call("cancel_order", order_id=big_id)
    assert [p.call_id for p in talk(db, alice, [cancel_big]).pending] == [cancel_big.id]  # type: ignore[attr-defined]
    with Session(db) as session:
        assert session.scalar(select(Order.status).where(Order.id == big_id)) == "new"


def test_the_broker_enforces_the_agents_risk_limit_whatever_the_model_asks(db: Engine) -> None:
    alice = add_trader(db, "alice@example.com")
    with Session(db) as session:
        trader = session.get(Daytrader, alice)
        assert trader is not None
        trader.max_order_notional = Decimal("1000")
        trader.approval_threshold = Decimal("1000000")
        session.commit()
    reply = talk(db, alice, [call("order_entry", symbol="MSFT", side="buy", quantity=50), "ok"])
    results = [p.content for m in reply.messages for p in getattr(m, "parts", []) if p.part_kind == "tool-return"]  # type: ignore[attr-defined]
    assert results and results[0]["status"] == "rejected" and "limit" in results[0]["reason"].lower()
    assert portfolio(db, "alice@example.com").positions == []  # type: ignore[attr-defined]


def test_both_agent_kinds_declare_the_seeds_tools_and_skills() -> None:
    trader, investor = Daytrader.agent_spec(), StockInvestor.agent_spec()
    assert [t.tool_name() for t in trader.tools] == ["quote_feed", "order_entry", "position_book", "cancel_order"]
    assert [t.tool_name() for t in investor.tools] == [
        "fundamentals_feed",
        "portfolio_book",
        "order_entry",
        "cancel_order",
    ]
    assert [s.name for s in trader.skills] == ["find_trade", "enter_trade", "exit_trade"]
    assert [s.name for s in investor.skills] == ["find_investment", "start_position", "rebalance"]
    assert set(trader.confirm) == set(investor.confirm) == {"order_entry", "cancel_order"}


def test_an_order_filled_in_part_says_how_much_and_every_fill_adds_an_equity_point(db: Engine) -> None:
    alice = add_trader(db, "alice@example.com")
    with Session(db) as session, session.begin():  # limits wide enough for an order beyond the displayed size
        trader = session.get_one(Daytrader, alice)
        trader.approval_threshold, trader.max_order_notional, trader.max_position_weight = Decimal(10**6), None, None
    shown = services.market().quote("KO").ask_size
    assert shown is not None
    market, big = (
        call("order_entry", symbol="KO", side="buy", quantity=10),
        call("order_entry", symbol="KO", side="buy", quantity=shown + 50),
    )
    small, partial = tool_results(talk(db, alice, [[market, big], "ok"]))
    assert small["status"] == "filled" and "filled_quantity" not in small and "commission" not in small
    assert (partial["status"], partial["filled_quantity"]) == ("partially_filled", shown)
    assert "the other 50 fill as shares are offered" in str(partial["reason"])
    with Session(db) as session:
        points = session.scalars(select(EquitySnapshot).order_by(EquitySnapshot.id)).all()
    assert len(points) == 2  # one per order that filled, taken in its own transaction
    assert points[-1].equity == portfolio(db, "alice@example.com").equity  # type: ignore[attr-defined]
