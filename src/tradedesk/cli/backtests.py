"""The CLI's backtest commands: run one in the foreground with a progress bar and its report; list and show runs.

Registered on `common.app`; like the rest of the CLI it parses, calls the `Desk`, and renders.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from typing import Annotated, Any

import typer

from tradedesk.cli.common import CliError, JsonOption, _desk, _session, app

STATS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "win_rate")
MORE = ("exposure", "turnover", "end_equity", "drawdown_peak", "drawdown_trough", "drawdown_recovered")


@app.command()
def backtest(
    ctx: typer.Context,
    email: str,
    agent: Annotated[
        str, typer.Argument(help="daytrader/3 (or daytrader), or a baseline: buy-and-hold, equal-weight.")
    ],
    start: Annotated[str, typer.Option("--from", help="The first day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="The last day, YYYY-MM-DD.")],
    data: Annotated[
        str | None,
        typer.Option(
            "--data", metavar="DIR", help="CSV history, one file per symbol (AAPL.csv) [default: the bundled S&P 500]."
        ),
    ] = None,
    every: Annotated[str, typer.Option(help="1d: at each trading day's close.")] = "1d",
    prompt: Annotated[str | None, typer.Option(help="What the agent is asked at each step.")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated [default: all but the benchmark].")] = None,
    benchmark: Annotated[
        str | None, typer.Option(help="The index symbol to compare with (buy-and-hold) [default: SPX, bundled].")
    ] = None,
    cash: Annotated[str, typer.Option(help="Starting cash.")] = "100000",
    approvals: Annotated[str, typer.Option(help="approve|deny: the policy for calls held for approval.")] = "approve",
    as_json: JsonOption = False,
) -> None:
    """Backtest an agent's twin (or a baseline) over history: a progress bar, then the report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tradedesk.app import presenters as ui
    from tradedesk.app.backtests import history_for

    with _session(ctx) as session:
        desk = _desk(session, email)
        history, benchmark = history_for(data, benchmark)
        found = desk.start_backtest(
            agent,
            history,
            start=start,
            end=end,
            every=every,
            prompt=prompt,
            symbols=symbols.split(",") if symbols else None,
            benchmark=benchmark,
            cash=cash,
            approvals=approvals,
        )
        columns = (
            TextColumn("backtest {task.fields[run]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[at]}  equity {task.fields[equity]}"),
        )
        with Progress(*columns, console=ui.err(), transient=as_json) as bar:
            task = bar.add_task("steps", total=found.steps_total, run=found.id, at="", equity=ui.dollars(found.cash))

            def moved(progress: Any) -> None:
                bar.update(
                    task, completed=progress.done, at=f"{progress.at:%Y-%m-%d}", equity=ui.dollars(progress.equity)
                )

            done = desk.run_backtest(found, history, moved)
        _show(done, as_json)


@app.command()
def backtests(
    ctx: typer.Context,
    email: str,
    run_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="One run's report.")] = None,
    as_json: JsonOption = False,
) -> None:
    """A user's backtests, newest first; with ID, one run and its report."""
    from tradedesk.app import presenters as ui
    from tradedesk.app.backtests import run_row

    with _session(ctx) as session:
        desk = _desk(session, email)
        if run_id is not None:
            _show(desk.backtest(run_id), as_json)
            return
        rows = [run_row(r) for r in desk.backtests()]
    if as_json:
        ui.print_json(rows)
        return
    ui.out().print(ui.table(f"Backtests of {email}", rows))


def _show(run: Any, as_json: bool) -> None:
    from tradedesk.app import presenters as ui
    from tradedesk.app.backtests import run_row

    report = run.report or {}
    if as_json:
        ui.print_json(run_row(run) | {"report": report})
        return
    if run.status == "failed":
        raise CliError(f"Backtest {run.id} failed: {run.error}")
    console = ui.out()
    console.print(ui.pairs(f"Backtest {run.id}", run_row(run)))
    if not report:
        return
    curves = {"strategy": report["strategy"], **report.get("benchmarks", {})}
    rows = [
        {"statistic": name} | {label: _number(stats.get(name)) for label, stats in curves.items()}
        for name in (*STATS, *MORE)
    ]
    console.print(ui.table("Report (annualized over 252 trading days, 0% risk-free)", rows))


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
