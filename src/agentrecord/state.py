"""What the runtime keeps about an agent between turns: its versioned state, its counters, a held lease.

ORM-neutral: every store (the SQLAlchemy one, the in-memory one in `agentrecord.testing`) reads and
writes these.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse

from .errors import StateVersionError

STATE_VERSION = 1


@dataclass
class State:
    """The versioned runtime state kept in the agent row's `data` column."""

    messages: int = 0
    requests: int = 0
    turns: int = 0
    head: str = ""
    """A token that changes with every write: a cached history is current iff its head matches."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None, where: str) -> State:
        if not raw:
            return cls()
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise StateVersionError(f"{where}: the data column is not agentrecord state JSON ({exc}).") from exc
        version = doc.get("v") if isinstance(doc, dict) else None
        if version != STATE_VERSION:
            raise StateVersionError(
                f"{where}: the data column holds state schema version {version!r}; this agentrecord reads "
                f"version {STATE_VERSION}. Upgrade agentrecord, or migrate the row."
            )
        try:
            return cls(
                messages=int(doc.get("messages", 0)),
                requests=int(doc.get("requests", 0)),
                turns=int(doc.get("turns", 0)),
                head=str(doc.get("head", "")),
                extra=dict(doc.get("extra", {})),
            )
        except (TypeError, ValueError, OverflowError) as exc:
            raise StateVersionError(f"{where}: the data column holds corrupt agentrecord state ({exc}).") from None

    def dump(self) -> str:
        doc: dict[str, Any] = {
            "v": STATE_VERSION,
            "messages": self.messages,
            "requests": self.requests,
            "turns": self.turns,
            "head": self.head,
        }
        if self.extra:
            doc["extra"] = self.extra
        return json.dumps(doc, separators=(",", ":"))


@dataclass
class Totals:
    """Cumulative usage as stored on the agent row after a write."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: Decimal | None
    data: str
    updated_at: datetime


@dataclass
class Lease:
    """A held run lease on one agent row, plus what was loaded under it."""

    owner: str
    state: State
    history: list[ModelMessage]
    cost: Decimal | None = None
    stored: list[ModelMessage] = field(default_factory=list)
    """Everything stored for the agent so far (history plus this turn's writes); feeds the cache."""
    released: bool = False


def window(state: State) -> tuple[int, str | None]:
    """(sequence number of the first message the model sees, summary text standing for those before)."""
    info = state.extra.get("compaction")
    if not isinstance(info, dict):
        return 0, None
    return int(info.get("start", 0)), info.get("summary")


def advance(state: State, new: list[ModelMessage], *, turn_done: bool) -> State:
    """The state after appending `new` (a fresh head: every write changes it)."""
    return State(
        messages=state.messages + len(new),
        requests=state.requests + sum(isinstance(m, ModelResponse) for m in new),
        turns=state.turns + (1 if turn_done else 0),
        head=uuid.uuid4().hex[:16],
        extra=state.extra,
    )


def compacted(lease: Lease, *, start: int, summary: str, visible: list[ModelMessage]) -> None:
    """Mark `lease`'s state as summarized before `start` (counting compactions), its history now `visible`."""
    info = lease.state.extra.get("compaction")
    count = int(info.get("count", 0)) + 1 if isinstance(info, dict) else 1
    lease.state.extra = {**lease.state.extra, "compaction": {"start": start, "summary": summary, "count": count}}
    lease.history = visible
    lease.stored = list(visible)
