"""How the CLI shows things: JSON (Decimals as strings) for `--json`, Rich tables otherwise.

Rich and pydantic-ai are imported by the functions that use them, so a command printing JSON loads neither.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage
    from rich.console import Console
    from rich.table import Table

    from agentrecord import PendingApproval, Reply
    from agentrecord.jobs import Job, Schedule
    from tradedesk.brokerage.allocations import AgentBook
    from tradedesk.brokerage.broker import Portfolio
    from tradedesk.brokerage.equity_report import EquityReport

CENT = Decimal("0.01")


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: Decimals as strings (exact), datetimes as ISO 8601, dataclasses as dicts."""
    if _is_pending_approval(value):
        return plain(value.to_json())
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _is_pending_approval(value: Any) -> bool:
    approvals = sys.modules.get("agentrecord.approvals")  # not imported: nothing can be a PendingApproval
    return approvals is not None and isinstance(value, approvals.PendingApproval)


def print_json(value: Any) -> None:
    """Print `value` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(plain(value), indent=2) + "\n")
    sys.stdout.flush()


def out() -> Console:
    """A console on the current stdout (created per use, so redirected streams are honoured).

    Piped output gets room for whole tables instead of Rich's 80 columns.
    """
    from rich.console import Console

    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(highlight=False, width=160 if piped else None)


def err() -> Console:
    """A console on the current stderr: progress and errors, never the data."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def show(value: Any) -> str:
    """One value for a table cell."""
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        whole_cents = value.is_finite() and value == value.quantize(CENT)
        return f"{value:,.2f}" if whole_cents else f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={show(v)}" for k, v in value.items())
    return str(value)


def table(title: str | None, rows: Sequence[Mapping[str, Any]], columns: Iterable[str] | None = None) -> Table:
    """A table of `rows` (dicts), one column per key of the first row unless `columns` are given."""
    from rich.table import Table

    keys = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    grid = Table(title=title, title_justify="left")
    for key in keys:
        grid.add_column(key.replace("_", " "), overflow="fold")
    for row in rows:
        grid.add_row(*(show(row.get(k)) for k in keys))
    return grid


def pairs(title: str | None, mapping: Mapping[str, Any]) -> Table:
    """A two-column table of a record's scalar fields."""
    from rich.table import Table

    grid = Table(title=title, title_justify="left", show_header=False)
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in mapping.items():
        grid.add_row(key.replace("_", " "), show(value))
    return grid


def fields_of(value: Any) -> dict[str, Any]:
    """A dataclass (or mapping) as a dict of its fields, values untouched."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return dict(value)


def tool_calls(messages: Sequence[ModelMessage]) -> list[dict[str, Any]]:
    """The tool calls among `messages` with their results (None while a call waits for approval)."""
    from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart

    results = {
        p.tool_call_id: p.content
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    }
    return [
        {
            "tool": p.tool_name,
            "args": p.args_as_dict(),
            "call_id": p.tool_call_id,
            "result": results.get(p.tool_call_id),
        }
        for m in messages
        if isinstance(m, ModelResponse)
        for p in m.parts
        if isinstance(p, ToolCallPart)
    ]


def call_result(messages: Sequence[ModelMessage], call_id: str) -> Any:
    """The result of tool call `call_id` among `messages`, or None."""
    from pydantic_ai.messages import ModelRequest, ToolReturnPart

    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart) and part.tool_call_id == call_id:
                    return part.content
    return None


def brief(result: Any, limit: int = 200) -> str:
    """A tool result in one short line: `k=v, ...`, cut at `limit` characters."""
    text = show(result) if isinstance(result, Mapping) else " ".join(str(result).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call_line(tool: str, args: Mapping[str, Any]) -> str:
    """`quote_feed(symbol='AAPL')`."""
    return f"{tool}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


def reply_json(label: str, reply: Reply[Any] | None, **extra: Any) -> dict[str, Any]:
    """A turn's outcome as one JSON object: reply, usage, cost, tool calls and pending approvals."""
    doc: dict[str, Any] = {"agent": label, **extra}
    if reply is None:
        return doc | {"reply": None, "usage": None, "cost": None, "tool_calls": [], "pending": [], "skills": []}
    return doc | {
        "reply": reply.text,
        "usage": {
            "input_tokens": reply.usage.input_tokens,
            "output_tokens": reply.usage.output_tokens,
            "total_tokens": reply.usage.total_tokens,
            "requests": reply.usage.requests,
        },
        "cost": reply.cost,
        "tool_calls": tool_calls(reply.messages),
        "pending": reply.pending,
        "skills": [{"name": n, "sha256": h} for n, h in reply.skills],
    }


def print_turn_footer(reply: Reply[Any], *, email: str) -> None:
    """After a streamed reply: the tools it used, what it spent, and any calls waiting for approval."""
    from rich.text import Text

    console = out()
    for c in tool_calls(reply.messages):
        if c["result"] is not None:
            line = f"  used {call_line(c['tool'], c['args'])} → {brief(c['result'])}"
            console.print(Text(line, style="dim"), soft_wrap=True)
    cost = "n/a" if reply.cost is None else "$0" if reply.cost == 0 else f"${reply.cost:,.6f}"
    console.print(Text(f"  {reply.usage.total_tokens} tokens, cost {cost}", style="dim"))
    print_pending(reply.pending, email=email)


