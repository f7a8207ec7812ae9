"""Orders as an agent sees and sizes them: an order's view (also the CLI's and the web's), and its notional.

Shared by the tools, the audit trail and the application, below all of them.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from decimal import Decimal
from typing import Any

from tradedesk.brokerage import brackets, services
from tradedesk.brokerage.accounts import Order

_STOP_KEYS = ("stop_price", "trail_amount", "trail_percent")


def plain(value: Any) -> Any:
    """Decimals as numbers and dataclasses as dicts, for the model to read."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def order_notional(args: dict[str, Any]) -> Decimal:
    """What an order's arguments would cost at the current ask (or its limit price, else its stop price).

    A bracket's (or an OCO exit's) is its largest leg's: no order it places is above the approval threshold
    unapproved, and its exits, which only close the shares the entry buys, are not added on top of it.
    """
    quantity = Decimal(str(args.get("quantity") or 0))
    limit = args.get("limit_price")
    if limit is None:
        limit = args.get("stop_price")
    if limit is not None:
        price = Decimal(str(limit))
    else:
        try:
            price = services.market().quote(str(args.get("symbol", "")).upper()).ask
        except ValueError:
            return Decimal(0)  # unknown symbol: the broker rejects it anyway
    legs = [Decimal(str(v)) for v in (args.get("take_profit"), args.get("stop_loss")) if v is not None]
    return quantity * max([price, *legs])


def order_view(order: Any) -> dict[str, Any]:
    """An order as the agent (and the CLI) sees it."""
    keys = (
        "id",
        "symbol",
        "side",
        "quantity",
        "order_type",
        "limit_price",
        "stop_price",
        "trail_amount",
        "trail_percent",
        "time_in_force",
        "status",
        "fill_price",
        "reason",
    )
    view = {k: plain(getattr(order, k, None)) for k in keys}
    for key in _STOP_KEYS:  # only stop orders have them: keep other orders' results as short as before
        if view[key] is None:
            del view[key]
    if isinstance(order, Order):
        filled = order.filled_quantity or 0
        if 0 < filled < order.quantity:  # in part: say how much, as the fill price is the average of those shares
            view["filled_quantity"] = filled
        if order.commission:
            view["commission"] = plain(order.commission)
        view |= brackets.view(order)  # a bracket's or OCO's class, parent and legs
    return view
