"""The `tradedesk` command line: users, their agents, talking to them, approvals, the paper brokerage.

A thin layer over the application (`tradedesk.app`). Every command prints JSON with `--json`; errors print one
line on stderr and exit 1. The database is `--db URL`, else TRADEDESK_DATABASE_URL, else sqlite:///tradedesk.db
in the working directory. Each command module registers its commands on `common.app` when imported, and
imports only `common` and the application; importing them here, in this order, is what `--help` lists.
"""

import os
from typing import Annotated

import typer

# The command modules, in the order `--help` lists their commands (each registers its own on import).
# isort: off
from tradedesk.cli import people  # noqa: F401
from tradedesk.cli import roster  # noqa: F401
from tradedesk.cli import account  # noqa: F401
from tradedesk.cli import demo  # noqa: F401
from tradedesk.cli import chart  # noqa: F401
from tradedesk.cli import costs  # noqa: F401
from tradedesk.cli import equity  # noqa: F401
from tradedesk.cli import jobs  # noqa: F401
from tradedesk.cli import orders  # noqa: F401
from tradedesk.cli import safety  # noqa: F401
from tradedesk.cli import usage  # noqa: F401
from tradedesk.cli import backtests  # noqa: F401

# isort: on
from tradedesk.cli.common import CliError, _Root, app

__all__ = ["CliError", "app", "main"]


@app.callback()
def _options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", metavar="URL", help="Database URL [default: $TRADEDESK_DATABASE_URL, else tradedesk.db]."),
    ] = None,
    trace: Annotated[
        str | None,
        typer.Option(
            "--trace", metavar="otlp|console", help="Export traces: OTLP (to OTEL_EXPORTER_OTLP_ENDPOINT), or stderr."
        ),
    ] = None,
) -> None:
    ctx.obj = _Root(db)
    if trace is not None:
        from tradedesk.app.telemetry import export

        ctx.call_on_close(export(trace.strip().lower()))
    # The CLI owns its terminal: no pydantic-ai first-run banner amid the reply (read when a turn starts).
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")


def main() -> None:
    """Console script entry point."""
    app()
