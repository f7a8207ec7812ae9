"""The paper brokerage: orders filled against the market's quotes, on the tables in `accounts`.

Every method takes the caller's Session and the owner's `user_id` and touches only that user's rows,
so an agent acting for user A cannot read or trade user B's account. Methods never commit: they run
in the caller's transaction and lock the user's account row first (SELECT ... FOR UPDATE on
PostgreSQL; on SQLite the account upsert takes the database's write lock), so two orders of one user
never interleave and cannot overspend together.

Business rejections (unknown symbol, quantity <= 0, insufficient cash, selling more than held, a risk
limit) are stored as orders with status "rejected" and a `reason` the agent can read. Arguments
outside the API's domain (a side other than buy/sell, an unknown order type or time in force, a
quantity that is not an int) are programming errors and raise ValueError before anything is stored.

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

Each account's trading costs (`costs`: a commission per share with a minimum, and a size impact on the
fill price) apply to every fill; a buy's cash check and reservation include its commission.

An order takes no more shares than the quote displays on its side (`Quote.bid_size`/`ask_size`); the rest
is `partially_filled` and fills from the next minute on. Every execution is a `Fill` row; reservations
cover only what is unfilled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tradedesk import allocations, brackets, costs, triggers
from tradedesk.accounts import OPEN_STATUSES, ORDER_TYPES, SIDES, TIMES_IN_FORCE, Account, Fill, Order, Position, utc
from tradedesk.market import Market, Quote, UnknownSymbol, aware
from tradedesk.market.calendar import NYSE, Calendar, TradingSession
from tradedesk.market.money import SCALE, cents, cents_down, cents_up, dollars
from tradedesk.triggers import MARKET_COLLAR

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
MAX_QUANTITY = 1_000_000_000
_BIGINT = 2**63 - 1


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

    def _lock_account(self, session: Session, user_id: int) -> Account:
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
        _check_domain(side, order_type, time_in_force, quantity, idempotency_key)
        limit = _limit(limit_price, side)
        stop, trail, percent = (
            triggers.price(v, n)
            for v, n in ((stop_price, "stop_price"), (trail_amount, "trail_amount"), (trail_percent, "trail_percent"))
        )
        key = idempotency_key or None
        account = self._lock_account(session, user_id)
        if key is not None and (existing := self._by_key(session, user_id, key)) is not None:
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
        quote = self._quote(order.symbol, now)
        rejection = triggers.problem(order) if quote is not None else None
        if rejection is None and quote is not None:
            triggers.arm(order, quote)
        live = trading and quote is not None and rejection is None and triggers.triggered(order, quote, now)
        cost = costs.of(account)
        execution = _execution(order, quote, cost) if live and quote is not None else None
        rejection = rejection or self._rejection(session, account, order, quote, limits or RiskLimits(), execution)
        if rejection is not None or quote is None:
            order.status, order.reason = "rejected", rejection
        elif trading:
            order.status = "new"  # fills now below, or works: a limit away from the quote, a stop before its trigger
        else:
            self._queue(order, quote, now)
        if order.is_open and time_in_force == "fok" and (execution is None or execution[1] < order.quantity):
            order.status, order.reason = "rejected", _fok_refusal(order, quote, trading, execution)
            execution = None
        try:
            with session.begin_nested():
                session.add(order)
        except IntegrityError:
            if key is not None and (existing := self._by_key(session, user_id, key)) is not None:
                return existing  # the same key won a race we should not have been able to lose
            raise
        if execution is not None and order.is_open:
            self._fill(session, account, order, *execution, now)
        if order.is_open and time_in_force == "ioc":
            order.status, order.reason = "cancelled", _ioc_rest(order, trading)
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
            order.limit_price = _collar(quote)
            note += f", at the ask up to {dollars(order.limit_price)} (the ask now + {MARKET_COLLAR:.0%})"
        return note

    def _queue(self, order: Order, quote: Quote, now: datetime) -> None:
        """Rest an order placed while the exchange is closed; a market buy gets its collar."""
        opens = self.calendar.next_session(now).open
        note = f"the exchange is closed: this order waits for the open ({opens:%Y-%m-%d %H:%M} UTC)"
        if order.order_type == "market" and order.side == "buy":
            order.limit_price = _collar(quote)
            note += (
                f", then fills at the ask up to {dollars(order.limit_price)} (the ask when placed "
                f"+ {MARKET_COLLAR:.0%}); its cash is reserved at that price"
            )
        order.status, order.reason = "accepted", note

    def cancel_order(self, session: Session, user_id: int, order_id: int) -> Order:
        """Cancel one of the user's open orders."""
        account = self._lock_account(session, user_id)
        self._work(session, account)
        order = session.scalar(select(Order).where(Order.id == order_id, Order.user_id == user_id))
        if order is None:
            raise OrderNotFound(f"no order {order_id} in this account")
        if not order.is_open and order.status != brackets.HELD:  # a bracket's held exit can be dropped (with its pair)
            raise BrokerError(f"order {order_id} is {order.status}; only open orders can be cancelled")
        order.status, order.reason = "cancelled", "cancelled by the account owner" + _filled_note(order)
        brackets.after_cancel(session, self, order)
        return order

    def work_orders(self, session: Session, user_id: int) -> list[Order]:
        """Expire the user's day orders whose session closed and fill marketable ones if open; returns those changed."""
        return self._work(session, self._lock_account(session, user_id))

    def open_orders(self, session: Session, user_id: int) -> list[Order]:
        """The user's open orders, oldest first."""
        return list(session.scalars(select(Order).where(_is_open(user_id)).order_by(Order.id)))

    def orders(self, session: Session, user_id: int, limit: int = 50) -> list[Order]:
        """The user's most recent orders, newest first."""
        query = select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit)
        return list(session.scalars(query))

    # -- portfolio --------------------------------------------------------------------------------

    def portfolio(self, session: Session, user_id: int) -> Portfolio:
        """Cash, positions marked at the last trade, market value, equity and P&L (opens the account if needed)."""
        account = self.open_account(session, user_id)
        now = self.now()
        holdings = [self._holding(position, now) for position in self._positions(session, user_id)]
        market_value = sum((h.market_value for h in holdings), Decimal(0))
        cash = cents(account.cash)
        return Portfolio(
            cash=cash,
            buying_power=cash - self._reserved_cash(session, account),
            market_value=market_value,
            equity=cash + market_value,
            realized_pnl=cents(account.realized_pnl),
            unrealized_pnl=sum((h.unrealized_pnl for h in holdings), Decimal(0)),
            positions=holdings,
            as_of=now,
            commissions=cents(account.commissions),
        )

    def _holding(self, position: Position, now: datetime) -> Holding:
        quote = self._quote(position.symbol, now)
        last = quote.last if quote is not None else cents(position.average_cost)  # delisted: carry at cost
        value = last * position.quantity
        basis = cents(position.cost_basis)
        return Holding(position.symbol, position.quantity, position.average_cost, basis, last, value, value - basis)

    # -- internals --------------------------------------------------------------------------------

    def _quote(self, symbol: str, now: datetime) -> Quote | None:
        try:
            return self.market.quote(symbol, at=now)
        except UnknownSymbol:
            return None

    def _by_key(self, session: Session, user_id: int, key: str) -> Order | None:
        return session.scalar(select(Order).where(Order.user_id == user_id, Order.idempotency_key == key))

    def _positions(self, session: Session, user_id: int) -> list[Position]:
        query = select(Position).where(Position.user_id == user_id).order_by(Position.symbol)
        return list(session.scalars(query.execution_options(populate_existing=True)))

    def _position(self, session: Session, user_id: int, symbol: str) -> Position | None:
        query = select(Position).where(Position.user_id == user_id, Position.symbol == symbol)
        return session.scalar(query.execution_options(populate_existing=True))

    def _reserved_cash(self, session: Session, account: Account) -> Decimal:
        """Cash promised to open buy orders' unfilled shares, at their limit prices (a market buy's collar), with the
        commission still to pay."""
        cost = costs.of(account)
        buys = session.scalars(select(Order).where(_is_open(account.user_id), Order.side == "buy"))
        return sum((_reserve(cost, o) for o in buys if o.limit_price is not None), Decimal(0))

    def _reserved_shares(self, session: Session, user_id: int, symbol: str) -> int:
        """Shares of `symbol` promised to the user's open sell orders (an OCO pair's legs share theirs)."""
        return brackets.reserved_shares(session, user_id, symbol)

    def _rejection(
        self,
        session: Session,
        account: Account,
        order: Order,
        quote: Quote | None,
        limits: RiskLimits,
        execution: tuple[Decimal, int] | None,
    ) -> str | None:
        """Why `order` cannot be accepted, or None. The first failing check wins.

        Amounts are at the price the order fills at now and, for what rests, the price it reserves (see `_booking`).
        """
        if quote is None:
            return str(UnknownSymbol(order.symbol, self.market.symbols()))
        if order.quantity <= 0:
            return f"quantity must be a whole number of shares above 0 (got {order.quantity})"
        if order.quantity > MAX_QUANTITY:
            return f"quantity must be at most {MAX_QUANTITY:,} shares (got {order.quantity:,})"
        if order.order_type == "limit" and (order.limit_price is None or order.limit_price <= 0):
            return "a limit order needs a limit_price above $0.00"
        if order.order_type == "market" and order.limit_price is not None:
            return "limit_price applies only to limit orders; leave it out for a market order"
        if limits.max_orders_per_day is not None:
            placed = self._placed_today(session, order)
            if placed >= limits.max_orders_per_day:
                return (
                    f"risk limit exceeded: this agent already placed {placed} orders today "
                    f"(max {limits.max_orders_per_day} per day, reset at 00:00 UTC)"
                )
        cost = costs.of(account)
        notional, price = _booking(order, quote, execution)
        if limits.max_order_notional is not None and notional > limits.max_order_notional:
            return (
                f"risk limit exceeded: order notional {dollars(notional)} is above this agent's maximum of "
                f"{dollars(limits.max_order_notional)} per order"
            )
        if (over := allocations.problem(session, order, price, cost, limits.allocation)) is not None:
            return over
        held_position = self._position(session, order.user_id, order.symbol)
        held = held_position.quantity if held_position else 0
        if order.side == "sell":
            reserved = self._reserved_shares(session, order.user_id, order.symbol)
            if order.quantity > held - reserved:
                pending = f" ({reserved} already in open sell orders)" if reserved else ""
                return (
                    f"cannot sell {order.quantity} {order.symbol}: only {held} held{pending}; "
                    "short selling is not allowed"
                )
            return None
        available = account.cash - self._reserved_cash(session, account)
        needed = notional + cost.commission_on(order.quantity, notional)
        if needed > available:
            collar = order.order_type == "market" and execution is None
            why = f" (the ask + {MARKET_COLLAR:.0%}, as the exchange is closed)" if collar else ""
            if execution is not None and execution[1] < order.quantity:
                why = f" (the {order.quantity - execution[1]:,} shares not displayed now at up to {dollars(price)})"
            fee = needed - notional
            fee_note = f" with {dollars(fee)} commission" if fee else ""
            return (
                f"insufficient cash: buying {order.quantity} {order.symbol} at {dollars(price)}{why} needs "
                f"{dollars(needed)}{fee_note} but only {dollars(available)} is available"
            )
        if limits.max_position_weight is not None:
            equity = account.cash + sum(
                (self._holding(p, quote.time).market_value for p in self._positions(session, order.user_id)),
                Decimal(0),
            )
            after = equity - notional + quote.last * order.quantity
            weight = (held + order.quantity) * quote.last / after if after > 0 else Decimal("Infinity")
            if weight > limits.max_position_weight:
                return (
                    f"risk limit exceeded: {order.symbol} would be {weight:.1%} of equity, above this agent's "
                    f"maximum position weight of {limits.max_position_weight:.1%}"
                )
        return None

    def _placed_today(self, session: Session, order: Order) -> int:
        midnight = datetime.combine(order.created_at.date(), time(0), tzinfo=order.created_at.tzinfo)
        query = select(func.count(Order.id)).where(
            Order.user_id == order.user_id,
            Order.agent_kind.is_(None) if order.agent_kind is None else Order.agent_kind == order.agent_kind,
            Order.agent_id.is_(None) if order.agent_id is None else Order.agent_id == order.agent_id,
            Order.status != "rejected",
            Order.created_at >= midnight,
            brackets.counted_once(),
        )
        return int(session.scalar(query) or 0)

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
                order.reason += _filled_note(order)
                changed.append(order)
                continue
            if not trading:
                continue
            if order.status == "accepted":
                order.status = "new"  # the exchange opened: it works from now on
            if order.filled_at is not None and _minute(utc(order.filled_at)) == _minute(now):
                continue  # it took what was displayed this minute: the rest waits for the next quote
            quote = self._quote(order.symbol, now)
            execution = None
            if quote is not None and triggers.triggered(order, quote, now):
                execution = _execution(order, quote, costs.of(account))
            if execution is None:
                continue
            unfillable = self._unfillable(session, account, order, *execution)
            if unfillable:
                order.status, order.reason = "rejected", unfillable
            else:
                self._fill(session, account, order, *execution, now)
            changed.append(order)
        brackets.settle(session, self, account.user_id)  # children of bracket entries that expired or were rejected
        session.flush()
        return changed

    def _session_of(self, order: Order) -> TradingSession:
        """The session a day order lives in: the one it was placed in, else the next to open."""
        return self.calendar.next_session(utc(order.created_at))

    def _unfillable(self, session: Session, account: Account, order: Order, price: Decimal, shares: int) -> str | None:
        """A last check at fill time (reservations make it pass unless the data was edited by hand)."""
        needed = price * shares + _commission_of(costs.of(account), order, price, shares)
        if order.side == "buy" and needed > account.cash:
            return f"insufficient cash at fill: {dollars(needed)} needed, {dollars(account.cash)} held"
        position = self._position(session, order.user_id, order.symbol)
        if order.side == "sell" and (position is None or position.quantity < shares):
            return f"cannot sell {shares} {order.symbol}: only {position.quantity if position else 0} held"
        return None

    def _fill(
        self, session: Session, account: Account, order: Order, price: Decimal, shares: int, now: datetime
    ) -> None:
        """Fill `shares` of `order` at `price`: move cash and shares, and record the fill.

        Realized P&L = proceeds - the cost basis of the shares sold. The commission comes out of cash and realized
        P&L (on a buy too), so realized P&L is net of commissions; an order pays its minimum commission once.
        """
        amount = price * shares
        commission = _commission_of(costs.of(account), order, price, shares)
        account.cash -= commission
        account.realized_pnl -= commission
        account.commissions += commission
        position = self._position(session, order.user_id, order.symbol)
        if order.side == "buy":
            if position is None:
                position = Position(user_id=order.user_id, symbol=order.symbol, quantity=0, cost_basis=Decimal(0))
                session.add(position)
            account.cash -= amount
            position.quantity += shares
            position.cost_basis += amount
        else:
            assert position is not None and position.quantity >= shares
            basis = cents(position.cost_basis * shares / position.quantity)
            account.cash += amount
            account.realized_pnl += amount - basis
            position.quantity -= shares
            position.cost_basis -= basis
            if position.quantity == 0:
                session.delete(position)
        order.filled_quantity = (order.filled_quantity or 0) + shares
        order.filled_value = (order.filled_value or Decimal(0)) + amount
        order.commission = (order.commission or Decimal(0)) + commission
        order.fill_price = (order.filled_value / order.filled_quantity).quantize(SCALE)
        order.filled_at = now
        if order.filled_quantity == order.quantity:
            order.status, order.reason = "filled", None
        else:
            order.status = "partially_filled"
        session.add(
            Fill(
                order_id=order.id,
                user_id=order.user_id,
                symbol=order.symbol,
                side=order.side,
                quantity=shares,
                price=price,
                commission=commission,
                at=now,
            )
        )
        session.flush()
        brackets.after_fill(session, self, order)


