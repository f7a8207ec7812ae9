"""Capital per agent: each agent's own book of shares and P&L, the capital it has in use, and the broker's check.

An agent's book is replayed from the account's `Fill` rows (joined to their orders' agent), in the order
they happened: a buy adds its shares and their cost to the buyer's book; a sell takes its shares out of
the seller's book at the book's average cost (the cost basis moves by the sold fraction, as a `Position`'s
does) and books proceeds - that cost as realized P&L; commissions come out of the payer's realized P&L.
Orders placed without an agent (the owner's own, from the CLI or the web) make the book "you".

An agent with an allocation may only sell shares its own book holds, so its book never goes short. The
owner and agents without an allocation may sell any of the account's shares: what the seller's own book
does not hold is taken from the other books holding the symbol ("you" first, then agents by label), at
their average cost, and the realized P&L of the sale is the seller's. So the books always add up to the
account's positions, and their total P&L (realized + unrealized) to the account's. The realized/unrealized
split adds up to the account's exactly as long as no sale draws on shares two books bought at different
average costs (the account pools them at one average cost; the books keep each its own).

An agent's capital in use = the cost basis of its holdings + the cash its open buy orders reserve (for their
unfilled remainder, at their limit price, with commission). The broker rejects an allocated agent's buy when
in use + the order's cost (at the price the cash check uses, with commission) would pass the allocation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradedesk.brokerage import costs
from tradedesk.brokerage.accounts import OPEN_STATUSES, Fill, Order
from tradedesk.market import UnknownSymbol
from tradedesk.market.money import cents, dollars

if TYPE_CHECKING:
    from tradedesk.brokerage.broker import Broker

YOU = "you"
"""The book of orders placed without an agent (the owner's own)."""


def label(agent_kind: str | None, agent_id: int | None) -> str:
    """`daytrader/3`, or "you" for an order placed without an agent."""
    return YOU if agent_kind is None or agent_id is None else f"{agent_kind}/{agent_id}"


@dataclass
class Ledger:
    """One book replayed from fills: shares and cost basis per symbol, and realized P&L net of commissions."""

    shares: dict[str, int] = field(default_factory=dict)
    basis: dict[str, Decimal] = field(default_factory=dict)
    realized: Decimal = Decimal(0)

    def held(self, symbol: str) -> int:
        """Shares of `symbol` in this book."""
        return self.shares.get(symbol, 0)

    def add(self, symbol: str, quantity: int, cost: Decimal) -> None:
        """Bought shares join the book at what they cost."""
        self.shares[symbol] = self.held(symbol) + quantity
        self.basis[symbol] = self.basis.get(symbol, Decimal(0)) + cost

    def take(self, symbol: str, quantity: int) -> Decimal:
        """Remove up to `quantity` shares at average cost; returns the cost basis removed."""
        held = self.held(symbol)
        taken = min(quantity, held)
        if taken <= 0:
            return Decimal(0)
        cost = cents(self.basis[symbol] * taken / held)
        if taken == held:
            del self.shares[symbol]
            del self.basis[symbol]
        else:
            self.shares[symbol] = held - taken
            self.basis[symbol] -= cost
        return cost


def ledgers(session: Session, user_id: int) -> dict[str, Ledger]:
    """Every book of the user's account (by `label`), replayed from its fills in the order they happened."""
    query = (
        select(Fill, Order.agent_kind, Order.agent_id)
        .join(Order, Fill.order_id == Order.id)
        .where(Fill.user_id == user_id, Order.user_id == user_id)
        .order_by(Fill.id)
    )
    books: dict[str, Ledger] = {}
    for fill, kind, agent_id in session.execute(query):
        owner = books.setdefault(label(kind, agent_id), Ledger())
        owner.realized -= fill.commission
        if fill.side == "buy":
            owner.add(fill.symbol, fill.quantity, fill.price * fill.quantity)
            continue
        short = fill.quantity - owner.held(fill.symbol)
        cost = owner.take(fill.symbol, fill.quantity)
        for name in sorted(books, key=lambda n: (n != YOU, n)):
            if short <= 0:
                break
            other = books[name]
            if other is not owner and other.held(fill.symbol):
                taking = min(short, other.held(fill.symbol))
                cost += other.take(fill.symbol, taking)
                short -= taking
        owner.realized += fill.price * fill.quantity - cost
    return books


def _open_orders(session: Session, user_id: int, name: str, side: str) -> Iterable[tuple[Order, int]]:
    """The book's open orders on `side` with their unfilled remainders (quantity - shares already filled)."""
    kind, _, number = name.partition("/")
    mine = (
        (Order.agent_kind.is_(None), Order.agent_id.is_(None))
        if name == YOU
        else (Order.agent_kind == kind, Order.agent_id == int(number))
    )
    filled = select(func.coalesce(func.sum(Fill.quantity), 0)).where(Fill.order_id == Order.id).scalar_subquery()
    query = select(Order, filled).where(
        Order.user_id == user_id, *mine, Order.status.in_(OPEN_STATUSES), Order.side == side
    )
    return [(o, o.quantity - int(done or 0)) for o, done in session.execute(query)]


def reserved(session: Session, user_id: int, name: str, cost: costs.Costs) -> Decimal:
    """Cash the book `name` has promised to its open buys: unfilled shares at their limit, with commission."""
    return sum(
        (
            o.limit_price * left + cost.commission(left, o.limit_price)
            for o, left in _open_orders(session, user_id, name, "buy")
            if o.limit_price is not None and left > 0
        ),
        Decimal(0),
    )


def in_use(session: Session, user_id: int, name: str, cost: costs.Costs, book: Ledger | None = None) -> Decimal:
    """The capital book `name` has in use: its holdings' cost basis + its open buys' reservations."""
    if book is None:
        book = ledgers(session, user_id).get(name, Ledger())
    return cents(sum(book.basis.values(), Decimal(0))) + reserved(session, user_id, name, cost)


def problem(
    session: Session, order: Order, price: Decimal, cost: costs.Costs, allocation: Decimal | None
) -> str | None:
    """Why an allocated agent may not place `order` (checked at `price`, as the cash check is), or None."""
    if allocation is None or order.agent_kind is None or order.agent_id is None:
        return None
    name = label(order.agent_kind, order.agent_id)
    book = ledgers(session, order.user_id).get(name, Ledger())
    if order.side == "sell":
        held = book.held(order.symbol)
        sells = _open_orders(session, order.user_id, name, "sell")
        promised = sum(left for o, left in sells if o.symbol == order.symbol)
        if order.quantity <= held - promised:
            return None
        pending = f" ({promised} already in its open sell orders)" if promised else ""
        return (
            f"cannot sell {order.quantity} {order.symbol}: {name}'s own book holds {held}{pending}; "
            "an agent with an allocation sells only shares it bought"
        )
    used = in_use(session, order.user_id, name, cost, book)
    needed = price * order.quantity + cost.commission(order.quantity, price)
    if used + needed <= allocation:
        return None
    return (
        f"allocation exceeded: {name} may use {dollars(allocation)}; {dollars(used)} in use, "
        f"this order needs {dollars(needed)}"
    )


def parse(amount: str | None, name: str, equity: Decimal, others: Decimal) -> Decimal | None:
    """An allocation from the owner's text ("none" or None clears it); ValueError saying what fits."""
    if amount is None or amount.strip().lower() == "none":
        return None
    try:
        value = Decimal(amount.strip().replace(",", "").removeprefix("$"))
    except InvalidOperation:
        raise ValueError(f"the allocation must be an amount in dollars, e.g. 5000 (got {amount!r})") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"the allocation must be an amount of 0 or more (got {amount!r})")
    available = max(equity - others, Decimal(0))
    if value > available:
        raise ValueError(
            f"cannot allocate {dollars(value)} to {name}: equity is {dollars(equity)} and the other agents' "
            f"allocations take {dollars(others)} of it, so at most {dollars(available)} is available"
        )
    if cents(value) != value:
        raise ValueError(f"the allocation must be in whole cents (got {amount!r})")
    return cents(value)


