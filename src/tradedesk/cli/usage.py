"""The CLI's usage command: what a user's agents spent, per UTC day, from the agents' usage ledgers.

Registered on `common.app`; like the rest of the CLI it parses, calls one `Desk` method, and renders.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli.common import JsonOption, _desk, _session, app

if TYPE_CHECKING:
    from agentrecord import DayUsage

COLUMNS = ["day", "requests", "failed", "input_tokens", "output_tokens", "cache_read_tokens", "cost"]


def _row(day: "DayUsage") -> dict[str, Any]:
    return {**ui.fields_of(day), "day": day.day.isoformat(), "total_tokens": day.total_tokens}


@app.command()
def usage(
    ctx: typer.Context,
    email: str,
    agent: Annotated[
        str | None, typer.Option(help="daytrader/ID or stock_investor/ID [default: all the user's agents].")
    ] = None,
    since: Annotated[str | None, typer.Option(help="First day to show, YYYY-MM-DD (UTC).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Tokens, requests (failed attempts counted apart) and cost per UTC day, of one agent or all of a user's."""
    with _session(ctx) as session:
        desk = _desk(session, email)
        record = desk.agent_by_ref(agent) if agent else None
        rows = [_row(d) for d in desk.usage_by_day(record, since)]
        scope = record.label if record is not None else desk.user.email
    if as_json:
        ui.print_json({"scope": scope, "days": rows})
    elif not rows:
        typer.echo(f"No usage recorded for {scope}{f' since {since}' if since else ''}.")
    else:
        ui.out().print(ui.table(f"Usage of {scope} per day (UTC)", rows, COLUMNS))
