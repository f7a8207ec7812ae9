"""The application layer: everything done on behalf of one user, shared by the CLI and the web.

`Desk(session, user)` scopes every operation to `user`: an agent, approval, order, schedule or job
of anyone else is `NotFound`, exactly as one that does not exist. Errors are `DeskError`s whose
message is the one line to show; `status` is the HTTP status the web answers with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

import agentrecord
from agentrecord import ApprovalError, DayUsage, Reply, jobs
from agentrecord import providers as agent_providers
from agentrecord.approvals import PendingApproval
from agentrecord.jobs import Job, Schedule
from agentrecord.jobs.backend import agent_ref
from agentrecord.jobs.timing import next_tick
from tradedesk.agents import audit
from tradedesk.agents.models import AGENT_KINDS, LOCAL_MODEL, TradingAgent
from tradedesk.agents.orders import order_notional, order_view
from tradedesk.brokerage import allocations, costs, equity, equity_report, replace, services
from tradedesk.brokerage.accounts import STATUSES, Order
from tradedesk.brokerage.broker import BrokerError, OrderNotFound, Portfolio
from tradedesk.brokerage.costs import Costs
from tradedesk.users import User, identity

if TYPE_CHECKING:
    from agentrecord import ReplyStream

NEW_YORK = ZoneInfo("America/New_York")
MAX_ID = 2**63 - 1
"""The largest id a database row can have (SQLite's INTEGER): a larger one in a URL is simply not found."""


class DeskError(Exception):
    """A failure the user can act on; the message is one line saying what to do."""

    status = 400


class NotFound(DeskError):
    status = 404


class Conflict(DeskError):
    status = 409


class Invalid(DeskError):
    status = 422


# -- users -----------------------------------------------------------------------------------------


def normal_email(email: str) -> str:
    return email.strip().lower()


def checked_email(email: str) -> str:
    address = normal_email(email)
    local, at, domain = address.partition("@")
    if not at or not local or not domain or " " in address or len(address) > 320:
        raise Invalid(f"Not an email address: {email!r}.")
    return address


def user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None:
        raise NotFound(f"No user {email}: add one with `tradedesk user add {email}`.")
    return user


def add_user(session: Session, email: str, password: str | None = None) -> User:
    """A new user with a paper brokerage account (and a password, for signing in on the web)."""
    address = checked_email(email)
    if password is not None:
        try:
            identity.check_new_password(password)
        except identity.IdentityError as error:
            raise Invalid(str(error)) from None
    if session.scalar(select(User).where(User.email == address)) is not None:
        raise Conflict(f"User {address} already exists.")
    user = User(email=address)
    session.add(user)
    session.flush()
    services.broker().open_account(session, user.id)
    if password is not None:
        identity.set_password(session, user, password)
    return user


def kind_of(name: str) -> type[TradingAgent]:
    cls = AGENT_KINDS.get(name.strip().lower().replace("-", "_"))
    if cls is None:
        raise Invalid(f"Unknown agent kind {name!r}: use {' or '.join(AGENT_KINDS)}.")
    return cls


def default_provider() -> str:
    configured = agentrecord.configured_providers()
    return configured[0] if configured else "local"


# -- views -----------------------------------------------------------------------------------------


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


def approval_row(agent: TradingAgent, held: PendingApproval) -> dict[str, Any]:
    notional = order_notional(held.args) if held.tool == "order_entry" else None
    return {
        "agent": agent.label,
        "call_id": held.call_id,
        "tool": held.tool,
        "args": held.args,
        "notional": notional,
        "requested_at": held.requested_at,
    }


@dataclass(frozen=True)
class Decision:
    """What deciding a held call did: the resumed turn's reply, or the job that resumes it, or neither yet."""

    agent: TradingAgent
    call: PendingApproval
    verb: str
    reply: Reply[Any] | None
    job: str | None
    still_pending: list[PendingApproval]


def holder(session: Session, call_id: str, user: User | None = None) -> TradingAgent:
    """The agent (of `user`, when given) holding tool call `call_id`; held calls live in the agent's state."""
    candidates: list[TradingAgent] = []
    for cls in AGENT_KINDS.values():
        query = select(cls).where(cls.data.contains(call_id, autoescape=True)).order_by(cls.id)
        if user is not None:
            query = query.where(cls.user_id == user.id)
        candidates.extend(session.scalars(query))
    for agent in candidates:
        if any(p.call_id == call_id for p in agent.pending_approvals):
            return agent
    if candidates:
        return candidates[0]  # it decided the call already: approve/deny say so
    hint = "" if user is not None else ": list pending calls with `tradedesk approvals EMAIL`"
    raise NotFound(f"No agent is holding tool call {call_id}{hint}.")


def decide(agent: TradingAgent, call_id: str, reason: str | None) -> Decision:
    """Approve (`reason` None) or deny a held call; the turn resumes (here, or as its job on a worker).

    A call decided already is a `Conflict` (a decision is final).
    """
    held = next((p for p in agent.pending_approvals if p.call_id == call_id), None)
    try:
        by = agent.user.email  # only the owner decides (the audit trail records who approved an order)
        reply = agent.approve(call_id, by=by) if reason is None else agent.deny(call_id, reason, by=by)
    except ApprovalError as error:
        raise Conflict(" ".join(str(error).split())) from None
    assert held is not None  # the library refuses a call that is not pending
    job_id = agent.held_job if reply is None else None
    still = [] if reply is not None or job_id else agent.pending_approvals
    return Decision(agent, held, "approved" if reason is None else "denied", reply, job_id, still)


MAX_PROMPT = 20_000
"""The longest prompt (characters, once stripped) a turn or a schedule takes."""


def checked_prompt(prompt: object) -> str:
    """`prompt` stripped, else Invalid: not text, empty or blank, too long, or not UTF-8 (a terminal's lone surrogates).

    The API hands it the JSON value as sent, so these lines are the only ones any entry point gives for a prompt.
    """
    if not isinstance(prompt, str):
        raise Invalid("The prompt must be text (a string).")
    text = prompt.strip()
    if not text:
        raise Invalid("Say something: the prompt is empty.")
    if len(text) > MAX_PROMPT:
        raise Invalid(f"The prompt is too long (at most {MAX_PROMPT:,} characters).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("The prompt is not valid UTF-8 text: decode the input as UTF-8 and send it again.") from None
    return text


def _decimal(value: object, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid(f"{name} must be a number (got {value!r}).") from None
    if not amount.is_finite() or amount < 0:
        raise Invalid(f"{name} must be zero or more (got {value!r}).")
    return amount


class Desk:
    """Operations for one signed-in user; nothing here reaches another user's rows."""

    def __init__(self, session: Session, user: User) -> None:
        self.session = session
        self.user = user

    @property
    def engine(self) -> Any:
        return self.session.get_bind()

    # -- agents ------------------------------------------------------------------------------------
    def agents(self) -> list[TradingAgent]:
        """The user's agents, day traders first."""
        return [*self.user.daytraders, *self.user.stock_investors]

    def agent(self, kind: str, agent_id: int | str) -> TradingAgent:
        cls = AGENT_KINDS.get(kind)
        found = None
        if cls is not None and str(agent_id).isdigit() and int(agent_id) <= MAX_ID:
            found = self.session.get(cls, int(agent_id))
        if found is None or found.user_id != self.user.id:
            raise NotFound(f"No agent {kind}/{agent_id}.")
        return found

    def agent_by_ref(self, ref: str) -> TradingAgent:
        """`daytrader/3`, or `daytrader` when the user has exactly one (the CLI's way to name an agent)."""
        kind, _, number = ref.partition("/")
        cls = kind_of(kind)
        mine = [a for a in self.agents() if isinstance(a, cls)]
        email = self.user.email
        if number:
            found = next((a for a in mine if str(a.id) == number.strip()), None)
            if found is None:
                raise NotFound(f"{email} has no agent {ref}: list them with `tradedesk agents {email}`.")
            return found
        if len(mine) == 1:
            return mine[0]
        if not mine:
            raise NotFound(f"{email} has no {cls.kind}: add one with `tradedesk agent add {email} {cls.kind}`.")
        labels = ", ".join(a.label for a in mine)
        raise Invalid(f"{email} has {len(mine)} agents of kind {cls.kind} ({labels}): name one, e.g. {mine[0].label}.")

    def usage_by_day(self, agent: TradingAgent | None = None, since: str | None = None) -> list[DayUsage]:
        """Per-day (UTC) usage of one agent, or of all the user's agents together, from `since` (YYYY-MM-DD) on."""
        start = None
        if since:
            try:
                start = date.fromisoformat(since.strip())
            except ValueError:
                raise Invalid(f"--since must be a date as YYYY-MM-DD (got {since!r}).") from None
        days: dict[date, DayUsage] = {}
        for record in [agent] if agent is not None else self.agents():
            for day in record.usage_by_day(since=start):
                days[day.day] = days[day.day] + day if day.day in days else day
        return [days[d] for d in sorted(days)]

    def provider_ready(self, provider: str) -> bool:
        """The provider has a key: the user's own (settings) or the server's environment."""
        return agent_providers.is_configured(provider) or provider in identity.stored_providers(self.session, self.user)

    def new_agent(self, kind: str, provider: str | None = None, model: str | None = None) -> TradingAgent:
        """A new agent for the user; the provider defaults to the first configured one, else the embedded model."""
        cls = kind_of(kind)
        name = agent_providers.canonical(provider) if provider else default_provider()
        if not self.provider_ready(name):
            var = agent_providers.secret_env_vars(name)[0]
            raise Invalid(f"Provider {name} has no key: add yours in settings, or set {var} on the server.")
        if model is not None and (not model.strip() or len(model) > 200):
            raise Invalid("A model name is 1 to 200 characters.")
        factory: Any = cls  # each concrete kind maps `user`; the shared base does not declare it
        agent: TradingAgent = factory(
            user=self.user, provider=name, model=model or (LOCAL_MODEL if name == "local" else None)
        )
        self.session.add(agent)
        self.session.commit()
        return agent

    def status(self, agent: TradingAgent, held: int | None = None) -> str:
        """paused, waiting_approval, running (a turn holds its lease) or idle; `held`: its held calls, if read."""
        if agent.paused:
            return "paused"
        if held if held is not None else agent.pending_approvals:
            return "waiting_approval"
        expires = agent.lease_expires_at
        if agent.lease_owner and expires is not None and expires > datetime.now(UTC).replace(tzinfo=None):
            return "running"
        return "idle"

    def live_status(self, agent: TradingAgent, recent: list[Job], held: int | None = None) -> str:
        """`status`, but "running" while one of the `recent` jobs is queued (before a worker takes the lease) or
        resumes calls already decided (they stay pending until the turn takes them up)."""
        found = self.status(agent, held)
        statuses = {j.status for j in recent}
        working = bool(statuses & {"queued", "running"}) and "waiting_approval" not in statuses
        return "running" if working and found in ("idle", "waiting_approval") else found

    def pending_count(self) -> int:
        """How many calls wait for the user's decision, across all their agents (the navigation's badge)."""
        return sum(len(a.pending_approvals) for a in self.agents())

    def agent_row(self, agent: TradingAgent, *, schedules: bool = False) -> dict[str, Any]:
        held = len(agent.pending_approvals)  # one read of the agent's state, for the status and the count
        row: dict[str, Any] = {
            "agent": agent.label,
            "kind": agent.kind,
            "id": agent.id,
            "provider": agent.provider,
            "model": agent.agent_model_name(),
            "status": self.status(agent, held),
            "input_tokens": agent.input_tokens,
            "output_tokens": agent.output_tokens,
            "total_tokens": agent.total_tokens,
            "cost": agent.cost,
            "pending_approvals": held,
            "approval_threshold": agent.approval_threshold,
            "max_order_notional": agent.max_order_notional,
            "max_position_weight": agent.max_position_weight,
            "max_orders_per_day": agent.max_orders_per_day,
            "max_daily_loss": agent.max_daily_loss,
        }
        budget = self.budget_row(agent)
        row.update(today_tokens=budget["today_tokens"], today_usd=budget["today_usd"])
        row.update(daily_tokens=agent.daily_tokens, daily_usd=agent.daily_usd)
        if schedules:
            active = [s for s in self.schedules(agent) if s.active]
            row["next_run"] = min((next_tick(s.cron, s.tz) for s in active), default=None)
        return row

    def set_paused(self, agent: TradingAgent, paused: bool) -> TradingAgent:
        """Pause (no scheduled run, no order) or resume an agent; its schedules follow."""
        agent.paused = paused
        self.session.commit()
        for found in agent.schedules():
            if found.active == paused:
                found.pause() if paused else found.resume()
        return agent

    def set_limits(self, agent: TradingAgent, **limits: object) -> TradingAgent:
        """Change risk limits and the approval threshold (blank: no limit, except the threshold)."""
        for name in ("max_order_notional", "max_position_weight", "approval_threshold", "max_daily_loss"):
            if name in limits:
                value = _decimal(limits[name], name)
                if name == "approval_threshold" and value is None:
                    raise Invalid("approval_threshold needs a value (0 holds every order for approval).")
                setattr(agent, name, value)
        if "max_orders_per_day" in limits:
            raw = limits["max_orders_per_day"]
            count = _decimal(raw, "max_orders_per_day")
            if count is not None and count != count.to_integral_value():
                raise Invalid(f"max_orders_per_day must be a whole number (got {raw!r}).")
            agent.max_orders_per_day = None if count is None else int(count)
        self.session.commit()
        return agent

    # -- turns and jobs: the one door every request of the user's comes through -----------------------
    def check_prompt(self, agent: TradingAgent, prompt: object) -> str:
        """The prompt (stripped) a turn of `agent` may run now, else the one DeskError every entry point shows.

        The CLI (plain, streamed, background), the pages, the API and schedules all ask here, so a refusal reads
        the same everywhere and nothing is written before it.
        """
        text = checked_prompt(prompt)
        if agent.pending_approvals:
            raise Conflict(f"{agent.label} is waiting for your decision on a held call: approve or deny it first.")
        if self.user.halted:
            raise Conflict(f"Your agents are halted: resume them first (`tradedesk resume {self.user.email}`).")
        if agent.paused:
            raise Conflict(f"{agent.label} is paused: resume it on its page first.")
        return text

    def enqueue(self, agent: TradingAgent, prompt: str, *, stream: bool = False) -> Job:
        """Queue a turn of the user's agent, once `check_prompt` lets it through."""
        return agent.enqueue(self.check_prompt(agent, prompt), stream=stream)

    def stream(self, agent: TradingAgent, prompt: str) -> ReplyStream:
        """Run a turn of the user's agent here, its text streamed as it comes (`agent.stream`), once checked."""
        return agent.stream(self.check_prompt(agent, prompt))

    # -- safety: the kill switch and budgets --------------------------------------------------------
    def set_halted(self, halted: bool) -> list[str]:
        """Halt (no order, no scheduled run, across every process) or resume all of the user's agents."""
        from tradedesk.agents import halt

        return halt.set_halted(self.session, self.user, halted)

    def set_budget(
        self, agent: TradingAgent | None, *, daily_usd: object = None, daily_tokens: object = None
    ) -> dict[str, Any]:
        """Set the user's (or one agent's) daily budgets; blank leaves one unchanged, "none" removes it."""
        target: Any = agent if agent is not None else self.user
        for name, value in (("daily_usd", daily_usd), ("daily_tokens", daily_tokens)):
            if value is None:
                continue
            if str(value).strip().lower() in ("none", "off"):
                setattr(target, name, None)
                continue
            amount = _decimal(value, name)
            if amount is None:
                continue
            if name == "daily_tokens" and amount != amount.to_integral_value():
                raise Invalid(f"daily_tokens must be a whole number (got {value!r}).")
            setattr(target, name, int(amount) if name == "daily_tokens" else amount)
        self.session.commit()
        return self.budget_row(agent)

    def budget_row(self, agent: TradingAgent | None) -> dict[str, Any]:
        from agentrecord.budgets import spent_today
        from tradedesk.agents.models import SPEND

        scope = agent.label if agent is not None else f"user:{self.user.id}"
        tokens, usd = spent_today(self.engine, SPEND, scope)
        target: Any = agent if agent is not None else self.user
        return {
            "scope": agent.label if agent is not None else self.user.email,
            "daily_usd": target.daily_usd,
            "daily_tokens": target.daily_tokens,
            "today_usd": usd,
            "today_tokens": tokens,
        }

    def jobs(self, limit: int = 50) -> list[Job]:
        return jobs.jobs_of(self.engine, list(self.agents()), limit)

    def job(self, job_id: str) -> Job:
        if not any(job_id.startswith(agent_ref(a) + ".") for a in self.agents()):
            raise NotFound(f"No job {job_id}.")
        try:
            return jobs.job(self.engine, job_id)
        except jobs.UnknownJob:
            raise NotFound(f"No job {job_id}.") from None

    # -- approvals ---------------------------------------------------------------------------------
    def approvals(self) -> list[dict[str, Any]]:
        return [approval_row(agent, p) for agent in self.agents() for p in agent.pending_approvals]

    def decide(self, call_id: str, reason: str | None) -> Decision:
        if reason is not None and not reason.strip():
            reason = "The owner denied this call."
        return decide(holder(self.session, call_id, self.user), call_id, reason)

    # -- money -------------------------------------------------------------------------------------
    def portfolio(self) -> Portfolio:
        broker = services.broker()
        broker.work_orders(self.session, self.user.id)  # resting orders fill (or expire) as of now
        book = broker.portfolio(self.session, self.user.id)
        equity.snapshot(self.session, self.user.id, book)
        self.session.commit()
        return book

    def portfolio_by_agent(self) -> list[allocations.AgentBook]:
        """The account broken down by agent ("you": orders placed without one), with allocations and in use."""
        limits = {a.label: a.allocation for a in self.agents()}
        return allocations.by_agent(self.session, services.broker(), self.user.id, limits)

    def set_allocation(self, agent: TradingAgent, amount: str | None) -> allocations.AgentBook:
        """Set (or, with None, clear) the capital `agent` may use; all the user's allocations fit in equity."""
        try:
            value = allocations.parse(amount, agent.label, self.portfolio().equity, self._allocated(agent))
        except ValueError as error:
            raise Invalid(str(error)) from None
        agent.allocation = value
        self.session.commit()
        return next(b for b in self.portfolio_by_agent() if b.agent == agent.label)

    def _allocated(self, agent: TradingAgent) -> Decimal:
        return sum((a.allocation for a in self.agents() if a is not agent and a.allocation is not None), Decimal(0))

    def set_costs(
        self, commission_per_share: Decimal | None, commission_min: Decimal | None, impact_bps: Decimal | None
    ) -> Costs:
        """Change the account's trading costs (those given); returns them all. They apply to fills from now on."""
        account = services.broker().open_account(self.session, self.user.id)
        current = costs.of(account)
        try:
            new = Costs(
                current.commission_per_share if commission_per_share is None else commission_per_share,
                current.commission_min if commission_min is None else commission_min,
                current.impact_bps if impact_bps is None else impact_bps,
            )
        except ValueError as error:
            raise Invalid(str(error)) from None
        account.commission_per_share, account.commission_min, account.impact_bps = (
            new.commission_per_share,
            new.commission_min,
            new.impact_bps,
        )
        self.session.commit()
        return new

    def today_pnl(self, book: Portfolio) -> Decimal:
        """Equity now minus equity at the first snapshot of the market's day (New York)."""
        day_start = datetime.combine(book.as_of.astimezone(NEW_YORK).date(), time(0), NEW_YORK).astimezone(UTC)
        opening = equity.since(self.session, self.user.id, day_start)
        return book.equity - (opening if opening is not None else book.equity)

    def equity_history(self, limit: int = 500) -> list[tuple[datetime, Decimal]]:
        return equity.history(self.session, self.user.id, limit)

    def equity_report(self, days: int = 30, book: Portfolio | None = None) -> equity_report.EquityReport:
        """Drawdown and P&L per day over the last `days` days up to `book` (default: the portfolio as of now)."""
        if not 1 <= days <= equity_report.MAX_DAYS:
            raise Invalid(f"Ask for between 1 and {equity_report.MAX_DAYS} days (got {days}).")
        as_of = (book or self.portfolio()).as_of
        return equity_report.report(self.session, self.user.id, as_of, days)

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

    # -- schedules ---------------------------------------------------------------------------------
    def schedules(self, agent: TradingAgent | None = None) -> list[Schedule]:
        return [s for a in ([agent] if agent else self.agents()) for s in a.schedules()]

    def schedule(self, schedule_id: str) -> Schedule:
        if not any(schedule_id.startswith(agent_ref(a) + ".") for a in self.agents()):
            raise NotFound(f"No schedule {schedule_id}.")
        try:
            return jobs.schedule(self.engine, schedule_id)
        except jobs.ScheduleError:
            raise NotFound(f"No schedule {schedule_id}.") from None

    def add_schedule(
        self,
        agent: TradingAgent,
        prompt: str,
        *,
        every: str | None = None,
        cron: str | None = None,
        tz: str | None = None,
        market_hours: bool = False,
    ) -> Schedule:
        """Run `prompt` for `agent` on a clock; added paused while the agent is paused or the user halted."""
        from tradedesk import worker as platform_worker

        text = checked_prompt(prompt)  # the same wording as a turn's; held calls do not stop a future tick
        platform_worker.register()
        zone = tz or ("America/New_York" if market_hours else None)
        calendar = platform_worker.CALENDAR if market_hours else None
        try:
            made = agent.schedule(text, every=every or None, cron=cron or None, tz=zone, calendar=calendar)
        except jobs.ScheduleError as error:
            raise Invalid(str(error)) from None
        return made.pause() if agent.paused or self.user.halted else made  # resuming them resumes it
