"""An agent whose orders above a notional need the owner's approval; importable by child processes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agentrecord import AgentRecord, Tool

PRICE = 100


class ApprovalBase(DeclarativeBase):
    pass


class PlacedOrder(ApprovalBase):
    __tablename__ = "approval_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    trader_id: Mapped[int]
    symbol: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int]
    key: Mapped[str] = mapped_column(String(100), unique=True)


class Quote(Tool):
    """Get the last price of a ticker symbol."""

    runs = 0

    def call(self, symbol: str) -> dict[str, Any]:
        type(self).runs += 1
        return {"symbol": symbol, "last": PRICE}


class PlaceOrder(Tool):
    """Buy shares for the user."""

    def call(self, symbol: str, quantity: int) -> dict[str, Any]:
        with self.session() as session:
            session.add(PlacedOrder(trader_id=self.record.id, symbol=symbol, quantity=quantity, key=self.call_id))
        return {"status": "filled", "symbol": symbol, "quantity": quantity}


class GuardedTrader(AgentRecord, ApprovalBase):
    __tablename__ = "guarded_traders"
    owner: Mapped[str] = mapped_column(String(200))
    approval_above: Mapped[int] = mapped_column(default=1000)

    class Agent:
        model = "scripted"
        instructions = "You trade for the user."
        tools = [Quote, PlaceOrder]
        confirm = {PlaceOrder: "order_needs_approval"}

    def order_needs_approval(self, args: dict[str, Any]) -> bool:
        """Orders whose notional is above the owner's threshold wait for approval."""
        return int(args["quantity"]) * PRICE > self.approval_above


class LimitedTrader(AgentRecord, ApprovalBase):
    __tablename__ = "limited_traders"

    class Agent:
        model = "scripted"
        tools = [Quote]
        max_tokens_per_turn = 500


class CostLimitedTrader(AgentRecord, ApprovalBase):
    __tablename__ = "cost_limited_traders"

    class Agent:
        model = "scripted"
        tools = [Quote]
        max_cost_per_turn = "0.05"
