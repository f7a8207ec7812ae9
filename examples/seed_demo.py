"""The seed's platform in a few lines: a user with a day trader and a stock investor, on a SQLite file.

Runs offline: when no provider secret is set, the agents run on the embedded local model
(provider "local": SmolLM2-135M-Instruct in process, real inference, no key). With OPENAI_SECRET set
(and optionally OPENAI_BASE_URL), the same agents talk to that endpoint instead. `--scripted` plays
back a fixed script instead of any model.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

import agentrecord
from agentrecord import AgentRecord, Tool
from agentrecord.testing import ScriptedModel, call, scripted

PRICES = {"AAPL": 190.0, "MSFT": 410.0, "NVDA": 120.0}


class Base(DeclarativeBase):
    pass


class QuoteFeed(Tool):
    """Get the latest price of a ticker symbol."""

    def call(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol.upper(), "last": PRICES.get(symbol.upper())}


class FundamentalsFeed(Tool):
    """Get the P/E ratio of a ticker symbol."""

    def call(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol.upper(), "pe": {"AAPL": 29.0, "MSFT": 33.5}.get(symbol.upper())}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    daytraders: Mapped[list[Daytrader]] = relationship(back_populates="user", cascade="all, delete-orphan")
    stock_investors: Mapped[list[StockInvestor]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def agents(self) -> list[AgentRecord]:
        return [*self.daytraders, *self.stock_investors]


class Daytrader(AgentRecord, Base):
    __tablename__ = "daytraders"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="daytraders")

    class Agent:
        model = "gpt-4o-mini"
        instructions = "You are a day trader. You can watch the market and place trades for the user."
        tools = [QuoteFeed]


class StockInvestor(AgentRecord, Base):
    __tablename__ = "stock_investors"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="stock_investors")

    class Agent:
        model = "gpt-4o-mini"
        instructions = "You are a stock investor. You can review companies and invest for the user over time."
        tools = [FundamentalsFeed]


def main() -> None:
    db = Path(tempfile.mkdtemp()) / "demo.db"
    engine = agentrecord.create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    online = bool(os.environ.get("OPENAI_SECRET"))
    provider, model = ("openai", None) if online else ("local", "smollm2-135m")
    if not online:
        print("No OPENAI_SECRET set: the agents run on the embedded local model (SmolLM2-135M, in process).\n")
    with ExitStack() as stack:
        if "--scripted" in sys.argv:
            print("--scripted: playing back a fixed script instead of a model.\n")
            stack.enter_context(
                scripted(Daytrader, ScriptedModel([call("quote_feed", symbol="NVDA"), "NVDA last traded at $120."]))
            )
            stack.enter_context(
                scripted(
                    StockInvestor, ScriptedModel([call("fundamentals_feed", symbol="MSFT"), "MSFT trades at 33.5x."])
                )
            )
        session = stack.enter_context(Session(engine))
        alice = User(email="alice@example.com")
        alice.daytraders.append(Daytrader(provider=provider, model=model))
        alice.stock_investors.append(StockInvestor(provider=provider, model=model))
        session.add(alice)
        session.commit()
        questions = ["What is the price of NVDA?", "What is the P/E ratio of MSFT?"]
        for agent, prompt in zip(alice.agents, questions, strict=True):
            reply = agent.talk(prompt)
            print(f"{type(agent).__name__} #{agent.id}> {prompt}\n  {reply.text}")
            print(
                f"  this turn: {reply.usage.total_tokens} tokens; "
                f"agent total: {agent.total_tokens} tokens, cost {agent.cost}"
            )
            print(f"  {len(agent.messages)} messages stored in {agent.__tablename__}_messages\n")
    print(f"database: {db}")


if __name__ == "__main__":
    main()
