"""Backtests of one user's agents (or of a baseline): start one, run it here with progress, list and read them.

Every run is scoped to its owner: another user's run is `NotFound`, like one that does not exist. The history a run
replays is a `History` (a market built on the run's clock): real daily closes shipped with the platform (skfolio's
S&P 500 sample, benchmark `SPX`), or a directory of CSV files (one per symbol) that the user points at.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tradedesk.app.errors import Invalid, NotFound
from tradedesk.app.roster import RosterDesk
from tradedesk.app.scope import MAX_ID, number
from tradedesk.app.turns import checked_prompt
from tradedesk.backtests import engine
from tradedesk.backtests.deciders import BASELINES
from tradedesk.backtests.engine import History, Progress
from tradedesk.backtests.runs import BacktestDecision, BacktestRun
from tradedesk.backtests.steps import EVERY, LookAhead
from tradedesk.market import Clock, CsvFormatError, CsvMarket, Market, UnknownSymbol

__all__ = [
    "APPROVALS",
    "BASELINES",
    "BacktestDecision",
    "BacktestDesk",
    "BacktestRun",
    "Progress",
    "bundled_history",
    "csv_history",
    "history_for",
]

APPROVALS = ("approve", "deny")


def csv_history(directory: str) -> History:
    """The history in `directory`'s CSV files (AAPL.csv: date,open,high,low,close,volume), on the run's clock."""
    try:
        CsvMarket.from_directory(directory)  # read once now, so a bad directory is refused before a run is made
    except (OSError, CsvFormatError) as error:
        raise Invalid(" ".join(str(error).split())) from None

    def build(clock: Clock) -> Market:
        return CsvMarket.from_directory(directory, clock=clock)

    return build


def bundled_history() -> History:
    """Real daily closes of 20 S&P 500 stocks and the index (`SPX`), 1990-2022, read from skfolio's wheel."""
    from tradedesk.market.historical import HistoricalMarket
    from tradedesk.market.history import HistoryError, bundled

    try:
        data = bundled()
    except HistoryError as error:
        raise Invalid(" ".join(str(error).split())) from None

    def build(clock: Clock) -> Market:
        return HistoricalMarket(data, clock=clock)

    return build


def history_for(directory: str | None, benchmark: str | None) -> tuple[History, str | None]:
    """The history a run replays (the user's CSV directory, else the bundled one) and its benchmark: the bundled
    history's index unless another is named, so the index is compared with, never traded."""
    if directory:
        return csv_history(directory), benchmark
    from tradedesk.market.history import INDEX

    return bundled_history(), benchmark or INDEX


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{name} must be a date as YYYY-MM-DD (got {value!r}).") from None


class BacktestDesk(RosterDesk):
    """The user's backtests."""

    def start_backtest(
        self,
        agent_ref: str,
        history: History,
        *,
        start: str,
        end: str,
        every: str = "1d",
        prompt: str | None = None,
        symbols: list[str] | None = None,
        benchmark: str | None = None,
        cash: object = "100000",
        approvals: str = "approve",
    ) -> BacktestRun:
        """A new run of the user's agent (`daytrader/3`) or of a baseline (`buy-and-hold`, `equal-weight`)."""
        first, last = _day(start, "--from"), _day(end, "--to")
        if last < first:
            raise Invalid(f"--to ({last}) is before --from ({first}).")
        if every not in EVERY:
            raise Invalid(f"--every must be one of {', '.join(EVERY)} (got {every!r}).")
        if approvals not in APPROVALS:
            raise Invalid(f"--approvals must be approve or deny (got {approvals!r}).")
        amount = number(cash, "--cash")
        if amount is None or amount <= 0 or amount != amount.quantize(Decimal("0.01")) or amount >= Decimal("1e12"):
            raise Invalid(f"--cash must be an amount above 0 in whole cents, below 1e12 (got {cash!r}).")
        text = checked_prompt(prompt) if prompt is not None else None
        baseline = agent_ref.strip().lower()
        agent = None if baseline in BASELINES else self.agent_by_ref(agent_ref)
        try:
            return engine.create(
                self.session,
                self.user,
                history=history,
                agent=agent,
                strategy="agent" if agent is not None else baseline,
                start=first,
                end=last,
                every=every,
                prompt=text,
                symbols=[s for s in symbols or [] if s.strip()] or None,
                benchmark=benchmark.strip().upper() if benchmark else None,
                cash=amount,
                approvals=approvals,
            )
        except (UnknownSymbol, LookAhead, ValueError) as error:
            self.session.rollback()
            raise Invalid(" ".join(str(error).split())) from None

    def run_backtest(
        self, run: BacktestRun, history: History, on_progress: Callable[[Progress], None] | None = None
    ) -> BacktestRun:
        """Step the user's run to its end here (from after its last decision), then its report."""
        return engine.run(self.session, self.backtest(run.id), history, on_progress)

    def backtests(self, limit: int = 50) -> list[BacktestRun]:
        query = select(BacktestRun).where(BacktestRun.user_id == self.user.id).order_by(BacktestRun.id.desc())
        return list(self.session.scalars(query.limit(limit)))

    def backtest(self, run_id: int | str) -> BacktestRun:
        found = None
        if str(run_id).isdigit() and int(run_id) <= MAX_ID:
            found = self.session.get(BacktestRun, int(run_id))
        if found is None or found.user_id != self.user.id:
            raise NotFound(f"No backtest {run_id}.")
        return found

    def backtest_decisions(self, run: BacktestRun) -> list[BacktestDecision]:
        return engine.decisions(self.session, self.backtest(run.id))


def run_row(run: BacktestRun) -> dict[str, Any]:
    """A run as the CLI and the API show it (the report apart)."""
    return {
        "id": run.id,
        "strategy": run.strategy,
        "agent": f"{run.agent_kind}/{run.agent_id}" if run.agent_kind else run.strategy,
        "from": run.start,
        "to": run.end,
        "every": run.every,
        "symbols": ",".join(run.symbols),
        "cash": run.cash,
        "status": run.status,
        "steps": f"{run.steps_done}/{run.steps_total}",
        "end_equity": dict(run.report or {}).get("strategy", {}).get("end_equity"),
        "cost": run.cost,
    }
