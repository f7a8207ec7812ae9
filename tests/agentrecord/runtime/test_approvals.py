"""Durable approvals: a turn stops on calls needing approval; approve/deny resume it, from any process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, ToolReturnPart
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from agentrecord import ApprovalError, ApprovalPending
from agentrecord.testing import ScriptedModel, call, scripted
from tests.agentrecord.approval_models import ApprovalBase, GuardedTrader, PlacedOrder
from tests.preforked import run_code

ROOT = Path(__file__).resolve().parents[3]


TABLES = ApprovalBase.metadata  # the tables `db` makes (conftest.py)


def make(engine: Engine, owner: str = "alice@example.com") -> int:
    with Session(engine) as session:
        trader = GuardedTrader(owner=owner, provider="openai")
        session.add(trader)
        session.commit()
        return trader.id


def orders(engine: Engine) -> list[tuple[int, str, int]]:
    with Session(engine) as session:
        rows = session.scalars(select(PlacedOrder).order_by(PlacedOrder.id))
        return [(o.trader_id, o.symbol, o.quantity) for o in rows]


def returns(messages: list) -> dict[str, object]:
    found: dict[str, object] = {}
    for m in messages:
        if isinstance(m, ModelRequest):
            for p in m.parts:
                if isinstance(p, ToolReturnPart):
                    found[p.tool_call_id] = p.content
    return found


def run_in_child(db_url: str, body: str) -> str:
    """Run `body` in a fresh Python process with the approval models imported and `engine` bound."""
    script = textwrap.dedent(
        f"""
        from sqlalchemy.orm import Session
        from agentrecord import create_engine
        from agentrecord.testing import ScriptedModel, call, scripted
        from tests.agentrecord.approval_models import GuardedTrader
        engine = create_engine({db_url!r})
        """
    ) + textwrap.dedent(body)
    out = run_code(script, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def big_order_turn(engine: Engine, trader_id: int) -> tuple[str, str]:
    """A turn that quotes and orders 50 shares at once ($5,000 > $1,000): returns (quote id, order id)."""
    quote, order = call("quote", symbol="AAPL"), call("place_order", symbol="AAPL", quantity=50)
    with scripted(GuardedTrader, ScriptedModel([[quote, order]])), Session(engine) as session:
        trader = session.get(GuardedTrader, trader_id)
        assert trader is not None
        reply = trader.talk("buy 50 AAPL")
    assert reply.text == "" and [(p.call_id, p.tool) for p in reply.pending] == [(order.id, "place_order")]
    return quote.id, order.id


def test_turn_stops_on_a_call_needing_approval_while_the_other_calls_run(db: Engine) -> None:
    trader_id = make(db)
    quote_id, order_id = big_order_turn(db, trader_id)
    assert orders(db) == []
    with Session(db) as session:
        trader = session.get(GuardedTrader, trader_id)
        assert trader is not None
        [pending] = trader.pending_approvals
        assert (pending.call_id, pending.tool, pending.args) == (
            order_id,
            "place_order",
            {"symbol": "AAPL", "quantity": 50},
        )
        saved = trader.messages
        assert returns(saved) == {quote_id: {"symbol": "AAPL", "last": 100}}  # the quote ran and is saved
        assert isinstance(saved[-2], ModelResponse) and len(saved[-2].tool_calls) == 2
        assert trader.lease_owner is None


def test_a_call_under_the_rule_threshold_runs_without_approval(db: Engine) -> None:
    trader_id = make(db)
    model = ScriptedModel([call("place_order", symbol="AAPL", quantity=5), "Bought 5."])
    with scripted(GuardedTrader, model), Session(db) as session:
        trader = session.get(GuardedTrader, trader_id)
        assert trader is not None
        reply = trader.talk("buy 5 AAPL")
        assert reply.text == "Bought 5." and reply.pending == [] and trader.pending_approvals == []
    assert orders(db) == [(trader_id, "AAPL", 5)]


def test_approval_in_another_process_resumes_the_turn_and_places_one_order(db: Engine, db_url: str) -> None:
    trader_id = make(db)
    # the turn runs in one process ...
    order_id = run_in_child(
        db_url,
        f"""
        script = ScriptedModel([[call("quote", symbol="AAPL"), call("place_order", symbol="AAPL", quantity=50)]])
        with scripted(GuardedTrader, script), Session(engine) as session:
            reply = session.get(GuardedTrader, {trader_id}).talk("buy 50 AAPL")
            print(reply.pending[0].call_id)
        """,
    )
    assert orders(db) == []
    # ... and the owner approves from another, later
    out = run_in_child(
        db_url,
        f"""
        with scripted(GuardedTrader, ScriptedModel(["Bought 50 AAPL."])), Session(engine) as session:
            trader = session.get(GuardedTrader, {trader_id})
            print(trader.approve({order_id!r}).text)
        """,
    )
    assert out == "Bought 50 AAPL."
    assert orders(db) == [(trader_id, "AAPL", 50)]
    with scripted(GuardedTrader, ScriptedModel([])), Session(db) as session:
        trader = session.get(GuardedTrader, trader_id)
        assert trader is not None
        assert trader.pending_approvals == []
        assert returns(trader.messages)[order_id] == {"status": "filled", "symbol": "AAPL", "quantity": 50}
        assert isinstance(trader.messages[-1], ModelResponse) and trader.messages[-1].text == "Bought 50 AAPL."
        with pytest.raises(ApprovalError, match="already approved"):
            trader.approve(order_id)
    assert orders(db) == [(trader_id, "AAPL", 50)]  # no duplicate order


def test_deny_tells_the_model_the_reason_and_places_nothing(db: Engine) -> None:
    trader_id = make(db)
    _, order_id = big_order_turn(db, trader_id)
    model = ScriptedModel(["Understood, no order."])
    with scripted(GuardedTrader, model), Session(db) as session:
        trader = session.get(GuardedTrader, trader_id)
        assert trader is not None
        reply = trader.deny(order_id, "too large for today")
        assert reply is not None and reply.text == "Understood, no order."
        assert "too large for today" in str(returns(model.requests[0])[order_id])
        with pytest.raises(ApprovalError, match="already denied"):
            trader.deny(order_id)
    assert orders(db) == []


def test_a_call_of_another_agent_or_an_unknown_call_is_refused(db: Engine) -> None:
    alice, bob = make(db, "alice@example.com"), make(db, "bob@example.com")
    _, alices_order = big_order_turn(db, alice)
    with scripted(GuardedTrader, ScriptedModel([])), Session(db) as session:
        trader = session.get(GuardedTrader, bob)
        assert trader is not None
        with pytest.raises(ApprovalError, match="not awaiting approval on GuardedTrader id="):
            trader.approve(alices_order)
        with pytest.raises(ApprovalError, match="not awaiting approval"):
            trader.deny("call_does_not_exist")
        assert trader.lease_owner is None
    assert orders(db) == []
    with Session(db) as session:
        held = session.get(GuardedTrader, alice)
        assert held is not None and [p.call_id for p in held.pending_approvals] == [alices_order]


def test_a_new_prompt_while_approval_is_pending_is_refused_and_writes_nothing(db: Engine) -> None:
    trader_id = make(db)
    _, order_id = big_order_turn(db, trader_id)
    with scripted(GuardedTrader, ScriptedModel(["never"])), Session(db) as session:
        trader = session.get(GuardedTrader, trader_id)
        assert trader is not None
        before = len(trader.messages)
        with pytest.raises(ApprovalPending, match=order_id):
            trader.talk("hello?")
        assert len(trader.messages) == before and trader.lease_owner is None


def test_two_held_calls_resume_only_once_both_are_decided(db: Engine) -> None:
    trader_id = make(db)
    first, second = call("place_order", symbol="AAPL", quantity=20), call("place_order", symbol="MSFT", quantity=30)
    model = ScriptedModel([[first, second], "Bought AAPL; MSFT was denied."])
    with scripted(GuardedTrader, model), Session(db) as session:
        trader = session.get(GuardedTrader, trader_id)
        assert trader is not None
        assert len(trader.talk("buy both").pending) == 2
        assert trader.approve(first.id) is None  # the other call still waits
        assert [p.call_id for p in trader.pending_approvals] == [first.id, second.id]
        assert orders(db) == []
        reply = trader.deny(second.id, "no MSFT")
        assert reply is not None and reply.text == "Bought AAPL; MSFT was denied."
        assert trader.pending_approvals == []
    assert orders(db) == [(trader_id, "AAPL", 20)]
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(PlacedOrder)) == 1
