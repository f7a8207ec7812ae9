"""The platform's worker: agentrecord's job worker with the exchange clock and the NYSE calendar.

Every worker runs queued and scheduled turns, and the fleet runs the exchange once per tick (DBOS
schedules it exactly once across workers): resting orders fill when the price crosses them and day
orders expire at the close. `TRADEDESK_EXCHANGE_TICK` sets the tick in seconds (default 1).
"""

from __future__ import annotations

import os
from datetime import datetime

from agentrecord import create_engine
from agentrecord.jobs import Task, Worker, register_calendar
from tradedesk.agents import models  # noqa: F401  (the agent classes a job names must import)
from tradedesk.brokerage import exchange, services
from tradedesk.market.calendar import NyseCalendar

CALENDAR = "nyse"


def register() -> None:
    """Make the NYSE session usable as a schedule calendar in this process.

    A tick is inside the session when the market's clock says so (the simulated one, if set), so
    `--market-hours` schedules follow the same exchange the broker trades on.
    """
    nyse = NyseCalendar()
    register_calendar(CALENDAR, lambda tick: nyse.is_open(services.market().now()))


def tick_cron() -> str:
    raw = os.environ.get("TRADEDESK_EXCHANGE_TICK", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 60 or 60 % int(raw):
        raise ValueError(f"TRADEDESK_EXCHANGE_TICK must be a number of seconds dividing 60 (got {raw!r}).")
    seconds = int(raw)
    return "* * * * * *" if seconds == 1 else f"*/{seconds} * * * * *"


def build(url: str, concurrency: int) -> Worker:
    """A worker on `url` running turns, schedules and the exchange clock."""
    register()
    engine = create_engine(url)

    def run_exchange(at: datetime) -> None:
        exchange.tick(engine)

    return Worker(engine, concurrency=concurrency, tasks=[Task("tradedesk.exchange", tick_cron(), run_exchange)])
