"""Schedules: prompts an agent runs on a clock (every, cron, market hours), scoped to the user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentrecord import jobs
from agentrecord.jobs import Schedule, agent_ref
from tradedesk.agents.models import TradingAgent
from tradedesk.app.errors import Invalid, NotFound
from tradedesk.app.scope import Scope
from tradedesk.app.turns import checked_prompt

if TYPE_CHECKING:
    pass


class ScheduleDesk(Scope):
    """The schedules of one user's agents."""

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
        from tradedesk.app import platform_worker

        text = checked_prompt(prompt)  # the same wording as a turn's; held calls do not stop a future tick
        platform_worker.register()
        zone = tz or ("America/New_York" if market_hours else None)
        calendar = platform_worker.CALENDAR if market_hours else None
        try:
            made = agent.schedule(text, every=every or None, cron=cron or None, tz=zone, calendar=calendar)
        except jobs.ScheduleError as error:
            raise Invalid(str(error)) from None
        return made.pause() if agent.paused or self.user.halted else made  # resuming them resumes it
