"""A run's book and its twin: the same agent, apart from the live one.

The book is a user row that is not a person (`User.backtest_of` = the owner), with a backtest account opened with the
run's cash and the owner's trading costs. The twin is a new row of the agent's own class (so the same instructions,
tools, skills and concurrency) copying its provider, model, risk limits and budgets, owned by the book: the broker,
the tools, the usage ledger and the budgets all key on the twin's user and row, so nothing of the live agent moves.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradedesk.agents.models import TradingAgent
from tradedesk.brokerage.accounts import Account
from tradedesk.brokerage.broker import Broker
from tradedesk.users.users import User

COPIED = (
    "provider",
    "model",
    "max_order_notional",
    "max_position_weight",
    "max_orders_per_day",
    "approval_threshold",
    "max_daily_loss",
    "daily_usd",
    "daily_tokens",
    "allocation",
)
"""The live agent's columns its twin starts with (its class brings the instructions, tools and skills)."""
COSTS = ("commission_per_share", "commission_min", "impact_bps")


def open_book(session: Session, owner: User, cash: Decimal, broker: Broker) -> User:
    """A new book for a run of `owner`'s: a hidden user with a backtest account of `cash` and the owner's costs."""
    book = User(email=f"backtest-{uuid.uuid4().hex}@backtest.invalid", backtest_of=owner.id)
    session.add(book)
    session.flush()
    account = broker.open_account(session, book.id, cash)
    account.backtest = True
    live = session.scalar(select(Account).where(Account.user_id == owner.id))
    for name in COSTS if live is not None else ():
        setattr(account, name, getattr(live, name))
    session.flush()
    return book


def make_twin(session: Session, agent: TradingAgent, book: User) -> TradingAgent:
    """A twin of `agent` owned by `book`: same class, provider, model, limits and budgets; its own conversation."""
    factory: Any = type(agent)
    twin: TradingAgent = factory(user_id=book.id, paused=False, **{name: getattr(agent, name) for name in COPIED})
    session.add(twin)
    session.flush()
    return twin
