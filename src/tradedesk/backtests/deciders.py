"""Who decides at each step: the twin (one turn, held calls approved or denied by the run's policy), or a rule.

The baselines are "agents" with no model: buy-and-hold puts the cash in the symbols in equal parts at the first step
and holds; the monthly equal-weight rebalance does that at the first step of every month. They trade through the same
broker and rules as the twin (market orders, filled at the next step), so they sit next to it like for like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Protocol

from sqlalchemy.orm import Session

from tradedesk.agents.models import TradingAgent
from tradedesk.brokerage import services
from tradedesk.brokerage.fills import collar

DEFAULT_PROMPT = (
    "Review the market and the portfolio, and trade if you see a good reason to; otherwise say why you hold."
)
DENIED = "Denied by the backtest's approvals policy (--approvals deny)."


@dataclass(frozen=True)
class Decision:
    """What one step's decider said and did."""

    reply: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    cost: Decimal | None = None


class Decider(Protocol):
    def decide(self, step: int, at: datetime) -> Decision: ...


def tool_calls(messages: list[Any]) -> list[dict[str, Any]]:
    """The tool calls among a turn's messages, as {tool, args}."""
    found = []
    for message in messages:
        for part in getattr(message, "parts", ()):
            if getattr(part, "part_kind", "") == "tool-call":
                found.append({"tool": part.tool_name, "args": part.args_as_dict()})
    return found


class TwinDecider:
    """One turn of the twin per step; a held call is approved or denied as the run says, until the turn ends."""

    def __init__(self, twin: TradingAgent, prompt: str | None, approvals: str, by: str) -> None:
        self.twin, self.prompt, self.approve, self.by = twin, prompt or DEFAULT_PROMPT, approvals == "approve", by

    def decide(self, step: int, at: datetime) -> Decision:
        reply = self.twin.talk(f"It is {at:%A %Y-%m-%d}, after the close. {self.prompt}")
        texts, calls, cost = [reply.text], tool_calls(reply.messages), reply.cost
        while reply.pending:
            resumed = None
            for held in reply.pending:
                if self.approve:
                    resumed = self.twin.approve(held.call_id, by=self.by)
                else:
                    resumed = self.twin.deny(held.call_id, DENIED, by=self.by)
            assert resumed is not None  # every held call of the turn is decided: it resumed
            reply = resumed
            texts.append(reply.text)
            calls += tool_calls(reply.messages)
            cost = None if cost is None or reply.cost is None else cost + reply.cost
        return Decision(" ".join(t for t in texts if t).strip(), calls, cost)


class Rebalancer:
    """Equal parts of equity in each symbol: at the first step only (`monthly` False), or each month's first."""

    def __init__(self, session: Session, book_user_id: int, symbols: list[str], monthly: bool) -> None:
        self.session, self.user_id, self.symbols, self.monthly = session, book_user_id, symbols, monthly
        self.month: tuple[int, int] | None = None

    def decide(self, step: int, at: datetime) -> Decision:
        month = (at.year, at.month)
        due = self.month is None or (self.monthly and month != self.month)
        self.month = month
        if not due:
            return Decision("hold")
        broker = services.broker()
        book = broker.portfolio(self.session, self.user_id)
        held = {h.symbol: h.quantity for h in book.positions}
        target = book.equity / len(self.symbols)
        calls, budget = [], book.buying_power
        orders = []
        for symbol in self.symbols:
            quote = broker.market.quote(symbol)
            want = int((target / collar(quote)).to_integral_value(ROUND_FLOOR))  # a queued buy reserves its collar
            orders.append((symbol, want - held.get(symbol, 0), collar(quote)))
        for symbol, change, price in sorted(orders, key=lambda o: o[1]):  # sells first
            if change > 0:
                change = min(change, int((budget / price).to_integral_value(ROUND_FLOOR)))
                budget -= change * price
            if change == 0:
                continue
            side = "buy" if change > 0 else "sell"
            broker.place_order(
                self.session, self.user_id, symbol=symbol, side=side, quantity=abs(change), agent_kind="baseline"
            )
            calls.append({"tool": "order_entry", "args": {"symbol": symbol, "side": side, "quantity": abs(change)}})
        self.session.commit()
        return Decision("rebalanced" if calls else "hold", calls)


BASELINES = {"buy-and-hold": False, "equal-weight": True}
"""The baselines by name, and whether they rebalance monthly."""
