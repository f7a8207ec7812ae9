"""Agents for the job tests: each tool execution is recorded, so a test can count how often a call ran."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agentrecord import AgentRecord, Tool


class Base(DeclarativeBase):
    pass


class Owner(Base):
    __tablename__ = "owners"
    id: Mapped[int] = mapped_column(primary_key=True)


class Execution(Base):
    """One execution of a tool call (a call that ran twice has two rows)."""

    __tablename__ = "executions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str] = mapped_column(String(100))


class Order(Base):
    """An order, made exactly once per tool call id (the idempotency key a broker would use)."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str] = mapped_column(String(100), unique=True)
    symbol: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    approved_by: Mapped[str | None] = mapped_column(String(100), default=None)
    """Who approved the call that placed it, when it was held (`ToolContext.approval`)."""


class Trade(Tool):
    """Buy shares of a ticker symbol for the owner."""

    def call(self, symbol: str, quantity: int) -> dict[str, Any]:
        with self.session() as session:
            session.add(Execution(agent_id=self.record.id, call_id=self.call_id))
        with self.session() as session:
            order = session.scalar(select(Order).where(Order.call_id == self.call_id))
            if order is None:
                approval = self.context.approval
                by = None if approval is None else approval.by
                order = Order(agent_id=self.record.id, call_id=self.call_id, symbol=symbol, quantity=quantity)
                order.approved_by = by
                session.add(order)
                session.flush()
            count = session.scalar(select(func.count(Order.id)).where(Order.agent_id == self.record.id))
        return {"status": "filled", "symbol": symbol, "quantity": quantity, "orders_so_far": count}


class Trader(AgentRecord, Base):
    __tablename__ = "traders"
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))

    class Agent:
        model = "test-model"
        instructions = "You trade for the owner."
        tools = [Trade]
        confirm = {Trade: "needs_approval"}
        lease_ttl = 120.0  # longer than any test waits: a dead worker's lease must be freed, not waited out

    def needs_approval(self, args: dict[str, Any]) -> bool:
        return int(args.get("quantity", 0)) >= int(os.environ.get("JOBS_TEST_APPROVAL_AT", "1000000"))
