"""The CLI's chart command: recent bars of a symbol as a terminal sparkline of closes, with a summary.

Registered on `common.app`; like the rest of the CLI it parses, calls one function (`quotes.recent_bars`), and renders.
"""

# Annotations stay objects (no `from __future__ import annotations`): Typer reads them to build the CLI.

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from tradedesk.app import presenters as ui
from tradedesk.app import quotes
from tradedesk.cli.common import CliError, JsonOption, app

if TYPE_CHECKING:
    from rich.table import Table


def _summary(chart: quotes.Bars) -> "Table":
    from rich.table import Table
    from rich.text import Text

    first, last = chart.bars[0], chart.bars[-1]
    change = chart.change
    percent = (change / first.open * 100).quantize(Decimal("0.01")) if first.open else Decimal(0)
    style = "green" if change >= 0 else "red"
    grid = Table.grid(padding=(0, 2))
    grid.add_row("from", ui.show(first.time), "open", ui.show(first.open))
    grid.add_row("to", ui.show(last.time), "close", ui.show(last.close))
    grid.add_row("high", ui.show(max(b.high for b in chart.bars)), "low", ui.show(min(b.low for b in chart.bars)))
    volume = sum(b.volume for b in chart.bars)
    grid.add_row("change", Text(f"{change:+} ({percent:+}%)", style=style), "volume", ui.show(volume))
    return grid


@app.command()
def chart(
    symbol: str,
    interval: Annotated[str, typer.Option(help="Bar length: 1m or 1d.")] = "1d",
    bars: Annotated[int, typer.Option("--bars", help=f"How many bars, 1 to {quotes.MAX_BARS}.")] = 30,
    as_json: JsonOption = False,
) -> None:
    """Recent bars of a symbol (open, high, low, close, volume) as a sparkline of closes."""
    from rich.text import Text

    try:
        found = quotes.recent_bars(symbol, interval, bars)
    except ValueError as error:  # an unknown symbol, a bad interval or count, a replay without such bars
        raise CliError(str(error)) from None
    if as_json:
        ui.print_json(found)
        return
    console = ui.out()
    title = f"{found.symbol} · {len(found.bars)} x {found.interval} bars as of {ui.show(found.as_of)}"
    console.print(title, markup=False)
    if not found.bars:
        console.print("No bars yet.")
        return
    style = "green" if found.change >= 0 else "red"
    console.print(Text(ui.sparkline([b.close for b in found.bars]), style=style), soft_wrap=True)
    console.print(_summary(found))
