"""The seed's tools. Each acts only for its agent's owner: no argument names a user or an account."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import select

from agentrecord import Tool
from tradedesk.agents import halt, stamps
from tradedesk.agents.orders import order_notional, order_view, plain
from tradedesk.brokerage import allocations, brackets, costs, equity, services
from tradedesk.brokerage.accounts import Order
from tradedesk.brokerage.broker import BrokerError
from tradedesk.market.tickers import TICKERS

Symbol = Annotated[str, Field(json_schema_extra={"enum": list(TICKERS)})]
"""A ticker symbol, declared to the model as one of the market's listed tickers (the market still checks it)."""
_SIDE_WORDS = {"buy": ["long", "add", "purchase", "acquire"], "sell": ["trim", "unload"]}
Side = Annotated[Literal["buy", "sell"], Field(json_schema_extra={"x-synonyms": _SIDE_WORDS})]
"""An order's side, with the words a request may use for it (read by the embedded model; other models ignore it)."""


def _decimal(value: float | None) -> Decimal | None:
    """A price argument as the model wrote it (through its shortest repr), exactly."""
    return None if value is None else Decimal(str(value))


def _snapshot_if_filled(session: Any, user_id: int, order: Order) -> None:
    """The equity curve gets a point at every fill, including one an order gets when placed."""
    if order.filled_quantity:
        equity.snapshot(session, user_id, services.broker().portfolio(session, user_id), force=True)


class QuoteFeed(Tool):
    """Get the latest quote for a stock ticker symbol (e.g. AAPL): bid, ask, last price and volume."""

    def call(self, symbol: Symbol) -> dict[str, Any]:
        quote = dict(plain(services.market().quote(symbol.strip().upper())))
        # what the description promises; the displayed sizes cost the embedded model two quoted answers in 50
        # (BENCHMARKS.md), and the broker handles an order larger than them (partial fills)
        return {k: v for k, v in quote.items() if k not in ("bid_size", "ask_size")}


class FundamentalsFeed(Tool):
    """Get a company's fundamentals by ticker: P/E, revenue growth, margins, debt/equity, dividend yield."""

    def call(self, symbol: Symbol) -> dict[str, Any]:
        return dict(plain(services.market().fundamentals(symbol.strip().upper())))


class OrderEntry(Tool):
    """Place an order to buy or sell shares for the user: market or limit, day or good-till-cancelled."""

    # The stop arguments are explained on the arguments, not in the description: an embedded small model routes
    # by the description, and a longer one sent "Buy 10 shares of AAPL." to the quote (BENCHMARKS.md, issue 13).
    def call(
        self,
        symbol: Symbol,
        side: Side,
        quantity: int,
        order_type: Literal["market", "limit", "stop", "stop_limit", "trailing_stop"] = "market",
        limit_price: float | None = None,
        time_in_force: Annotated[
            Literal["day", "gtc", "ioc", "fok"],
            Field(description="ioc fills what it can at once and cancels the rest; fok fills all at once or nothing"),
        ] = "day",
        stop_price: Annotated[
            float | None, Field(description="the trigger price of a stop or stop_limit order")
        ] = None,
        trail_amount: Annotated[float | None, Field(description="a trailing_stop's distance in dollars")] = None,
        trail_percent: Annotated[float | None, Field(description="a trailing_stop's distance in percent")] = None,
        take_profit: Annotated[
            float | None, Field(description="bracket: sell limit price taking profit once bought (sell: OCO exit)")
        ] = None,
        stop_loss: Annotated[
            float | None, Field(description="bracket: sell stop price limiting the loss once bought (sell: OCO exit)")
        ] = None,
    ) -> dict[str, Any]:
        agent: Any = self.record
        broker = services.broker()
        with self.session() as session:
            if (reason := halt.refusal(session, agent, side)) is not None:  # paused, halted, past its daily loss
                return {"status": "rejected", "reason": reason}
            broker.open_account(session, agent.user_id)
            if take_profit is not None or stop_loss is not None:  # a bracket on a buy, an OCO exit on a sell
                exits = brackets.place_exits(
                    broker,
                    session,
                    agent.user_id,
                    symbol=symbol,
                    side=side,
                    quantity=quantity,
                    order_type=order_type,
                    take_profit=_decimal(take_profit),
                    stop_loss=_decimal(stop_loss),
                    limit_price=_decimal(limit_price),
                    time_in_force=time_in_force,
                    other_prices=any(v is not None for v in (stop_price, trail_amount, trail_percent)),
                    idempotency_key=self.call_id,
                    agent_kind=agent.kind,
                    agent_id=agent.id,
                    limits=agent.limits,
                )
                stamps.stamp_placement(exits, self.context)
                stamps.stamp_legs(exits, brackets.legs(session, exits))
                _snapshot_if_filled(session, agent.user_id, exits)
                return order_view(exits)
            order = broker.place_order(
                session,
                agent.user_id,
                symbol=symbol.strip().upper(),
                side=side,
                quantity=quantity,
                order_type=order_type,
                limit_price=_decimal(limit_price),
                time_in_force=time_in_force,
                stop_price=_decimal(stop_price),
                trail_amount=_decimal(trail_amount),
                trail_percent=_decimal(trail_percent),
                idempotency_key=self.call_id,
                agent_kind=agent.kind,
                agent_id=agent.id,
                limits=agent.limits,
            )
            stamps.stamp_placement(order, self.context)
            _snapshot_if_filled(session, agent.user_id, order)
            return order_view(order)


class CancelOrder(Tool):
    """Cancel one of the user's open orders by its id (the id order_entry returned)."""

    def call(self, order_id: int) -> dict[str, Any]:
        agent: Any = self.record
        broker = services.broker()
        with self.session() as session:
            try:
                order = broker.cancel_order(session, agent.user_id, order_id)
            except BrokerError as exc:  # no such order of this user, or no longer open
                return {"id": order_id, "status": "not cancelled", "reason": str(exc)}
            order.reason = f"cancelled by {agent.kind}/{agent.id}"
            stamps.stamp_cancel(order, f"{agent.kind}/{agent.id}", self.context)
            return order_view(order)


def open_order_notional(session: Any, user_id: int, order_id: Any) -> Decimal:
    """What one of the user's orders is worth at its limit or stop price (else the ask); 0 if there is none."""
    if not isinstance(order_id, int) or isinstance(order_id, bool):
        return Decimal(0)
    found = session.scalar(select(Order).where(Order.id == order_id, Order.user_id == user_id))
    if found is None:
        return Decimal(0)
    args = {"symbol": found.symbol, "quantity": found.quantity, "limit_price": found.limit_price}
    return order_notional(args | {"stop_price": found.stop_price})


class PositionBook(Tool):
    """List the user's open positions: how many shares of each stock they own, average cost, last price, market
    value, unrealized P&L."""

    def call(self) -> list[dict[str, Any]]:
        broker = services.broker()
        with self.session() as session:
            broker.open_account(session, self.record.user_id)  # type: ignore[attr-defined]
            portfolio = broker.portfolio(session, self.record.user_id)  # type: ignore[attr-defined]
            return list(plain(portfolio.positions))


class PortfolioBook(Tool):
    """Summarize the user's portfolio: cash and buying power, positions, market value, equity, realized and
    unrealized P&L."""

    def call(self) -> dict[str, Any]:
        broker = services.broker()
        with self.session() as session:
            account = broker.open_account(session, self.record.user_id)  # type: ignore[attr-defined]
            book = dict(plain(broker.portfolio(session, self.record.user_id)))  # type: ignore[attr-defined]
            return book | allocations.of_caller(session, self.record, costs.of(account))
