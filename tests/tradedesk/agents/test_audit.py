"""The audit trail: every order links to the agent, turn, tool call and approval that placed it, and its fills."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session

from agentrecord import create_engine
from agentrecord.store import message_table
from agentrecord.testing import ScriptedModel, ToolCall, call, scripted
from tests.tradedesk.isolated import schema_url
from tradedesk import migrations
from tradedesk.agents import audit
from tradedesk.agents.models import Daytrader
from tradedesk.app import desk
from tradedesk.brokerage import services
from tradedesk.brokerage.accounts import Fill, Order
from tradedesk.brokerage.broker import OrderNotFound
from tradedesk.users import User

ALICE, BOB = "alice@example.com", "bob@example.com"


pytestmark = pytest.mark.usefixtures("frozen_market")


def add_trader(engine: Engine, email: str) -> int:
    with Session(engine) as session:
        trader = Daytrader(user=User(email=email), provider="openai")
        session.add(trader)
        session.commit()
        return trader.id


def said_and_called(text: str, *calls: ToolCall) -> Any:
    """One model response with text and tool calls together (what a model says as it acts)."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart(text), *(ToolCallPart(c.name, c.args, tool_call_id=c.id) for c in calls)])

    return respond


def talk(engine: Engine, trader_id: int, steps: list[Any], prompt: str) -> Any:
    with scripted(Daytrader, ScriptedModel(steps)), Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        return trader.talk(prompt)


def explain(engine: Engine, email: str, order_id: int) -> audit.Explanation:
    with Session(engine) as session:
        user = desk.user_by_email(session, email)
        return desk.Desk(session, user).explain(order_id)


def the_order(engine: Engine, **where: Any) -> Order:
    with Session(engine) as session:
        return session.scalars(select(Order).filter_by(**where)).one()


def response_at(engine: Engine, trader_id: int, seq: int | None) -> ModelResponse:
    with Session(engine) as session:
        trader = session.get(Daytrader, trader_id)
        assert trader is not None
        found = [m for s, m in trader.history(limit=200) if s == seq]
    assert len(found) == 1 and isinstance(found[0], ModelResponse)
    return found[0]


def test_an_agents_order_explains_the_prompt_the_models_words_the_call_no_approval_and_the_fill(db: Engine) -> None:
    alice = add_trader(db, ALICE)
    talk(db, alice, ["KO looks cheap."], "what do you think of KO?")  # an earlier turn: not this order's
    buy = call("order_entry", symbol="KO", side="buy", quantity=10)
    talk(db, alice, [said_and_called("Buying 10 KO at market.", buy), "Bought 10 KO."], "buy 10 KO")
    order = the_order(db, tool_call_id=buy.id)
    found = explain(db, ALICE, order.id)
    assert (found.placed_by, found.agent, found.turn) == (f"daytrader/{alice}", f"daytrader/{alice}", 2)
    assert found.prompt == "buy 10 KO"
    assert [s.text for s in found.said] == ["Buying 10 KO at market.", "Bought 10 KO."]
    assert found.call is not None and found.call.call_id == buy.id and found.call.tool == "order_entry"
    assert found.call.args == {"symbol": "KO", "side": "buy", "quantity": 10}
    assert buy.id in [c.tool_call_id for c in response_at(db, alice, found.call.seq).tool_calls]
    assert found.prompt_seq is not None and found.said[0].seq == found.call.seq > found.prompt_seq
    assert found.call.result["status"] == "filled" and found.call.result["id"] == order.id
    assert found.approval.startswith("not needed") and found.approved_by is None and found.approved_at is None
    with Session(db) as session:
        fills = list(session.scalars(select(Fill).where(Fill.order_id == order.id)))
    assert [(f.quantity, f.price, f.commission) for f in found.fills] == [(10, fills[0].price, fills[0].commission)]
    assert found.order["status"] == "filled" and found.order["order_type"] == "market" and found.notes == []


