"""Property: the audit trail links every fill to exactly one tool call, in exactly one agent's conversation.

Random sequences of agent turns on both kinds of agent: scripted models issue market and limit orders
(some rejected, some resting until `exchange.tick` fills them after the price moves), some large enough to
be held for approval (then approved or denied), and some tool calls run twice for the same call id, as a
job's turn does when its worker died after the tool ran. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agentrecord import ToolContext
from agentrecord.testing import ScriptedModel, ToolCall, call, scripted
from agentrecord.tools import own_record
from tests.properties import examples
from tradedesk.agents.models import Daytrader, StockInvestor, TradingAgent
from tradedesk.agents.trading_tools import OrderEntry
from tradedesk.app import desk
from tradedesk.brokerage import exchange, services
from tradedesk.brokerage.accounts import Fill, Order
from tradedesk.market import ManualClock, SimulatedMarket
from tradedesk.users import User

PROPERTY = settings(
    max_examples=examples(20),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SYMBOLS = ["KO", "PFE", "AAPL"]
KINDS: list[type[TradingAgent]] = [Daytrader, StockInvestor]


@pytest.fixture
def market(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[ManualClock]:
    """The tools' market on a clock the test moves; the exchange open around the clock."""
    monkeypatch.setenv("TRADEDESK_EXCHANGE_HOURS", "always")
    services.use_market(SimulatedMarket(seed=11, clock=clock))
    yield clock
    services.use_market(None)


order_call = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["market", "limit", "limit", "big"]),
        "side": st.sampled_from(["buy", "buy", "sell"]),
        "symbol": st.sampled_from(SYMBOLS),
        "quantity": st.integers(1, 30),
        "limit_bps": st.integers(-150, 50),  # from the touch: negative rests (for a while), positive fills at once
        "approve": st.booleans(),  # for a big one, held for approval
        "rerun": st.integers(0, 4),  # 0: the tool runs a second time for the same call id
    }
)
turns = st.lists(
    st.fixed_dictionaries(
        {
            "agent": st.integers(0, 1),
            "calls": st.lists(order_call, min_size=1, max_size=3),
            "wait": st.sampled_from([1, 30, 240, 1440]),
        }
    ),
    min_size=1,
    max_size=4,
)


def arguments(step: dict[str, Any], nth: int) -> dict[str, Any]:
    """The order_entry arguments the turn's `nth` step stands for, at the current quote."""
    symbol, side = step["symbol"], step["side"]
    quote = services.market().quote(symbol)
    if step["kind"] == "big":  # over the $10,000 approval threshold
        # One share more per position in the turn: three identical calls in one response would meet the loop
        # guard, which refuses the third (it is neither run nor held), and this property is about approvals.
        return {"symbol": symbol, "side": "buy", "quantity": math.ceil(15000 / quote.ask) + nth}
    args: dict[str, Any] = {"symbol": symbol, "side": side, "quantity": step["quantity"]}
    if step["kind"] == "limit":
        touch = quote.ask if side == "buy" else quote.bid
        moved = touch * (1 + Decimal(step["limit_bps"]) / 10000 * (1 if side == "buy" else -1))
        args |= {"order_type": "limit", "limit_price": float(round(moved, 2)), "time_in_force": "gtc"}
    return args


def all_at_once(calls: list[ToolCall]) -> Any:
    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart(c.name, c.args, tool_call_id=c.id) for c in calls])

    return respond


def rerun(engine: Engine, agent: TradingAgent, placed: ToolCall) -> None:
    """Run order_entry again for a call that already ran (a job's worker died before saving its result)."""
    with own_record(type(agent), (agent.id,), engine) as record:
        tool = OrderEntry()
        tool._context = ToolContext(record=record, call_id=placed.id, engine=engine)
        tool.call(**placed.args)


def history_calls(engine: Engine, agent: TradingAgent) -> list[tuple[int, str]]:
    """(seq, call id) of every tool call in the agent's stored conversation."""
    with Session(engine) as session:
        record = session.get(type(agent), agent.id)
        assert record is not None
        pages = record.history(limit=10_000)
    return [(seq, p.tool_call_id) for seq, m in pages if isinstance(m, ModelResponse) for p in m.tool_calls]


BIG = {"kind": "big", "side": "buy", "symbol": "AAPL", "quantity": 1, "limit_bps": 0, "approve": True, "rerun": 4}


@PROPERTY
@given(turns=turns)
@example(turns=[{"agent": 0, "calls": [BIG, BIG, {**BIG, "approve": False}], "wait": 1}])  # once met the loop guard
def test_every_fill_links_to_exactly_one_tool_call_of_exactly_one_agent(
    db: Engine, market: ManualClock, turns: list[dict[str, Any]]
) -> None:
    with Session(db, expire_on_commit=False) as session:
        user = User(email=f"{uuid.uuid4().hex[:12]}@example.com")
        agents: list[TradingAgent] = [cls(user=user, provider="openai") for cls in KINDS]
        session.add_all(agents)
        session.commit()
        services.broker().open_account(session, user.id)
        session.commit()
    approved: set[str] = set()
    denied: set[str] = set()
    for turn in turns:
        agent = agents[turn["agent"]]
        calls = [call("order_entry", **arguments(step, nth)) for nth, step in enumerate(turn["calls"])]
        big = [c for c, step in zip(calls, turn["calls"], strict=True) if step["kind"] == "big"]
        with scripted(type(agent), ScriptedModel([all_at_once(calls), "done"])), Session(db) as session:
            record = session.get(type(agent), agent.id)
            assert record is not None
            reply = record.talk("trade")
            assert {p.call_id for p in reply.pending} == {c.id for c in big}
            for held, step in zip(big, [s for s in turn["calls"] if s["kind"] == "big"], strict=True):
                (approved if step["approve"] else denied).add(held.id)
                desk.decide(record, held.id, None if step["approve"] else "no")
        for placed, step in zip(calls, turn["calls"], strict=True):
            if step["rerun"] == 0 and placed.id not in denied:
                rerun(db, agent, placed)
        market.advance(timedelta(minutes=turn["wait"]))
        exchange.tick(db)

    conversations = {a.label: history_calls(db, a) for a in agents}
    with Session(db) as session:
        orders = list(session.scalars(select(Order).where(Order.user_id == user.id)))
        fills = list(session.scalars(select(Fill).where(Fill.user_id == user.id)))
    by_id = {o.id: o for o in orders}
    for order in orders:
        event(
            f"order {order.status}"
            + (" after resting" if order.filled_at and order.filled_at > order.created_at else "")
        )
    event(f"fills: {min(len(fills), 5)}")
    event(f"approved: {bool(approved)}, denied: {bool(denied)}")
    call_ids = [o.tool_call_id for o in orders]
    assert None not in call_ids and len(set(call_ids)) == len(call_ids)  # no two orders share a tool call
    assert not denied & set(call_ids)  # a denied call placed nothing
    for order in orders:
        assert order.approval == ("approved" if order.tool_call_id in approved else "not_needed")
        assert order.approved_by == (user.email if order.tool_call_id in approved else None)
    for fill in fills:
        order = by_id[fill.order_id]
        holders = [label for label, found in conversations.items() if any(c == order.tool_call_id for _, c in found)]
        assert holders == [f"{order.agent_kind}/{order.agent_id}"]  # in exactly one agent's conversation
        [(seq, _)] = [(s, c) for s, c in conversations[holders[0]] if c == order.tool_call_id]  # exactly once
        assert seq == order.message_seq and order.turn is not None
