"""The CLI's equity command: a user's equity curve as P&L per trading day, drawdown and a sparkline.

Registered on `common.app`; like the rest of the CLI it parses, calls one `Desk` method, and renders.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from typing import Annotated

import typer

from tradedesk.app import MAX_EQUITY_DAYS
from tradedesk.app import presenters as ui
from tradedesk.cli.common import JsonOption, _desk, _session, app


@app.command()
def equity(
    ctx: typer.Context,
    email: str,
    days: Annotated[int, typer.Option(help=f"How many New York days back, 1 to {MAX_EQUITY_DAYS}.")] = 30,
    as_json: JsonOption = False,
) -> None:
    """A user's equity history: P&L per day (close to close), drawdown from the peak, and the curve."""
    with _session(ctx) as session:
        desk = _desk(session, email)
        found = desk.equity_report(days)
        user = desk.user.email
    if as_json:
        ui.print_json(ui.equity_json(user, found))
        return
    console = ui.out()
    console.print(f"Equity of {user} since {ui.show(found.since)}", markup=False)
    console.print(ui.sparkline([value for _, value in found.snapshots]), soft_wrap=True)
    if found.drawdown is not None:
        console.print(ui.pairs("Drawdown", ui.fields_of(found.drawdown)))
    console.print(ui.table("P&L per day (New York)", [ui.fields_of(d) for d in found.days], ["day", "close", "pnl"]))