def test_an_order_held_for_approval_explains_who_approved_it_and_when_and_its_fill(db: Engine) -> None:
    alice = add_trader(db, ALICE)
    big = call("order_entry", symbol="AAPL", side="buy", quantity=100)  # ~ $20k: over the $10k threshold
    reply = talk(db, alice, [said_and_called("This one needs your approval.", big)], "buy 100 AAPL")
    assert [p.call_id for p in reply.pending] == [big.id]
    before = datetime.now(UTC)
    with scripted(Daytrader, ScriptedModel(["Bought 100 AAPL."])), Session(db) as session:
        trader = session.get(Daytrader, alice)
        assert trader is not None
        assert desk.decide(trader, big.id, None).reply is not None
    order = the_order(db, tool_call_id=big.id)
    found = explain(db, ALICE, order.id)
    assert found.approved_by == ALICE and found.approved_at is not None
    assert before <= found.approved_at <= datetime.now(UTC)
    assert found.approval.startswith(f"approved by {ALICE} at ")
    assert found.prompt == "buy 100 AAPL" and found.turn == 1
    assert [s.text for s in found.said] == ["This one needs your approval.", "Bought 100 AAPL."]
    assert found.call is not None and found.call.args["quantity"] == 100
    assert big.id in [c.tool_call_id for c in response_at(db, alice, found.call.seq).tool_calls]
    assert [f.quantity for f in found.fills] == [100] and found.order["status"] == "filled"


def test_a_denied_order_places_nothing(db: Engine) -> None:
    alice = add_trader(db, ALICE)
    big = call("order_entry", symbol="AAPL", side="buy", quantity=100)
    talk(db, alice, [big], "buy 100 AAPL")
    with scripted(Daytrader, ScriptedModel(["Not bought."])), Session(db) as session:
        trader = session.get(Daytrader, alice)
        assert trader is not None
        desk.decide(trader, big.id, "too big")
        assert session.scalar(select(func.count(Order.id))) == 0


def test_an_order_the_owner_placed_explains_as_the_account_owners(db: Engine) -> None:
    add_trader(db, ALICE)
    with Session(db) as session, session.begin():
        user = desk.user_by_email(session, ALICE)
        placed = services.broker().place_order(session, user.id, symbol="KO", side="buy", quantity=3)
        order_id = placed.id
    found = explain(db, ALICE, order_id)
    assert found.placed_by == "the account owner" and found.agent is None and found.call is None
    assert found.prompt is None and found.said == [] and "placed by the account owner" in found.approval
    assert [f.quantity for f in found.fills] == [3]


def test_another_users_order_is_not_found_like_a_missing_one(db: Engine) -> None:
    alice = add_trader(db, ALICE)
    add_trader(db, BOB)
    buy = call("order_entry", symbol="KO", side="buy", quantity=1)
    talk(db, alice, [buy, "ok"], "buy 1 KO")
    order = the_order(db, tool_call_id=buy.id)
    assert explain(db, ALICE, order.id).order["id"] == order.id
    for missing in (order.id, order.id + 1000, 0, -1, 2**70):
        with pytest.raises(desk.NotFound, match=f"No order {missing} in the account of {BOB}"):
            explain(db, BOB, missing)
    with Session(db) as session:
        bob = desk.user_by_email(session, BOB)
        with pytest.raises(OrderNotFound):
            audit.explain(session, bob.id, order.id)


