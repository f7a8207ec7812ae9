"""The seed's three models, declared the way DESIGN.md reads, with placeholder tools."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from agentrecord import AgentRecord, Tool


class Base(DeclarativeBase):
    pass


class QuoteFeed(Tool):
    """Get the latest quote (bid, ask, last) for a ticker symbol."""

    def call(self, symbol: str) -> dict[str, Any]:
        if symbol.upper() == "BOOM":
            raise RuntimeError("quote service exploded")
        return {"symbol": symbol.upper(), "bid": 189.9, "ask": 190.1, "last": 190.0, "for_user": self.record.user_id}


class OrderEntry(Tool):
    """Place a market order for the user. side is buy or sell; quantity is a positive number of shares."""

    def call(self, symbol: str, side: str, quantity: int) -> dict[str, Any]:
        with self.session() as session:
            session.add(
                Order(user_id=self.record.user_id, symbol=symbol, side=side, quantity=quantity, key=self.call_id)
            )
        return {"status": "filled", "symbol": symbol, "side": side, "quantity": quantity}


class PositionBook(Tool):
    """List the user's open positions."""

    def call(self) -> list[dict[str, Any]]:
        return []


class FundamentalsFeed(Tool):
    """Get fundamentals (P/E, growth, margins) for a ticker symbol."""

    def call(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol, "pe": 28.1}


class PortfolioBook(Tool):
    """Summarize the user's portfolio."""

    def call(self) -> dict[str, Any]:
        return {"cash": 100000}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    daytraders: Mapped[list[Daytrader]] = relationship(back_populates="user", cascade="all, delete-orphan")
    stock_investors: Mapped[list[StockInvestor]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def agents(self) -> list[AgentRecord]:
        return [*self.daytraders, *self.stock_investors]


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    symbol: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int]
    key: Mapped[str] = mapped_column(String(100), unique=True)


class Daytrader(AgentRecord, Base):
    __tablename__ = "daytraders"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="daytraders")

    class Agent:
        model = "gpt-5.4-mini"
        instructions = "You are a day trader. You can watch the market and place trades for the user."
        tools = [QuoteFeed, OrderEntry, PositionBook]
        concurrency = "thread"

    def provider_options(self) -> dict[str, Any]:
        return {
            "api_key": os.environ.get(f"{self.provider.upper()}_SECRET"),
            "base_url": os.environ.get(f"{self.provider.upper()}_BASE_URL"),
        }


class StockInvestor(AgentRecord, Base):
    __tablename__ = "stock_investors"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="stock_investors")

    class Agent:
        model = "gpt-5.4-mini"
        instructions = "You are a stock investor. You can review companies and invest for the user over time."
        tools = [FundamentalsFeed, PortfolioBook, OrderEntry]
        concurrency = "thread"
