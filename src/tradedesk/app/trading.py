"""The user's orders: listing, cancelling and replacing them, and explaining one from its audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tradedesk.agents import audit
from tradedesk.agents.models import AGENT_KINDS, TradingAgent
from tradedesk.agents.orders import order_view
from tradedesk.app.errors import Conflict, Invalid, NotFound
from tradedesk.app.scope import MAX_ID, Scope
from tradedesk.brokerage import replace, services
from tradedesk.brokerage.accounts import STATUSES, Order
from tradedesk.brokerage.broker import BrokerError, OrderNotFound

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class OrderChanges:
    """What a cancel-and-replace changes (None: keep the old order's value)."""

    quantity: int | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None
    time_in_force: str | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in self.arguments().values())

    def arguments(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "limit_price": self.limit_price,
            "stop_price": self.stop_price,
            "trail_amount": self.trail_amount,
            "trail_percent": self.trail_percent,
            "time_in_force": self.time_in_force,
        }


def order_row(order: Order) -> dict[str, Any]:
    """An order with exact prices, who placed it and when."""
    agent = f"{order.agent_kind}/{order.agent_id}" if order.agent_kind and order.agent_id else None
    exact = {"limit_price": order.limit_price, "fill_price": order.fill_price}
    if order.stop_price is not None:
        exact["stop_price"] = order.stop_price
    if order.commission:
        exact["commission"] = order.commission
    times = {"created_at": order.created_at, "filled_at": order.filled_at}
    return order_view(order) | exact | {"agent": agent, "filled_quantity": order.filled_quantity or 0} | times


class TradingDesk(Scope):
    """One user's orders."""

    def orders(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        if status is not None and status not in STATUSES:
            raise Invalid(f"Unknown order status {status!r}: use one of {', '.join(STATUSES)}.")
        broker = services.broker()
        broker.work_orders(self.session, self.user.id)
        query = select(Order).where(Order.user_id == self.user.id)
        if status is not None:
            query = query.where(Order.status == status)
        rows = [order_row(o) for o in self.session.scalars(query.order_by(Order.id.desc()).limit(limit))]
        self.session.commit()
        return rows

    def cancel_order(self, order_id: int) -> dict[str, Any]:
        if not 0 < order_id <= MAX_ID:
            raise NotFound(f"No order {order_id}.")
        try:
            order = services.broker().cancel_order(self.session, self.user.id, order_id)
        except OrderNotFound:
            raise NotFound(f"No order {order_id}.") from None
        except BrokerError as error:
            raise Conflict(str(error)) from None
        self.session.commit()
        return order_row(order)

    def replace_order(self, order_id: int, changes: OrderChanges) -> dict[str, Any]:
        """Cancel one of the user's open orders and place it again with `changes`; the new order's row.

        Nothing changes if the new order would be refused (Conflict says why); the agent that placed the old order
        owns the new one, under that agent's risk limits.
        """
        if not 0 < order_id <= MAX_ID:
            raise NotFound(f"No order {order_id}.")
        if changes.empty:
            raise Invalid("Say what to change: a quantity, limit price, stop price, trail or time in force.")
        old = self.session.scalar(select(Order).where(Order.id == order_id, Order.user_id == self.user.id))
        if old is None:
            raise NotFound(f"No order {order_id}.")
        agent = self._placing_agent(old)
        try:
            new = replace.replace_order(
                services.broker(), self.session, self.user.id, order_id, **changes.arguments(),
                limits=agent.limits if agent is not None else None,
            )  # fmt: skip
        except OrderNotFound:
            raise NotFound(f"No order {order_id}.") from None
        except BrokerError as error:
            raise Conflict(str(error)) from None
        except ValueError as error:
            raise Invalid(f"{error}.") from None
        self.session.commit()
        return order_row(new)

    def _placing_agent(self, order: Order) -> TradingAgent | None:
        """The user's agent that placed `order`, if it still exists."""
        kind = AGENT_KINDS.get(order.agent_kind or "")
        if kind is None or order.agent_id is None:
            return None
        return self.session.scalar(select(kind).where(kind.id == order.agent_id, kind.user_id == self.user.id))

    def explain(self, order_id: int) -> audit.Explanation:
        """The audit trail of one of the user's orders (`audit.explain`); another user's is not found."""
        try:
            return audit.explain(self.session, self.user.id, order_id)
        except OrderNotFound:
            raise NotFound(f"No order {order_id} in the account of {self.user.email}.") from None
