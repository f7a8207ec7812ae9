"""The paper brokerage: orders filled against the market's quotes, on the tables in `accounts`.

Every method takes the caller's Session and the owner's `user_id` and touches only that user's rows,
so an agent acting for user A cannot read or trade user B's account. Methods never commit: they run
in the caller's transaction and lock the user's account row first (SELECT ... FOR UPDATE on
PostgreSQL; on SQLite the account upsert takes the database's write lock), so two orders of one user
never interleave and cannot overspend together.

Business rejections are stored as orders with status "rejected" and a `reason` (`checks`).

Orders fill only while the exchange is open (`calendar`, the NYSE session by default). Resting orders
fill lazily: `work_orders` (also run at the start of every `place_order`, and by `exchange.tick` for
every account with open orders) fills the ones that are marketable at that moment, at that moment's
ask or bid, and expires day orders whose session has closed. A day order belongs to the session it
was placed in, or to the next one if it was placed while the exchange was closed; GTC orders stay
until filled or cancelled.

An order placed while the exchange is closed is `accepted` (after every check) and rests, its `reason`
saying it waits for the open; it is `new` once the exchange opens, like an order resting in a session. A
queued market buy carries a collar: it fills at the ask up to the ask when placed + 5% (`MARKET_COLLAR`,
kept as its `limit_price`), and its cash is checked and reserved at that price. So a reservation always
covers the fill, however the price moves overnight, and a gap beyond the collar leaves the order resting
(like a limit order) rather than filling at any price or overdrawing the account. Queued market sells
need no collar (their shares are reserved) and fill at the bid. Open buy orders reserve cash at their
limit price and open sell orders reserve their shares, so a resting order can always be filled when it
becomes marketable.

Each account's trading costs (`costs`) apply to every fill (`fills`).

An order takes no more shares than the quote displays on its side (`Quote.bid_size`/`ask_size`); the rest
is `partially_filled` and fills from the next minute on. Every execution is a `Fill` row; reservations
cover only what is unfilled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tradedesk.brokerage import book, bracket_legs, checks, costs, fills, triggers
from tradedesk.brokerage.accounts import Account, Fill, Order, Position, utc
from tradedesk.brokerage.triggers import MARKET_COLLAR
from tradedesk.market import Market, Quote, UnknownSymbol, aware
from tradedesk.market.calendar import NYSE, Calendar, TradingSession
from tradedesk.market.money import cents, dollars

__all__ = [
    "DEFAULT_CASH",
    "MARKET_COLLAR",
    "Account",
    "Broker",
    "BrokerError",
    "Fill",
    "Holding",
    "Order",
    "OrderNotFound",
    "Portfolio",
    "Position",
    "RiskLimits",
]

DEFAULT_CASH = Decimal("100000")


class BrokerError(ValueError):
    """A request the broker refuses outright (rather than recording a rejected order)."""


class OrderNotFound(BrokerError, LookupError):
    """No such order for this user (another user's order is indistinguishable from a missing one)."""


@dataclass(frozen=True)
class RiskLimits:
    """Per-agent limits the broker enforces on every order; None means no limit."""

    max_order_notional: Decimal | None = None
    max_position_weight: Decimal | None = None  # position value / equity, after the order, as a fraction
    max_orders_per_day: int | None = None  # placed (not rejected) by this agent since 00:00 UTC
    allocation: Decimal | None = None  # the capital the agent may have in use (see `allocations`)


@dataclass(frozen=True)
class Holding:
    """One position, marked at the last trade."""

    symbol: str
    quantity: int
    average_cost: Decimal
    cost_basis: Decimal
    last: Decimal
    market_value: Decimal
    unrealized_pnl: Decimal


@dataclass(frozen=True)
class Portfolio:
    """A user's account at one moment. equity = cash + market_value; buying power excludes open buys."""

    cash: Decimal
    buying_power: Decimal
    market_value: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    positions: list[Holding]
    as_of: datetime
    commissions: Decimal = Decimal(0)
    """Commissions paid in total (already out of cash and realized P&L)."""


class Broker:
    """Places, fills and reports orders for one user at a time, against `market`, in `calendar`'s sessions."""

    def __init__(
        self, market: Market, clock: Callable[[], datetime] | None = None, calendar: Calendar | None = None
    ) -> None:
        self.market = market
        self._clock = clock or market.now
        self.calendar: Calendar = calendar or NYSE

    def now(self) -> datetime:
        return aware(self._clock())

    # -- accounts ---------------------------------------------------------------------------------

    def open_account(self, session: Session, user_id: int, cash: Decimal = DEFAULT_CASH) -> Account:
        """The user's account, created with `cash` if it does not exist yet (an existing one is unchanged)."""
        if cash < 0 or cents(cash) != cash:
            raise ValueError(f"opening cash must be a non-negative amount in whole cents (got {cash})")
        values = {"user_id": user_id, "cash": cash, "realized_pnl": Decimal(0), "created_at": self.now()}
        dialect = session.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):
            upsert = pg_insert(Account) if dialect == "postgresql" else sqlite_insert(Account)
            session.execute(upsert.values(**values).on_conflict_do_nothing(index_elements=["user_id"]))
        elif session.scalar(select(Account.id).where(Account.user_id == user_id)) is None:
            try:
                with session.begin_nested():
                    session.add(Account(**values))
            except IntegrityError:
                pass  # opened concurrently: use that one
        account = session.scalar(
            select(Account).where(Account.user_id == user_id).execution_options(populate_existing=True)
        )
        assert account is not None
        return account

    def lock_account(self, session: Session, user_id: int) -> Account:
        """Open (if needed) and lock the user's account row for the rest of the caller's transaction."""
        self.open_account(session, user_id)
        account = session.scalar(
            select(Account)
            .where(Account.user_id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert account is not None
        return account

    # -- orders -----------------------------------------------------------------------------------

    def place_order(
        self,
        session: Session,
        user_id: int,
        *,
        symbol: str,
        side: str,
        quantity: int,
        order_type: str = "market",
        limit_price: Decimal | None = None,
        time_in_force: str = "day",
        stop_price: Decimal | None = None,
        trail_amount: Decimal | None = None,
        trail_percent: Decimal | None = None,
        idempotency_key: str | None = None,
        agent_kind: str | None = None,
        agent_id: int | None = None,
        limits: RiskLimits | None = None,
    ) -> Order:
        """Place an order for `user_id`: filled, resting (open), or rejected with a reason.

        A key used before by this user returns that order (whatever the other arguments say); an empty
        key means none. Stop, stop-limit and trailing-stop orders rest until triggered (see `triggers`); an
        ioc order that cannot fill at once is cancelled, a fok order rejected.
        """
        checks.check_domain(side, order_type, time_in_force, quantity, idempotency_key)
        limit = checks.limit_price(limit_price, side)
        stop, trail, percent = (
            triggers.price(v, n)
            for v, n in ((stop_price, "stop_price"), (trail_amount, "trail_amount"), (trail_percent, "trail_percent"))
        )
        key = idempotency_key or None
        account = self.lock_account(session, user_id)
        if key is not None and (existing := self.order_by_key(session, user_id, key)) is not None:
            return existing
        self._work(session, account)
        now = self.now()
        trading = self.calendar.is_open(now)
        order = Order(
            user_id=user_id,
            agent_kind=agent_kind,
            agent_id=agent_id,
            symbol=symbol.strip().upper()[:16],
            side=side,
            quantity=quantity,
            order_type=order_type,
            limit_price=limit,
            time_in_force=time_in_force,
            idempotency_key=key,
            created_at=now,
            stop_price=stop,
            trail_amount=trail,
            trail_percent=percent,
            filled_quantity=0,
            filled_value=Decimal(0),
        )
        quote = self.quote(order.symbol, now)
        rejection = triggers.problem(order) if quote is not None else None
        if rejection is None and quote is not None:
            triggers.arm(order, quote)
        live = trading and quote is not None and rejection is None and triggers.triggered(order, quote, now)
        cost = costs.of(account)
        execution = fills.execution(order, quote, cost) if live and quote is not None else None
        rejection = rejection or checks.rejection(
            self, session, account, order, quote, limits or RiskLimits(), execution
        )
        if rejection is not None or quote is None:
            order.status, order.reason = "rejected", rejection
        elif trading:
            order.status = "new"  # fills now below, or works: a limit away from the quote, a stop before its trigger
        else:
            self._queue(order, quote, now)
        if order.is_open and time_in_force == "fok" and (execution is None or execution[1] < order.quantity):
            order.status, order.reason = "rejected", checks.fok_refusal(order, quote, trading, execution)
            execution = None
        try:
            with session.begin_nested():
                session.add(order)
        except IntegrityError:
            if key is not None and (existing := self.order_by_key(session, user_id, key)) is not None:
                return existing  # the same key won a race we should not have been able to lose
            raise
        if execution is not None and order.is_open:
            self._fill(session, account, order, *execution, now)
        if order.is_open and time_in_force == "ioc":
            order.status, order.reason = "cancelled", checks.ioc_rest(order, trading)
        elif order.status == "partially_filled" and quote is not None:
            order.reason = self._working_rest(order, quote)
        return order

    def _working_rest(self, order: Order, quote: Quote) -> str:
        """Say what happens to the rest of an order the displayed size could not fill at once; a market buy's rest
        gets a collar, so its reservation covers it as the price moves."""
        note = (
            f"{order.filled_quantity:,} of {order.quantity:,} shares filled at once (as many as were displayed); "
            f"the other {order.remaining:,} fill as shares are offered, from the next minute"
        )
        if order.order_type == "market" and order.side == "buy" and order.limit_price is None:
            order.limit_price = fills.collar(quote)
            note += f", at the ask up to {dollars(order.limit_price)} (the ask now + {MARKET_COLLAR:.0%})"
        return note

    def _queue(self, order: Order, quote: Quote, now: datetime) -> None:
        """Rest an order placed while the exchange is closed; a market buy gets its collar."""
        opens = self.calendar.next_session(now).open
        note = f"the exchange is closed: this order waits for the open ({opens:%Y-%m-%d %H:%M} UTC)"
        if order.order_type == "market" and order.side == "buy":
            order.limit_price = fills.collar(quote)
            note += (
                f", then fills at the ask up to {dollars(order.limit_price)} (the ask when placed "
                f"+ {MARKET_COLLAR:.0%}); its cash is reserved at that price"
            )
        order.status, order.reason = "accepted", note

    def cancel_order(self, session: Session, user_id: int, order_id: int) -> Order:
        """Cancel one of the user's open orders."""
        account = self.lock_account(session, user_id)
        self._work(session, account)
        order = session.scalar(select(Order).where(Order.id == order_id, Order.user_id == user_id))
        if order is None:
            raise OrderNotFound(f"no order {order_id} in this account")
        if (
            not order.is_open and order.status != bracket_legs.HELD
        ):  # a bracket's held exit can be dropped (with its pair)
            raise BrokerError(f"order {order_id} is {order.status}; only open orders can be cancelled")
        order.status, order.reason = "cancelled", "cancelled by the account owner" + fills.filled_note(order)
        bracket_legs.after_cancel(session, self, order)
        return order

    def work_orders(self, session: Session, user_id: int) -> list[Order]:
        """Expire the user's day orders whose session closed and fill marketable ones if open; returns those changed."""
        return self._work(session, self.lock_account(session, user_id))

    def open_orders(self, session: Session, user_id: int) -> list[Order]:
        """The user's open orders, oldest first."""
        return list(session.scalars(select(Order).where(book.is_open(user_id)).order_by(Order.id)))

    def orders(self, session: Session, user_id: int, limit: int = 50) -> list[Order]:
        """The user's most recent orders, newest first."""
        query = select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit)
        return list(session.scalars(query))

    # -- portfolio --------------------------------------------------------------------------------

    def portfolio(self, session: Session, user_id: int) -> Portfolio:
        """Cash, positions marked at the last trade, market value, equity and P&L (opens the account if needed)."""
        account = self.open_account(session, user_id)
        now = self.now()
        holdings = [self.holding(position, now) for position in book.positions(session, user_id)]
        market_value = sum((h.market_value for h in holdings), Decimal(0))
        cash = cents(account.cash)
        return Portfolio(
            cash=cash,
            buying_power=cash - book.reserved_cash(session, account),
            market_value=market_value,
            equity=cash + market_value,
            realized_pnl=cents(account.realized_pnl),
            unrealized_pnl=sum((h.unrealized_pnl for h in holdings), Decimal(0)),
            positions=holdings,
            as_of=now,
            commissions=cents(account.commissions),
        )

    def holding(self, position: Position, now: datetime) -> Holding:
        quote = self.quote(position.symbol, now)
        last = quote.last if quote is not None else cents(position.average_cost)  # delisted: carry at cost
        value = last * position.quantity
        basis = cents(position.cost_basis)
        return Holding(position.symbol, position.quantity, position.average_cost, basis, last, value, value - basis)

    # -- lookups ----------------------------------------------------------------------------------

    def quote(self, symbol: str, now: datetime) -> Quote | None:
        try:
            return self.market.quote(symbol, at=now)
        except UnknownSymbol:
            return None

    def order_by_key(self, session: Session, user_id: int, key: str) -> Order | None:
        return session.scalar(select(Order).where(Order.user_id == user_id, Order.idempotency_key == key))

    def _work(self, session: Session, account: Account) -> list[Order]:
        """Expire day orders past their session's close; while open, fill marketable ones (oldest first) now."""
        now = self.now()
        trading = self.calendar.is_open(now)
        changed = []
        for order in self.open_orders(session, account.user_id):
            if not order.is_open:  # cancelled this pass by its OCO sibling's fill
                continue
            if order.time_in_force == "day" and now >= (close := self._session_of(order).close):
                order.status = "expired"
                unfilled = "" if order.filled_quantity else " unfilled"
                order.reason = f"day order expired{unfilled} at the close of its session ({close:%Y-%m-%d %H:%M} UTC)"
                order.reason += fills.filled_note(order)
                changed.append(order)
                continue
            if not trading:
                continue
            if order.status == "accepted":
                order.status = "new"  # the exchange opened: it works from now on
            if order.filled_at is not None and fills.minute(utc(order.filled_at)) == fills.minute(now):
                continue  # it took what was displayed this minute: the rest waits for the next quote
            quote = self.quote(order.symbol, now)
            execution = None
            if quote is not None and triggers.triggered(order, quote, now):
                execution = fills.execution(order, quote, costs.of(account))
            if execution is None:
                continue
            unfillable = checks.unfillable(session, account, order, *execution)
            if unfillable:
                order.status, order.reason = "rejected", unfillable
            else:
                self._fill(session, account, order, *execution, now)
            changed.append(order)
        bracket_legs.settle(session, self, account.user_id)  # children of bracket entries that expired or were rejected
        session.flush()
        return changed

    def _session_of(self, order: Order) -> TradingSession:
        """The session a day order lives in: the one it was placed in, else the next to open."""
        return self.calendar.next_session(utc(order.created_at))

    def _fill(
        self, session: Session, account: Account, order: Order, price: Decimal, shares: int, now: datetime
    ) -> None:
        """Fill `shares` of `order` at `price` (see `fills.fill`), then let a bracket or OCO order's legs follow."""
        fills.fill(session, account, order, price, shares, now)
        bracket_legs.after_fill(session, self, order)