def _is_open(user_id: int) -> ColumnElement[bool]:
    return and_(Order.user_id == user_id, Order.status.in_(OPEN_STATUSES))


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _filled_note(order: Order) -> str:
    """What part of an order that ends early had filled, for its reason."""
    filled = order.filled_quantity or 0
    return f" ({filled:,} of {order.quantity:,} shares had filled)" if filled else ""


def _ioc_rest(order: Order, trading: bool) -> str:
    """Why an immediate-or-cancel order's unfilled rest was cancelled when placed."""
    if order.filled_quantity:
        rest = order.quantity - order.filled_quantity
        return (
            f"immediate-or-cancel: {order.filled_quantity:,} of {order.quantity:,} shares filled at once (as many as "
            f"were displayed at its price); the other {rest:,} were cancelled"
        )
    why = "the exchange is closed" if not trading else "it could not fill at once at its price"
    return f"immediate-or-cancel order cancelled: {why}; nothing was bought or sold"


def _fok_refusal(order: Order, quote: Quote | None, trading: bool, execution: tuple[Decimal, int] | None) -> str:
    """Why a fill-or-kill order could not fill whole when placed."""
    if not trading:
        why = "the exchange is closed"
    elif execution is not None and quote is not None:
        side = "ask" if order.side == "buy" else "bid"
        why = f"only {execution[1]:,} of its {order.quantity:,} shares are displayed at the {side}"
    else:
        why = "it could not fill at once at its price"
    return f"fill-or-kill order not filled: {why}; nothing was bought or sold"