def of_caller(session: Session, agent: Any, cost: costs.Costs) -> dict[str, str]:
    """An allocated agent's allocation and capital in use, for its own portfolio tool; {} without an allocation."""
    allocation = getattr(agent, "allocation", None)
    if allocation is None:
        return {}
    name = label(agent.kind, agent.id)
    return {"allocation": str(allocation), "in_use": str(in_use(session, agent.user_id, name, cost))}


# -- the portfolio by agent ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentHolding:
    """One symbol in one book, marked at the last trade."""

    symbol: str
    quantity: int
    average_cost: Decimal
    cost_basis: Decimal
    last: Decimal
    market_value: Decimal
    unrealized_pnl: Decimal


@dataclass(frozen=True)
class AgentBook:
    """One agent's (or "you"'s) share of the account: positions, P&L, and its allocation and capital in use."""

    agent: str
    allocation: Decimal | None
    in_use: Decimal
    market_value: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    positions: list[AgentHolding]


def by_agent(
    session: Session, broker: Broker, user_id: int, allocations: Mapping[str, Decimal | None]
) -> list[AgentBook]:
    """The account broken down by agent: every agent in `allocations` (label -> allocation), every book with
    fills, and "you" if the owner traded; "you" first, then by label."""
    account = broker.open_account(session, user_id)
    cost = costs.of(account)
    books = ledgers(session, user_id)
    names = sorted(set(books) | set(allocations), key=lambda n: (n != YOU, n))
    rows = []
    for name in names:
        book = books.get(name, Ledger())
        holdings = [_holding(broker, symbol, book) for symbol in sorted(book.shares)]
        rows.append(
            AgentBook(
                agent=name,
                allocation=allocations.get(name),
                in_use=in_use(session, user_id, name, cost, book),
                market_value=sum((h.market_value for h in holdings), Decimal(0)),
                realized_pnl=cents(book.realized),
                unrealized_pnl=sum((h.unrealized_pnl for h in holdings), Decimal(0)),
                positions=holdings,
            )
        )
    return rows


def _holding(broker: Broker, symbol: str, book: Ledger) -> AgentHolding:
    quantity, basis = book.shares[symbol], cents(book.basis[symbol])
    average = (book.basis[symbol] / quantity).quantize(Decimal("0.0001"))
    try:
        last = broker.market.quote(symbol, at=broker.now()).last
    except UnknownSymbol:
        last = cents(average)  # delisted: carried at cost, as the account's positions are
    value = last * quantity
    return AgentHolding(symbol, quantity, average, basis, last, value, value - basis)
