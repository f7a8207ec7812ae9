"""The day trader's skills enter with a bracket and protect what it holds with an OCO exit or a trailing stop; the
broker then holds those exits as one-cancels-other. The model's decisions are scripted; the skill's instructions,
tools and the broker are the real ones."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agentrecord.testing import ScriptedModel, call, scripted
from tradedesk.agents.models import Daytrader
from tradedesk.brokerage import services
from tradedesk.brokerage.accounts import Order
from tradedesk.users import User

pytestmark = pytest.mark.usefixtures("frozen_market")


def seen_then_call(seen: list[AgentInfo], tool: str, **args: Any) -> Any:
    """A scripted step that records what the (sub-)agent was given, then calls `tool`."""

    def step(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(info)
        return ModelResponse(parts=[ToolCallPart(tool, args)])

    return step


def test_enter_trade_sizes_a_bracket_and_the_trader_places_it_with_both_exits_held_then_working(db: Engine) -> None:
    with Session(db) as session:
        trader = Daytrader(user=User(email="alice@example.com"), provider="openai")
        session.add(trader)
        session.commit()
        trader_id, user_id = trader.id, trader.user_id
    ask = services.market().quote("KO").ask
    stop = (ask * Decimal("0.985")).quantize(Decimal("0.01"))
    target = ask + 2 * (ask - stop)
    answer = f"BUY 10 KO take_profit {target} stop_loss {stop}"
    sub: list[AgentInfo] = []
    steps: list[Any] = [
        call("enter_trade", task="Enter a long KO trade at the ask."),
        seen_then_call(sub, "quote_feed", symbol="KO"),
        answer,
        call("order_entry", symbol="KO", side="buy", quantity=10, take_profit=float(target), stop_loss=float(stop)),
        "Entered 10 KO with its take-profit and stop-loss resting.",
    ]
    with scripted(Daytrader, ScriptedModel(steps)), Session(db) as session:
        me = session.get_one(Daytrader, trader_id)
        reply = me.talk("Enter a long KO trade.")
    assert reply.text.startswith("Entered 10 KO")
    instructions = sub[0].instructions or ""
    assert "`take_profit` and `stop_loss`" in instructions and "one-cancels-other" in instructions
    assert sorted(t.name for t in sub[0].function_tools) == ["position_book", "quote_feed"]  # the skill's tools only
    with Session(db) as session:
        orders = session.scalars(select(Order).where(Order.user_id == user_id).order_by(Order.id)).all()
    entry, profit, loss = orders
    assert (entry.order_class, entry.status, entry.filled_quantity) == ("bracket", "filled", 10)
    assert (profit.parent_id, profit.order_type, profit.limit_price, profit.status) == (
        entry.id,
        "limit",
        target,
        "new",
    )
    assert (loss.parent_id, loss.order_type, loss.stop_price, loss.status) == (entry.id, "stop", stop, "new")
    assert profit.oco_group == loss.oco_group == profit.id
    assert entry.tool_call_id == profit.tool_call_id == loss.tool_call_id  # every leg links to the call that placed it


def test_exit_trade_asks_to_protect_an_unguarded_position_with_an_oco_exit_or_a_trailing_stop() -> None:
    exit_trade = next(s for s in Daytrader.agent_spec().skills if s.name == "exit_trade")
    text = exit_trade.instructions
    assert "take_profit <average cost + 3%>" in text and "stop_loss <average cost \u2212 1.5%>" in text
    assert "trailing_stop trail_percent 1.5" in text
    assert exit_trade.description.startswith("Decide which trades to exit now")  # the routing text is unchanged
