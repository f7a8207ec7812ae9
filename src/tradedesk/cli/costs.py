"""The CLI's `account costs` command: show or set an account's commission and size impact (see `costs`).

Registered on `common.app`; like the rest of the CLI it parses, calls one `Desk` method, and renders.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli.common import CliError, JsonOption, _desk, _session, app

account_app = typer.Typer(no_args_is_help=True, help="Manage a user's brokerage account.")
app.add_typer(account_app, name="account")


def _amount(option: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CliError(f"{option} must be a number (got {text!r})") from None
    if not value.is_finite():
        raise CliError(f"{option} must be a number (got {text!r})")
    return value


@account_app.command("costs")
def costs(
    ctx: typer.Context,
    email: str,
    commission_per_share: Annotated[str | None, typer.Option(help="Dollars per share, e.g. 0.005.")] = None,
    commission_min: Annotated[str | None, typer.Option(help="Least commission per fill, in dollars.")] = None,
    impact_bps: Annotated[
        str | None, typer.Option(help="Price impact in basis points per 1,000 shares, against the trader.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a user's trading costs, or set those given; they apply to fills from now on."""
    values = (
        _amount("--commission-per-share", commission_per_share),
        _amount("--commission-min", commission_min),
        _amount("--impact-bps", impact_bps),
    )
    with _session(ctx) as session:
        desk = _desk(session, email)
        now = desk.set_costs(*values)
        doc = {"user": desk.user.email, **asdict(now)}
    if as_json:
        ui.print_json(doc)
    else:
        ui.out().print(ui.pairs(f"Trading costs of {doc['user']}", {k: v for k, v in doc.items() if k != "user"}))
