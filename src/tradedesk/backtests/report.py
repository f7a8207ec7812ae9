"""A run's report: return and risk statistics of its equity curve, next to buy-and-hold of the index and an
equal-weight portfolio of its symbols (monthly rebalanced), both frictionless, marked at the same steps.

The statistics are empyrical-reloaded's (imported inside `statistics`, so listing runs never loads pandas), on the
curve's step returns, annualized over 252 trading days with a 0% risk-free rate. What it does not compute is ours:
the drawdown's dates, the win rate (the share of steps with a gain among those that moved), exposure (the mean share
of equity in positions) and turnover (the notional traded over the mean equity).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradedesk.backtests.runs import BacktestDecision, BacktestRun


CENTS = Decimal("0.01")


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _drawdown(times: Sequence[datetime], equity: Sequence[Decimal]) -> tuple[datetime | None, datetime | None, Decimal]:
    """The deepest drawdown's peak and trough times (None without one), and the peak's value."""
    worst, top = Decimal(0), equity[0]
    found: tuple[datetime | None, datetime | None] = (None, None)
    peak, peak_at = equity[0], times[0]
    for at, value in zip(times, equity, strict=True):
        if value > peak:
            peak, peak_at = value, at
        if peak > 0 and (value - peak) / peak < worst:
            worst, found, top = (value - peak) / peak, (peak_at, at), peak
    return found[0], found[1], top


def statistics(
    times: Sequence[datetime], equity: Sequence[Decimal], exposure: Sequence[Decimal], traded: Decimal
) -> dict[str, Any]:
    """The statistics of one equity curve (one value per step, the first one before any trade)."""
    import empyrical
    import pandas as pd

    curve = pd.Series([float(v) for v in equity], index=pd.DatetimeIndex(list(times)))
    returns = curve.pct_change().dropna()
    peak_at, trough_at, top = _drawdown(times, equity)
    recovered_at = next(
        (at for at, v in zip(times, equity, strict=True) if trough_at and at > trough_at and v >= top), None
    )
    moved = [r for r in returns if r != 0]
    mean_equity = sum(equity, Decimal(0)) / len(equity)
    return {
        "start_equity": str(equity[0].quantize(CENTS)),
        "end_equity": str(equity[-1].quantize(CENTS)),  # a benchmark's curve is fractional shares: show cents
        "total_return": _finite(empyrical.cum_returns_final(returns)) if len(returns) else 0.0,
        "cagr": _finite(empyrical.annual_return(returns)),
        "volatility": _finite(empyrical.annual_volatility(returns)),
        "sharpe": _finite(empyrical.sharpe_ratio(returns)),
        "sortino": _finite(empyrical.sortino_ratio(returns)),
        "max_drawdown": _finite(empyrical.max_drawdown(returns)) if len(returns) else 0.0,
        "drawdown_peak": peak_at.isoformat() if peak_at else None,
        "drawdown_trough": trough_at.isoformat() if trough_at else None,
        "drawdown_recovered": recovered_at.isoformat() if recovered_at else None,
        "calmar": _finite(empyrical.calmar_ratio(returns)),
        "win_rate": sum(r > 0 for r in moved) / len(moved) if moved else None,
        "exposure": float(sum(exposure, Decimal(0)) / len(exposure)) if exposure else 0.0,
        "turnover": float(traded / mean_equity) if mean_equity else 0.0,
    }


def benchmark_curve(
    times: Sequence[datetime], prices: dict[str, list[Decimal]], cash: Decimal, monthly: bool
) -> tuple[list[Decimal], Decimal]:
    """The equity of `cash` split equally over `prices`' symbols at the first step (and, `monthly`, at each month's
    first), in fractional shares without costs; and the notional it traded."""
    shares: dict[str, Decimal] = {}
    curve, traded, month = [], Decimal(0), None
    for k, at in enumerate(times):
        value = sum((shares.get(s, Decimal(0)) * p[k] for s, p in prices.items()), Decimal(0)) if shares else cash
        if month is None or (monthly and (at.year, at.month) != month):
            target = value / len(prices)
            for symbol, p in prices.items():
                new = target / p[k]
                traded += abs(new - shares.get(symbol, Decimal(0))) * p[k]
                shares[symbol] = new
        month = (at.year, at.month)
        curve.append(value)
    return curve, traded


def of_run(run: BacktestRun, decisions: Sequence[BacktestDecision]) -> dict[str, Any]:
    """The report of a finished run: its statistics, and each benchmark's over the same steps."""
    if not decisions:
        return {}
    times = [d.at for d in decisions]
    equity = [Decimal(d.equity) for d in decisions]
    exposure = [(e - Decimal(d.cash)) / e if e else Decimal(0) for e, d in zip(equity, decisions, strict=True)]
    traded = sum((Decimal(d.traded) for d in decisions), Decimal(0))
    found = {"strategy": statistics(times, equity, exposure, traded), "benchmarks": {}}
    marks = {s: [Decimal(d.marks[s]) for d in decisions] for s in run.symbols}
    if run.benchmark:
        index = {run.benchmark: [Decimal(d.marks[run.benchmark]) for d in decisions]}
        curve, moved = benchmark_curve(times, index, Decimal(run.cash), monthly=False)
        found["benchmarks"][f"buy-and-hold {run.benchmark}"] = statistics(
            times, curve, [Decimal(1)] * len(curve), moved
        )
    if marks:
        curve, moved = benchmark_curve(times, marks, Decimal(run.cash), monthly=True)
        found["benchmarks"]["equal-weight"] = statistics(times, curve, [Decimal(1)] * len(curve), moved)
    return found