def _execution(order: Order, quote: Quote, cost: costs.Costs) -> tuple[Decimal, int] | None:
    """The fill `order` gets against `quote` now: (price, shares), or None if the price is beyond its limit or collar.

    Buys take the ask, sells the bid, moved by the size impact; no more shares than are displayed there.
    """
    displayed = quote.ask_size if order.side == "buy" else quote.bid_size
    rest = order.quantity - (order.filled_quantity or 0)
    shares = rest if displayed is None else min(rest, displayed)
    price = cost.fill_price(quote.ask if order.side == "buy" else quote.bid, order.side, shares)
    if order.limit_price is None:
        return price, shares
    marketable = price <= order.limit_price if order.side == "buy" else price >= order.limit_price
    return (price, shares) if marketable else None


def _booking(order: Order, quote: Quote, execution: tuple[Decimal, int] | None) -> tuple[Decimal, Decimal]:
    """What a new order is checked at: (notional, the price of what rests).

    What fills now counts at its fill price; what rests at the price it reserves (its limit, a market buy's collar,
    a sell's bid).
    """
    if order.limit_price is not None:
        rest_price = order.limit_price
    else:
        rest_price = _collar(quote) if order.side == "buy" else quote.bid
    if execution is None:
        return rest_price * order.quantity, rest_price
    price, shares = execution
    if shares == order.quantity:
        return price * shares, price
    return price * shares + rest_price * (order.quantity - shares), rest_price


