"""Safety: the kill switch across all of a user's agents, and daily budgets per user and per agent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradedesk.agents.models import TradingAgent
from tradedesk.app.errors import Invalid
from tradedesk.app.scope import Scope, number

if TYPE_CHECKING:
    pass


class SafetyDesk(Scope):
    """The kill switch and budgets of one user."""

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
            amount = number(value, name)
            if amount is None:
                continue
            if name == "daily_tokens" and amount != amount.to_integral_value():
                raise Invalid(f"daily_tokens must be a whole number (got {value!r}).")
            setattr(target, name, int(amount) if name == "daily_tokens" else amount)
        self.session.commit()
        return self.budget_row(agent)

    def budget_row(self, agent: TradingAgent | None) -> dict[str, Any]:
        from agentrecord import spent_today
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
