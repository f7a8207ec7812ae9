"""Tools: schemas from type hints, descriptions from docstrings, context, function tools."""

from __future__ import annotations

from typing import Any

from pydantic_ai.messages import ModelRequest, ToolReturnPart
from sqlalchemy import Engine, ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from agentrecord import AgentRecord, Tool, ToolContext, tool
from agentrecord.testing import ScriptedModel, call, scripted
from agentrecord.tool_calls import to_pydantic_tool
from tests.agentrecord.seed import Base, OrderEntry, User


@tool
def market_clock(ctx: ToolContext, exchange: str = "NYSE") -> dict[str, Any]:
    """Tell whether an exchange is open.

    Args:
        exchange: The exchange's short name.
    """
    return {"exchange": exchange, "open": True, "asked_by": ctx.record.id, "call": ctx.call_id}


class Screener(Tool):
    """Screen stocks by a maximum P/E ratio."""

    name = "screen"

    def call(self, max_pe: float, sectors: list[str] | None = None) -> list[str]:
        """Screen.

        Args:
            max_pe: Highest P/E ratio to keep.
            sectors: Only these sectors.
        """
        return ["AAPL"] if max_pe > 20 else []


class Clerk(AgentRecord, Base):
    __tablename__ = "clerks"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(50))

    class Agent:
        model = "gpt-5.4-mini"
        tools = [market_clock, Screener]


def test_schema_comes_from_type_hints_and_description_from_docstrings() -> None:
    definition = to_pydantic_tool(Screener(), 3).tool_def
    assert definition.name == "screen"
    assert definition.description == "Screen stocks by a maximum P/E ratio."
    props = definition.parameters_json_schema["properties"]
    assert props["max_pe"]["type"] == "number"
    assert props["max_pe"]["description"] == "Highest P/E ratio to keep."
    assert definition.parameters_json_schema["required"] == ["max_pe"]

    order = to_pydantic_tool(OrderEntry(), 3).tool_def
    assert order.name == "order_entry"
    assert set(order.parameters_json_schema["properties"]) == {"symbol", "side", "quantity"}
    assert order.parameters_json_schema["properties"]["quantity"]["type"] == "integer"


def test_function_tools_receive_their_context(engine: Engine) -> None:
    assert to_pydantic_tool(market_clock, 3).tool_def.description == "Tell whether an exchange is open."
    with Session(engine) as session:
        user = User(email="c@example.com")
        session.add(user)
        session.flush()
        clerk = Clerk(user_id=user.id, provider="openai")
        session.add(clerk)
        session.commit()
        script = ScriptedModel([call("market_clock", exchange="LSE"), call("screen", max_pe=25), "open; AAPL"])
        with scripted(Clerk, script):
            reply = clerk.talk("is LSE open?")
        returns = [
            p for m in reply.messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)
        ]
        assert returns[0].content == {
            "exchange": "LSE",
            "open": True,
            "asked_by": clerk.id,
            "call": returns[0].tool_call_id,
        }
        assert returns[1].content == ["AAPL"]
