"""Audit stamps: which tool call, turn, message and approval placed or cancelled an order, written on the order.

The tools call these in the transaction that places or cancels; `audit.explain` reads them back.
"""

from __future__ import annotations

from agentrecord import ToolContext
from tradedesk.brokerage.accounts import Order

NOT_NEEDED, APPROVED = "not_needed", "approved"


def stamp_placement(order: Order, context: ToolContext) -> None:
    """Record on a newly placed `order` the tool call, turn, message and approval that placed it.

    An idempotent replay returns the order its first call placed, stamped then: it is left as it is.
    """
    if order.tool_call_id is not None or order.idempotency_key != context.call_id:
        return
    order.tool_call_id, order.turn, order.message_seq = context.call_id, context.turn, context.seq
    if context.approval is None:
        order.approval = NOT_NEEDED
    else:
        order.approval, order.approved_by, order.approved_at = APPROVED, context.approval.by, context.approval.at


def stamp_legs(first: Order, legs: list[Order]) -> None:
    """Give the orders placed with `first` by the same tool call (a bracket's exits, an OCO's second leg) its stamp,
    so every one of them, and so every fill, links to the call."""
    for leg in legs:
        if leg.tool_call_id is None:
            leg.tool_call_id, leg.turn, leg.message_seq = first.tool_call_id, first.turn, first.message_seq
            leg.approval, leg.approved_by, leg.approved_at = first.approval, first.approved_by, first.approved_at


def stamp_cancel(order: Order, agent: str, context: ToolContext) -> None:
    """Record which agent (`daytrader/3`) and tool call cancelled `order`."""
    order.cancelled_by, order.cancel_call_id = agent[:48], context.call_id