def print_pending(pending: Sequence[PendingApproval], *, email: str) -> None:
    """Calls waiting for the owner, and how to decide them."""
    if not pending:
        return
    console = out()
    console.print(f"[yellow]Waiting for approval ({len(pending)}):[/yellow]")
    for p in pending:
        console.print(f"  {p.call_id}  {call_line(p.tool, p.args)}", markup=False, soft_wrap=True)
    console.print(
        "Approve with `tradedesk approve CALL_ID`, deny with `tradedesk deny CALL_ID --reason ...` "
        f"(list them with `tradedesk approvals {email}`).",
        markup=False,
        soft_wrap=True,
    )


# -- the CLI's own views (portfolio, orders, agents' books, charts, jobs) ------------------------------------


def dollars(value: Decimal) -> str:
    """`$1,234.50`, as messages to people write an amount."""
    from tradedesk.market.money import dollars

    return dollars(value)


def print_portfolio(email: str, book: Portfolio) -> None:
    """A portfolio: its totals, then its positions as a table."""
    values = fields_of(book)
    positions = [fields_of(p) for p in values.pop("positions", [])]
    console = out()
    console.print(pairs(f"Portfolio of {email}", {k: v for k, v in values.items() if not isinstance(v, list)}))
    if positions:
        console.print(table("Positions", positions))
    else:
        console.print("No positions.")


def trail(row: dict[str, Any]) -> str | None:
    """A trailing stop's distance behind its water mark, in dollars or percent."""
    amount, percent = row.get("trail_amount"), row.get("trail_percent")
    if amount is not None:
        return f"${amount:,.2f}"
    return None if percent is None else f"{percent:g}%"


def print_orders(email: str, rows: list[dict[str, Any]]) -> None:
    """The orders as a table; columns only some orders have (stops, trails, brackets, commissions) show if any does."""
    rows = [
        row
        | {
            "trail": trail(row),
            "class": row.get("order_class"),
            "parent": row.get("parent_id"),
            "filled": row.get("filled_quantity", 0),
            "commission": row.get("commission"),
        }
        for row in rows
    ]
    columns = ["id", "agent", "class", "parent", "symbol", "side", "quantity", "order_type", "limit_price"]
    columns += ["stop_price", "trail", "time_in_force", "status", "filled", "fill_price", "commission", "reason"]
    optional = {"class", "parent", "stop_price", "trail", "commission"}
    shown = [c for c in columns if c not in optional or any(row.get(c) for row in rows)]
    out().print(table(f"Orders of {email}", rows, shown))


def by_agent_rows(books: list[AgentBook]) -> list[dict[str, Any]]:
    """One row per book for the "By agent" table."""
    return [
        {
            "agent": b.agent,
            "allocation": "none" if b.allocation is None else b.allocation,
            "in_use": b.in_use,
            "positions": ", ".join(f"{p.quantity} {p.symbol}" for p in b.positions) or "-",
            "market_value": b.market_value,
            "realized_pnl": b.realized_pnl,
            "unrealized_pnl": b.unrealized_pnl,
        }
        for b in books
    ]


def print_by_agent(books: list[AgentBook]) -> None:
    """The portfolio's "By agent" table (nothing if no agent traded or has an allocation)."""
    if books:
        out().print(table("By agent", by_agent_rows(books)))


def equity_json(email: str, report: EquityReport) -> dict[str, Any]:
    """An equity report as `equity --json` prints it: since, drawdown, P&L per day and the snapshots."""
    snapshots = [{"at": at, "equity": value} for at, value in report.snapshots]
    return {
        "user": email,
        "since": report.since,
        "drawdown": report.drawdown,
        "days": report.days,
        "snapshots": snapshots,
    }


TICKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[Decimal]) -> str:
    """One block character per value, from ▁ (the lowest) to █ (the highest); flat values sit in the middle."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return TICKS[len(TICKS) // 2] * len(values)
    top = len(TICKS) - 1
    return "".join(TICKS[int((v - low) / (high - low) * top + Decimal("0.5"))] for v in values)


def _label(agent: str) -> str:
    """`Daytrader id=3` as the CLI names agents: `daytrader/3`."""
    from tradedesk.agents.models import AGENT_KINDS

    kinds = {cls.__name__: kind for kind, cls in AGENT_KINDS.items()}
    name, _, rest = agent.partition(" id=")
    return f"{kinds[name]}/{rest}" if name in kinds else agent


def job_view(job: Job) -> dict[str, Any]:
    """A job as JSON, its agent named as the CLI names agents."""
    return job.to_json() | {"agent": _label(job.agent)}


def schedule_view(schedule: Schedule) -> dict[str, Any]:
    """A schedule as JSON, its agent named as the CLI names agents."""
    return schedule.to_json() | {"agent": _label(schedule.agent)}
