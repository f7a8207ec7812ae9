"""What a turn runs on: its record's captured target, and the dependencies its tool calls receive."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_ai.messages import ModelMessage
from pydantic_ai.models import Model

from . import _journal, approvals
from .mcp_servers import MCP
from .ports import AgentStore, Binding
from .state import Totals

if TYPE_CHECKING:
    from .declaration import AgentSpec
    from .sqlalchemy.record import AgentRecord

OnEvent = Callable[[dict[str, Any]], None]
"""Receives what a running turn produces, as JSON-able dicts, in order: `{"kind": "text", "text"}` for each
text delta, `{"kind": "tool_call", "tool", "args", "call_id"}` when a tool call is about to run (or is
held), `{"kind": "tool_result", "tool", "call_id", "result", "skill"}` when it returns."""


@dataclass
class TurnDeps:
    """The dependencies every tool call of a turn receives (as `ctx.deps`)."""

    record: AgentRecord
    engine: Any
    """The store's bind (a SQLAlchemy Engine for the SQLAlchemy store)."""
    agent_id: Any
    """The record's primary key: what its tool calls load it again by."""
    binding: Binding | None = None
    """How tool calls load the record and open units of work (None: its class's, `ports.binding_of`)."""
    calls: Counter[str] = field(default_factory=Counter)
    """(tool, arguments) call counts of this turn, for the loop guard."""
    model: Model | None = None
    """The turn's model, unwrapped (skills run their sub-agents on it)."""
    earlier: list[ModelMessage] = field(default_factory=list)
    """The latest finished messages the model sees besides `ctx.messages` (sent pre-encoded)."""
    journal: _journal.Journal | None = None
    """Where a job's turn saves each tool result as it returns (None outside jobs)."""
    turn: int | None = None
    """The agent's turn number (as in the usage ledger): what `ToolContext.turn` says."""
    seqs: dict[str, int] = field(default_factory=dict)
    """Tool call id -> sequence number of the stored response that asked for it (`ToolContext.seq`)."""
    approved: dict[str, approvals.Approval] = field(default_factory=dict)
    """The approvals this turn resumes on, by call id (`ToolContext.approval`)."""


@dataclass
class Target:
    """Everything a turn needs about its record, captured on the caller's thread."""

    record: AgentRecord
    spec: AgentSpec
    store: AgentStore
    engine: Any
    agent_id: Any
    model: Model
    label: str
    binding: Binding | None = None
    """How tool calls load the record again and reach its database (None: its class's, `ports.binding_of`)."""
    summarizer: Model | None = None
    """The model that writes compaction summaries (default: `model`)."""
    trace_parent: Any = None
    """The caller's trace context (the turn runs on the runtime loop, in a context of its own)."""
    mcp: list[MCP] = field(default_factory=list)
    """The record's MCP servers (its class's, with per-record factories applied on the caller's thread)."""
    reflect: Callable[[Totals | None], None] = field(default=lambda totals: None)
    """Shows the saved counters on the caller's instance (the ORM's part: the turn does not know it)."""
