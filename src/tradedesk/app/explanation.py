"""`tradedesk orders EMAIL --explain ORDER_ID`: one order's audit trail, section by section (or as JSON)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from tradedesk.agents.audit import Call, Explanation
from tradedesk.app import presenters as ui
from tradedesk.app.errors import Invalid


def order_id(text: str) -> int:
    """An order id as typed after --explain; anything but a whole number is refused in one line."""
    cleaned = text.strip().lstrip("#")
    if not cleaned.isascii() or not cleaned.isdigit():
        raise Invalid(f"--explain takes an order id, a whole number like 12 (got {text!r}).")
    return int(cleaned)


def print_explanation(found: Explanation, *, as_json: bool) -> None:
    """The audit trail of one order: Order, Prompt, Model, Tool call, Approval, Fills (and Cancel, Notes)."""
    if as_json:
        ui.print_json(found)
        return
    console = ui.out()
    order = {k: v for k, v in found.order.items() if not isinstance(v, list | dict)}  # a bracket's legs are orders
    placed = f"placed by {found.placed_by}" + (f", turn {found.turn}" if found.turn is not None else "")
    console.print(ui.pairs(f"Order {found.order['id']} ({placed})", order))
    if found.agent is not None:
        _section(console, "Prompt", None if found.prompt_seq is None else f"message {found.prompt_seq}")
        _line(console, found.prompt if found.prompt is not None else "(not found)")
        _section(console, "Model")
        for said in found.said:
            _line(console, f"[{said.seq}] {said.text}")
        if not found.said:
            _line(console, "(no text)")
        _section(console, "Tool call", _where(found.call))
        _call(console, found.call)
    _section(console, "Approval")
    _line(console, found.approval)
    _section(console, "Fills")
    if found.fills:
        rows = [ui.fields_of(f) for f in found.fills]
        console.print(ui.table(None, rows, ["quantity", "price", "commission", "at"]))
    else:
        _line(console, "none")
    if found.cancelled_by is not None:
        _section(console, "Cancel", _where(found.cancel))
        _line(console, f"cancelled by {found.cancelled_by}")
        _call(console, found.cancel)
    if found.notes:
        _section(console, "Notes")
        for note in found.notes:
            _line(console, note)


def _where(call: Call | None) -> str | None:
    return None if call is None or call.seq is None else f"message {call.seq}"


def _section(console: Console, title: str, where: str | None = None) -> None:
    console.print()
    console.print(Text(title, style="bold") + Text(f"  ({where})" if where else "", style="dim"))


def _line(console: Console, text: str) -> None:
    console.print(Text(f"  {text}"), soft_wrap=True)


def _call(console: Console, call: Call | None) -> None:
    if call is None:
        _line(console, "(none)")
        return
    shown: dict[str, Any] = call.args
    _line(console, f"{ui.call_line(call.tool or '?', shown)}  id {call.call_id}")
    if call.result is not None:
        _line(console, f"result: {ui.brief(call.result)}")
