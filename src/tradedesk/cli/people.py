"""The CLI's setup and users: `init`, `user add`, `user password`.

Registered on `common.app`; like the rest of the CLI they parse, call the application (`Desk`), and render.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tradedesk.app import presenters as ui
from tradedesk.cli.common import (
    CliError,
    JsonOption,
    _initialize,
    _root,
    _session,
    _user,
    app,
    user_app,
)

if TYPE_CHECKING:
    pass


@app.command()
def init(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Create the database, or migrate it to this version's schema."""
    result = _initialize(_root(ctx).url)
    if as_json:
        ui.print_json(result)
    elif result["previous"] is None:
        typer.echo(f"Created the database {result['database']} (revision {result['revision']}).")
    elif result["changed"]:
        typer.echo(f"Migrated {result['database']} from revision {result['previous']} to {result['revision']}.")
    else:
        typer.echo(f"The database {result['database']} is up to date (revision {result['revision']}).")


@user_app.command("add")
def user_add(ctx: typer.Context, email: str, as_json: JsonOption = False) -> None:
    """Add a user (with a paper brokerage account)."""
    from tradedesk.app import desk

    with _session(ctx) as session:
        user = desk.add_user(session, email)
        session.commit()
        doc = {"id": user.id, "email": user.email}
    if as_json:
        ui.print_json(doc)
    else:
        typer.echo(f"Added user {doc['email']} (id {doc['id']}).")


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    email: str,
    password: Annotated[
        str | None,
        typer.Option(help="The new password [default: asked for, hidden]; or set TRADEDESK_PASSWORD.", hidden=True),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Set a user's password for signing in on the web."""
    from tradedesk.app import account

    secret = password or os.environ.get("TRADEDESK_PASSWORD")
    if secret is None:
        if not sys.stdin.isatty():
            secret = sys.stdin.readline().rstrip("\n")
        else:
            secret = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with _session(ctx) as session:
        user = _user(session, email)
        try:
            account.set_password(session, user, secret)
        except account.IdentityError as error:
            raise CliError(str(error)) from None
        session.commit()
        doc = {"id": user.id, "email": user.email, "password": "set"}
    if as_json:
        ui.print_json(doc)
    else:
        typer.echo(f"Set the password of {doc['email']}.")
