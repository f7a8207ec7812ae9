"""The backtest loop: create a run (its book, its twin), then step it, one recorded decision per step.

Each step k: the clock stands at the step's close and the exchange opens for a moment, so what the last decision
ordered fills (at this bar's quote, the one after the bar that decision saw); then the decider is asked at the
close + 1s, the book is marked, and the decision row is written with the run's progress in one transaction. `run`
starts after the last decision written, so a run stopped anywhere resumes without running a step twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradedesk.agents.models import AGENT_KINDS, TradingAgent
from tradedesk.backtests import report
from tradedesk.backtests.deciders import BASELINES, Decider, Rebalancer, TwinDecider
from tradedesk.backtests.runs import BacktestDecision, BacktestRun
from tradedesk.backtests.steps import FILL_WINDOW, PointInTime, StepCalendar, step_times
from tradedesk.backtests.twin import make_twin, open_book
from tradedesk.brokerage import equity, services
from tradedesk.brokerage.accounts import Fill
from tradedesk.brokerage.broker import Broker
from tradedesk.market import Clock, ManualClock, Market
from tradedesk.market.money import SCALE
from tradedesk.users.users import User

History = Callable[[Clock], Market]
"""The market a run replays, built on the run's clock (a CSV replay, the historical market)."""


@dataclass(frozen=True)
class Progress:
    """Where a run stands: decisions done of total, the simulated time and the equity after the last one."""

    done: int
    total: int
    at: datetime
    equity: Decimal


def create(
    session: Session,
    owner: User,
    *,
    history: History,
    agent: TradingAgent | None,
    strategy: str,
    start: date,
    end: date,
    every: str = "1d",
    prompt: str | None = None,
    symbols: list[str] | None = None,
    benchmark: str | None = None,
    cash: Decimal = Decimal("100000"),
    approvals: str = "approve",
) -> BacktestRun:
    """A new run of `agent` (strategy "agent") or of a baseline, with its book and twin; nothing is stepped yet."""
    steps = step_times(start, end, every)
    if not steps:
        raise ValueError(f"no trading day between {start} and {end}")
    clock = ManualClock(steps[0])
    market = PointInTime(history(clock), clock)
    listed = market.symbols()
    chosen = [s.strip().upper() for s in symbols] if symbols else [s for s in listed if s != benchmark]
    for symbol in [*chosen, *([benchmark] if benchmark else [])]:
        market.quote(symbol, at=steps[0])  # unknown, or no price at the start: refused before anything is written
    book = open_book(session, owner, cash, Broker(market, calendar=StepCalendar(tuple(steps))))
    twin = make_twin(session, agent, book) if agent is not None else None
    run = BacktestRun(
        user_id=owner.id,
        book_user_id=book.id,
        strategy=strategy,
        agent_kind=agent.kind if agent is not None else None,
        agent_id=agent.id if agent is not None else None,
        twin_id=twin.id if twin is not None else None,
        start=start,
        end=end,
        every=every,
        prompt=prompt,
        symbols=chosen,
        benchmark=benchmark,
        cash=cash,
        approvals=approvals,
        status="created",
        steps_total=len(steps),
        steps_done=0,
        created_at=datetime.now(UTC),
    )
    session.add(run)
    session.commit()
    return run


def _decider(session: Session, run: BacktestRun, owner_email: str) -> Decider:
    if run.strategy == "agent":
        assert run.agent_kind is not None and run.twin_id is not None
        twin = session.get(AGENT_KINDS[run.agent_kind], run.twin_id)
        assert twin is not None
        return TwinDecider(twin, run.prompt, run.approvals, by=owner_email)
    return Rebalancer(session, run.book_user_id, list(run.symbols), monthly=BASELINES[run.strategy])


def run(
    session: Session, run: BacktestRun, history: History, on_progress: Callable[[Progress], None] | None = None
) -> BacktestRun:
    """Step `run` from after its last decision to the end, then write its report."""
    steps = step_times(run.start, run.end, run.every)
    clock = ManualClock(steps[0])
    market = PointInTime(history(clock), clock)
    owner = session.get(User, run.user_id)
    assert owner is not None
    decider = _decider(session, run, owner.email)
    done = session.scalar(select(func.count()).where(BacktestDecision.run_id == run.id)) or 0
    run.status, run.error = "running", None
    session.commit()
    try:
        with services.simulated(market, StepCalendar(tuple(steps))):
            broker = services.broker()
            for step in range(done, len(steps)):
                _step(session, run, broker, decider, clock, step, steps[step])
                if on_progress is not None:
                    on_progress(Progress(step + 1, len(steps), steps[step], run_equity(session, run)))
    except Exception as error:
        session.rollback()
        run.status, run.error = "failed", " ".join(str(error).split())[:2000] or type(error).__name__
        session.commit()
        raise
    run.report = report.of_run(run, decisions(session, run))
    run.status, run.finished_at = "done", datetime.now(UTC)
    session.commit()
    return run


def _step(
    session: Session, run: BacktestRun, broker: Broker, decider: Decider, clock: ManualClock, step: int, at: datetime
) -> None:
    clock.time = at
    broker.work_orders(session, run.book_user_id)  # the last decision's orders fill at this bar, or expire
    session.commit()
    clock.time = at + FILL_WINDOW
    decision = decider.decide(step, clock.time)
    session.expire_all()  # the twin's tools wrote through sessions of their own
    book = broker.portfolio(session, run.book_user_id)
    equity.snapshot(session, run.book_user_id, book, force=True)
    fills = select(func.coalesce(func.sum(Fill.price * Fill.quantity), 0)).where(
        Fill.user_id == run.book_user_id, Fill.at >= at, Fill.at < at + FILL_WINDOW
    )
    traded = Decimal(str(session.scalar(fills) or 0)).quantize(SCALE)
    names = [*run.symbols, *([run.benchmark] if run.benchmark else [])]
    marks = {symbol: str(broker.market.quote(symbol).last) for symbol in names}
    session.add(
        BacktestDecision(
            run_id=run.id,
            step=step,
            at=at,
            reply=decision.reply,
            tool_calls=decision.tool_calls,
            cash=book.cash,
            equity=book.equity,
            traded=traded,
            marks=marks,
        )
    )
    run.steps_done = step + 1
    if decision.cost is not None:
        run.cost = ((run.cost or Decimal(0)) + decision.cost).quantize(SCALE)
    session.commit()


def decisions(session: Session, run: BacktestRun) -> list[BacktestDecision]:
    query = select(BacktestDecision).where(BacktestDecision.run_id == run.id).order_by(BacktestDecision.step)
    return list(session.scalars(query))


def run_equity(session: Session, run: BacktestRun) -> Decimal:
    last = session.scalar(
        select(BacktestDecision.equity).where(BacktestDecision.run_id == run.id).order_by(BacktestDecision.step.desc())
    )
    return Decimal(last) if last is not None else run.cash
