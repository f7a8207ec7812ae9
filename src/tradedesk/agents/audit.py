"""The audit trail: which agent, turn, tool call and approval placed an order, and what filled it.

Tools stamp the orders they place or cancel from their ToolContext (`stamps`); `explain` reads an order back
with the conversation around its tool call: the prompt that started the turn, what the model said, the call
and its result, the approval, and the fills. An order the owner placed (CLI or web) has no agent: it explains
as such.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_core import to_jsonable_python
from sqlalchemy import Table, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from agentrecord import load_message, message_table
from tradedesk.agents.models import AGENT_KINDS, TradingAgent
from tradedesk.agents.orders import order_view
from tradedesk.agents.stamps import APPROVED, NOT_NEEDED
from tradedesk.brokerage.accounts import Fill, Order, utc
from tradedesk.brokerage.broker import OrderNotFound

MAX_ID = 2**63 - 1
SCAN = 500
"""How many messages `explain` reads on either side of a tool call to find its turn's prompt and end."""
_PRICES = ("limit_price", "stop_price", "trail_amount", "trail_percent", "fill_price")


@dataclass(frozen=True)
class Said:
    """Text the model wrote, in the stored message `seq`."""

    seq: int
    text: str


@dataclass(frozen=True)
class Call:
    """A tool call: its id, tool, arguments, the message asking for it, and what the tool returned."""

    call_id: str
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    result: Any = None


@dataclass(frozen=True)
class FillRow:
    """One execution of the order."""

    quantity: int
    price: Decimal
    commission: Decimal
    at: datetime


@dataclass(frozen=True)
class Explanation:
    """Everything the audit trail knows about one order, and what it could not find (`notes`)."""

    order: dict[str, Any]
    placed_by: str
    """`daytrader/3`, or "the account owner" for an order placed from the CLI or the web."""
    agent: str | None
    turn: int | None
    prompt: str | None
    prompt_seq: int | None
    said: list[Said]
    call: Call | None
    approval: str
    """One line: not needed, approved by whom and when, not recorded, or the owner's own order."""
    approved_by: str | None
    approved_at: datetime | None
    cancel: Call | None
    cancelled_by: str | None
    fills: list[FillRow]
    notes: list[str]


def explain(session: Session, user_id: int, order_id: int) -> Explanation:
    """The audit trail of one of the user's orders; another user's order is `OrderNotFound`, like a missing one."""
    order = None
    if 0 < order_id <= MAX_ID:
        order = session.scalar(select(Order).where(Order.id == order_id, Order.user_id == user_id))
    if order is None:
        raise OrderNotFound(f"No order {order_id} in this account: list the orders with `tradedesk orders EMAIL`.")
    notes: list[str] = []
    fills = [
        FillRow(f.quantity, f.price, f.commission, utc(f.at))
        for f in session.scalars(
            select(Fill).where(Fill.order_id == order.id, Fill.user_id == user_id).order_by(Fill.at, Fill.id)
        )
    ]
    exact = {k: getattr(order, k) for k in _PRICES if getattr(order, k) is not None}  # the view's are floats
    view = (
        order_view(order)
        | exact
        | {
            "created_at": utc(order.created_at),
            "filled_at": None if order.filled_at is None else utc(order.filled_at),
            "commission": order.commission,
        }
    )
    agent_label = f"{order.agent_kind}/{order.agent_id}" if order.agent_kind and order.agent_id else None
    cancel = _cancel(session, user_id, order, notes)
    if agent_label is None:
        return Explanation(
            order=view,
            placed_by="the account owner",
            agent=None,
            turn=None,
            prompt=None,
            prompt_seq=None,
            said=[],
            call=None,
            approval="not needed: placed by the account owner (CLI or web), not by an agent",
            approved_by=None,
            approved_at=None,
            cancel=cancel,
            cancelled_by=order.cancelled_by,
            fills=fills,
            notes=notes,
        )
    call_id = order.tool_call_id or order.idempotency_key
    turn = _Turn(call_id, order.message_seq)
    agent = _agent(session, user_id, order.agent_kind, order.agent_id)
    if agent is None:
        notes.append(f"{agent_label} no longer exists: its conversation (prompt, model text, tool call) is gone.")
    elif call_id is None:
        notes.append("This order was placed without a tool call id: it cannot be linked to its conversation.")
    else:
        turn.read(session, agent, notes)
    return Explanation(
        order=view,
        placed_by=agent_label,
        agent=agent_label,
        turn=order.turn,
        prompt=turn.prompt,
        prompt_seq=turn.prompt_seq,
        said=turn.said,
        call=turn.call or (Call(call_id, seq=order.message_seq) if call_id else None),
        approval=_approval(order),
        approved_by=order.approved_by,
        approved_at=None if order.approved_at is None else utc(order.approved_at),
        cancel=cancel,
        cancelled_by=order.cancelled_by,
        fills=fills,
        notes=notes,
    )


def _approval(order: Order) -> str:
    if order.approval == APPROVED:
        when = "" if order.approved_at is None else f" at {utc(order.approved_at):%Y-%m-%d %H:%M:%S} UTC"
        return f"approved by {order.approved_by or 'the account owner'}{when}"
    if order.approval == NOT_NEEDED:
        return "not needed: the call was under the agent's approval threshold"
    return "not recorded (the order was placed before the audit trail)"