def _commission_of(cost: costs.Costs, order: Order, price: Decimal, shares: int) -> Decimal:
    """What filling `shares` more of `order` at `price` adds to its commission."""
    filled, value = (order.filled_quantity or 0) + shares, (order.filled_value or Decimal(0)) + price * shares
    return cost.commission_on(filled, value) - (order.commission or Decimal(0))


def _reserve(cost: costs.Costs, order: Order) -> Decimal:
    """Cash an open buy holds back: its unfilled shares at its limit, and the most its commission can still grow."""
    assert order.limit_price is not None
    rest = order.quantity - (order.filled_quantity or 0)
    most = cost.commission(order.quantity, order.limit_price) - (order.commission or Decimal(0))
    return order.limit_price * rest + max(most, Decimal(0))


def _collar(quote: Quote) -> Decimal:
    """The highest price a market buy queued while the exchange is closed may fill at."""
    return cents_up(quote.ask * (1 + MARKET_COLLAR))


def _limit(value: Decimal | float | str | None, side: str) -> Decimal | None:
    """A limit price in cents, rounded in the owner's favour (buy limits down, sell limits up)."""
    if value is None:
        return None
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if not amount.is_finite() or abs(amount) >= Decimal("1e9"):
        raise ValueError(f"limit_price must be a finite price below $1,000,000,000 (got {value})")
    return cents_down(amount) if side == "buy" else cents_up(amount)


def _check_domain(side: str, order_type: str, time_in_force: str, quantity: int, key: str | None) -> None:
    for label, value, allowed in (
        ("side", side, SIDES),
        ("order_type", order_type, ORDER_TYPES),
        ("time_in_force", time_in_force, TIMES_IN_FORCE),
    ):
        if value not in allowed:
            raise ValueError(f"{label} must be one of {', '.join(allowed)} (got {value!r})")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or abs(quantity) > _BIGINT:
        raise ValueError(f"quantity must be an int number of shares (got {quantity!r})")
    if key is not None and len(key) > 200:
        raise ValueError("idempotency_key must be at most 200 characters")
