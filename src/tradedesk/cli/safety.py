"""The CLI's safety commands: the kill switch (`halt`, `resume`) and daily spend budgets (`budget`).

Registered on `common.app`; like the rest of the CLI they parse, call one `Desk` method, and render.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from typing import Annotated

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli.common import JsonOption, _desk, _session, app


@app.command()
def halt(ctx: typer.Context, email: str, as_json: JsonOption = False) -> None:
    """Stop all of a user's agents at once, in every process: no new order, no scheduled run."""
    with _session(ctx) as session:
        desk = _desk(session, email)
        paused = desk.set_halted(True)
        doc = {"user": desk.user.email, "halted": True, "schedules_paused": paused}
    if as_json:
        ui.print_json(doc)
    else:
        typer.echo(
            f"Halted every agent of {doc['user']}: orders are refused (a running turn's next order too) and "
            f"schedules are paused. Undo with `tradedesk resume {doc['user']}`."
        )


@app.command()
def resume(ctx: typer.Context, email: str, as_json: JsonOption = False) -> None:
    """Lift `halt`: the user's agents may trade again and their schedules resume (paused agents stay paused)."""
    with _session(ctx) as session:
        desk = _desk(session, email)
        resumed = desk.set_halted(False)
        doc = {"user": desk.user.email, "halted": False, "schedules_resumed": resumed}
    if as_json:
        ui.print_json(doc)
    else:
        typer.echo(f"Resumed the agents of {doc['user']}.")


@app.command()
def budget(
    ctx: typer.Context,
    email: str,
    agent: Annotated[
        str | None, typer.Argument(metavar="[AGENT]", help="daytrader/ID or stock_investor/ID [default: the user].")
    ] = None,
    daily_usd: Annotated[str | None, typer.Option(help="USD a day (UTC); 'none' removes the limit.")] = None,
    daily_tokens: Annotated[str | None, typer.Option(help="Tokens a day (UTC); 'none' removes the limit.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show or set a user's (or one agent's) daily spend budget; a turn that would pass it stops."""
    with _session(ctx) as session:
        desk = _desk(session, email)
        record = desk.agent_by_ref(agent) if agent else None
        if daily_usd is None and daily_tokens is None:
            doc = desk.budget_row(record)
        else:
            doc = desk.set_budget(record, daily_usd=daily_usd, daily_tokens=daily_tokens)
    if as_json:
        ui.print_json(doc)
    else:
        ui.out().print(ui.pairs(f"Daily budget of {doc['scope']}", doc))
