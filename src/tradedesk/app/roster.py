"""The user's roster of agents: adding them, naming them, their status, rows, limits and usage."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import agentrecord
from agentrecord import DayUsage
from agentrecord import providers as agent_providers
from agentrecord.jobs import Job, next_tick
from tradedesk.agents.models import AGENT_KINDS, LOCAL_MODEL, TradingAgent
from tradedesk.app.errors import Invalid, NotFound
from tradedesk.app.safety import SafetyDesk
from tradedesk.app.schedules import ScheduleDesk
from tradedesk.app.scope import number
from tradedesk.users import identity

if TYPE_CHECKING:
    pass


KINDS = tuple(AGENT_KINDS)
"""The kinds of agent a user can add, by the name they are added with."""


def kind_of(name: str) -> type[TradingAgent]:
    cls = AGENT_KINDS.get(name.strip().lower().replace("-", "_"))
    if cls is None:
        raise Invalid(f"Unknown agent kind {name!r}: use {' or '.join(AGENT_KINDS)}.")
    return cls


def default_provider() -> str:
    configured = agentrecord.configured_providers()
    return configured[0] if configured else "local"


class RosterDesk(SafetyDesk, ScheduleDesk):
    """One user's agents; a row shows each one's budget and next scheduled run."""

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

    def missing_kinds(self) -> list[str]:
        """The kinds of agent the user has none of yet."""
        return [kind for kind, cls in AGENT_KINDS.items() if not any(isinstance(a, cls) for a in self.agents())]

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
                value = number(limits[name], name)
                if name == "approval_threshold" and value is None:
                    raise Invalid("approval_threshold needs a value (0 holds every order for approval).")
                setattr(agent, name, value)
        if "max_orders_per_day" in limits:
            raw = limits["max_orders_per_day"]
            count = number(raw, "max_orders_per_day")
            if count is not None and count != count.to_integral_value():
                raise Invalid(f"max_orders_per_day must be a whole number (got {raw!r}).")
            agent.max_orders_per_day = None if count is None else int(count)
        self.session.commit()
        return agent