def test_an_order_whose_messages_are_gone_explains_what_is_stored_and_says_what_is_missing(db: Engine) -> None:
    alice = add_trader(db, ALICE)
    buy = call("order_entry", symbol="KO", side="buy", quantity=2)
    talk(db, alice, [buy, "ok"], "buy 2 KO")
    order = the_order(db, tool_call_id=buy.id)
    messages = message_table(Daytrader.__table__)  # type: ignore[arg-type]
    with db.begin() as conn:
        conn.execute(delete(messages).where(messages.c.seq == order.message_seq))
    found = explain(db, ALICE, order.id)
    assert found.call is not None and found.call.call_id == buy.id and found.call.tool is None
    assert [n for n in found.notes if f"Message {order.message_seq} of daytrader/{alice} is no longer stored" in n]
    assert found.approval.startswith("not needed") and [f.quantity for f in found.fills] == [2]
    with Session(db) as session:
        trader = session.get(Daytrader, alice)
        session.delete(trader)
        session.commit()
    found = explain(db, ALICE, order.id)
    assert found.notes == [
        f"daytrader/{alice} no longer exists: its conversation (prompt, model text, tool call) is gone."
    ]
    assert found.prompt is None and found.call is not None and found.call.seq == order.message_seq
    assert [f.quantity for f in found.fills] == [2]


def test_an_order_from_before_the_audit_trail_finds_its_call_by_id(db: Engine) -> None:
    alice = add_trader(db, ALICE)
    buy = call("order_entry", symbol="KO", side="buy", quantity=4)
    talk(db, alice, [said_and_called("Buying.", buy), "done"], "buy 4 KO")
    stamped = the_order(db, tool_call_id=buy.id)
    with db.begin() as conn:  # what migration 0009 leaves on an older order: the call id, nothing else
        conn.execute(update(Order).values(turn=None, message_seq=None, approval=None))
    found = explain(db, ALICE, stamped.id)
    assert found.call is not None and found.call.seq == stamped.message_seq and found.call.tool == "order_entry"
    assert found.prompt == "buy 4 KO" and found.approval.startswith("not recorded")


def test_an_agents_cancel_records_which_agent_and_tool_call_cancelled_the_order(db: Engine) -> None:
    alice = add_trader(db, ALICE)
    stop = call("order_entry", symbol="KO", side="buy", quantity=5, order_type="stop", stop_price=150.0)
    talk(db, alice, [stop, "placed"], "a stop on KO")
    order = the_order(db, tool_call_id=stop.id)
    assert order.is_open
    cancel = call("cancel_order", order_id=order.id)
    talk(db, alice, [said_and_called("Cancelling it.", cancel), "cancelled"], "cancel it")
    cancelled = the_order(db, id=order.id)
    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_call_id) == (
        "cancelled",
        f"daytrader/{alice}",
        cancel.id,
    )
    found = explain(db, ALICE, order.id)
    assert found.cancelled_by == f"daytrader/{alice}" and found.cancel is not None
    assert found.cancel.tool == "cancel_order" and found.cancel.args == {"order_id": order.id}
    assert cancel.id in [c.tool_call_id for c in response_at(db, alice, found.cancel.seq).tool_calls]
    assert found.call is not None and found.call.call_id == stop.id and found.fills == []


def test_the_migration_keeps_an_older_agent_orders_call_id_as_its_tool_call_id(db_url: str) -> None:
    with schema_url(db_url) if db_url.startswith("postgresql") else _same(db_url) as url:
        command.upgrade(migrations.config(url), "0007")
        engine = create_engine(url)
        insert = (
            "INSERT INTO orders (user_id, agent_kind, agent_id, symbol, side, quantity, order_type, time_in_force, "
            "status, idempotency_key, created_at) VALUES (1, :kind, :agent, 'KO', 'buy', 1, 'market', 'day', "
            "'rejected', :key, CURRENT_TIMESTAMP)"
        )
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, email) VALUES (1, 'old@example.com')"))
            conn.execute(text(insert), {"kind": "daytrader", "agent": 7, "key": "call_old"})
            conn.execute(text(insert), {"kind": None, "agent": None, "key": "owner_key"})
        assert migrations.upgrade(url).up_to_date
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT tool_call_id, approval FROM orders ORDER BY id")).all()
        engine.dispose()
    assert [tuple(r) for r in rows] == [("call_old", None), (None, None)]


@contextmanager
def _same(url: str) -> Iterator[str]:
    yield url
