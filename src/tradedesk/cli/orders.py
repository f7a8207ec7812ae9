"""The CLI's `cancel-order` and `replace` commands: end one of a user's open orders, or change it in one step.

Registered on `common.app`; like the rest of the CLI it parses, calls one `Desk` method, and renders.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli.common import CliError, JsonOption, _desk, _session, app


def _price(option: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CliError(f"{option} must be a number above 0 (got {text!r})") from None
    if not value.is_finite() or value <= 0:
        raise CliError(f"{option} must be a number above 0 (got {text!r})")
    return value


def _render(lead: str, row: dict[str, Any], as_json: bool) -> None:
    """`lead` then the order's status and reason, on one line (or the order as JSON)."""
    if as_json:
        ui.print_json(row)
        return
    reason = f" ({row['reason']})" if row.get("reason") else ""
    typer.echo(f"{lead} {row['status'].replace('_', ' ')}{reason}.")


@app.command("cancel-order")
def cancel_order(ctx: typer.Context, email: str, order_id: int, as_json: JsonOption = False) -> None:
    """Cancel one of a user's open orders (what already filled stays filled)."""
    with _session(ctx) as session:
        row = _desk(session, email).cancel_order(order_id)
    _render(f"Order {order_id} is", row, as_json)


@app.command()
def replace(
    ctx: typer.Context,
    email: str,
    order_id: int,
    quantity: Annotated[int | None, typer.Option(help="The new number of shares.", min=1)] = None,
    limit_price: Annotated[str | None, typer.Option(help="The new limit price (limit and stop_limit orders).")] = None,
    stop_price: Annotated[str | None, typer.Option(help="The new stop price (stop and stop_limit orders).")] = None,
    trail_amount: Annotated[str | None, typer.Option(help="A trailing stop's new distance in dollars.")] = None,
    trail_percent: Annotated[str | None, typer.Option(help="A trailing stop's new distance in percent.")] = None,
    tif: Annotated[str | None, typer.Option("--tif", help="The new time in force: day, gtc, ioc or fok.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Replace one of a user's open orders by a new one with the given changes, in one step.

    The old order is cancelled and the new one placed together; if the new one would be refused, the old one stays.
    """
    from tradedesk.app.desk import OrderChanges

    changes = OrderChanges(
        quantity=quantity,
        limit_price=_price("--limit-price", limit_price),
        stop_price=_price("--stop-price", stop_price),
        trail_amount=_price("--trail-amount", trail_amount),
        trail_percent=_price("--trail-percent", trail_percent),
        time_in_force=tif,
    )
    with _session(ctx) as session:
        row = _desk(session, email).replace_order(order_id, changes)
    _render(f"Order {order_id} was replaced by order {row['id']}, which is", row, as_json)