def _agent(session: Session, user_id: int, kind: str | None, agent_id: int | None) -> TradingAgent | None:
    """The user's agent `kind/agent_id`, if it still exists."""
    cls = AGENT_KINDS.get(kind or "")
    if cls is None or agent_id is None:
        return None
    return session.scalar(select(cls).where(cls.id == agent_id, cls.user_id == user_id))


def _cancel(session: Session, user_id: int, order: Order, notes: list[str]) -> Call | None:
    """The tool call that cancelled the order, looked up in the cancelling agent's messages."""
    if order.cancel_call_id is None or order.cancelled_by is None:
        return None
    kind, _, number = order.cancelled_by.partition("/")
    agent = _agent(session, user_id, kind, int(number)) if number.isdigit() else None
    if agent is None:
        notes.append(f"{order.cancelled_by}, which cancelled this order, no longer exists.")
        return Call(order.cancel_call_id)
    found = _Turn(order.cancel_call_id, None)
    found.read(session, agent, notes)
    return found.call or Call(order.cancel_call_id)


class _Turn:
    """The stored messages around one tool call: the turn's prompt, the model's text, the call and its result."""

    def __init__(self, call_id: str | None, seq: int | None) -> None:
        self.call_id = call_id
        self.seq = seq
        self.prompt: str | None = None
        self.prompt_seq: int | None = None
        self.said: list[Said] = []
        self.call: Call | None = None

    def read(self, session: Session, agent: TradingAgent, notes: list[str]) -> None:
        assert self.call_id is not None
        agent_table = sa_inspect(type(agent)).local_table
        assert isinstance(agent_table, Table)
        table = message_table(agent_table)
        seq = self.seq if self.seq is not None else _find_call(session, table, agent.id, self.call_id)
        if seq is None:
            notes.append(f"Tool call {self.call_id} is not in {agent.label}'s stored messages (deleted?).")
            return
        asking = _message(session, table, agent.id, seq)
        part = _call_part(asking, self.call_id)
        if part is None:
            notes.append(f"Message {seq} of {agent.label} is no longer stored: the tool call cannot be shown.")
            return
        self.call = Call(self.call_id, part.tool_name, part.args_as_dict(), seq)
        before = list(_messages(session, table, agent.id, seq, backwards=True))
        for at, message in before:  # newest first: the latest user prompt at or before the call starts its turn
            if (prompt := _prompt(message)) is not None:
                self.prompt, self.prompt_seq = prompt, at
                break
        else:
            notes.append(f"The prompt of this turn is not among the {SCAN} messages before message {seq}.")
        turn = [(at, m) for at, m in reversed(before) if self.prompt_seq is None or at >= self.prompt_seq]
        for at, message in _messages(session, table, agent.id, seq + 1, backwards=False):
            if _prompt(message) is not None:
                break  # the next turn
            turn.append((at, message))
        for at, message in turn:
            if isinstance(message, ModelResponse):
                self.said += [Said(at, p.content) for p in message.parts if isinstance(p, TextPart) and p.content]
            elif isinstance(message, ModelRequest):
                for p in message.parts:
                    if isinstance(p, ToolReturnPart) and p.tool_call_id == self.call_id:
                        self.call = Call(
                            self.call_id, part.tool_name, part.args_as_dict(), seq, to_jsonable_python(p.content)
                        )


def _find_call(session: Session, table: Table, agent_id: int, call_id: str) -> int | None:
    """The seq of the stored response asking for tool call `call_id` (orders placed before seqs were stamped)."""
    m = table.c
    query = select(m.seq, m.body).where(
        m.agent_id == agent_id, m.kind == "response", m.body.contains(call_id, autoescape=True)
    )
    for seq, body in session.execute(query.order_by(m.seq)):
        if _call_part(load_message(body), call_id) is not None:
            return int(seq)
    return None


def _message(session: Session, table: Table, agent_id: int, seq: int) -> ModelMessage | None:
    m = table.c
    body = session.scalar(select(m.body).where(m.agent_id == agent_id, m.seq == seq))
    return None if body is None else load_message(body)


def _messages(
    session: Session, table: Table, agent_id: int, seq: int, *, backwards: bool
) -> Iterator[tuple[int, ModelMessage]]:
    """Up to `SCAN` stored messages from `seq` on (or before it, newest first, with `backwards`)."""
    m = table.c
    query = select(m.seq, m.body).where(m.agent_id == agent_id)
    query = query.where(m.seq <= seq).order_by(m.seq.desc()) if backwards else query.where(m.seq >= seq).order_by(m.seq)
    for at, body in session.execute(query.limit(SCAN)):
        yield int(at), load_message(body)


def _call_part(message: ModelMessage | None, call_id: str) -> ToolCallPart | None:
    if not isinstance(message, ModelResponse):
        return None
    return next((p for p in message.tool_calls if p.tool_call_id == call_id), None)


def _prompt(message: ModelMessage) -> str | None:
    """The user's prompt in a request, if it has one."""
    if not isinstance(message, ModelRequest):
        return None
    for part in message.parts:
        if isinstance(part, UserPromptPart):
            return part.content if isinstance(part.content, str) else str(to_jsonable_python(part.content))
    return None
