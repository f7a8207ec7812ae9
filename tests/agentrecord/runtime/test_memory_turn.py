"""A turn runs end to end on the in-memory ports alone: no database, no SQLAlchemy record, tools included."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from agentrecord.declaration import parse
from agentrecord.errors import AgentBusy
from agentrecord.target import Target
from agentrecord.testing import MemoryBinding, MemoryStore, ScriptedModel, call
from agentrecord.tools import Tool
from agentrecord.turn import run_turn


class Note:
    """A plain object standing for an agent record: the runtime needs its provider and declaration only."""

    provider = "test"

    class Agent:
        instructions = "Answer in a word."


def _target(store: MemoryStore, model: Any) -> Target:
    return Target(
        record=Note(),  # type: ignore[arg-type]
        spec=parse(Note),
        store=store,
        engine="memory",
        agent_id=1,
        model=model,
        label="Note id=1",
    )


async def test_turns_append_their_messages_and_ledger_to_the_memory_store() -> None:
    store = MemoryStore("Note")
    store.create("memory", 1)
    target = _target(store, ScriptedModel(["hello", "again"]))
    first = await run_turn(target, "hi", wait=0)
    second = await run_turn(target, "once more", wait=0)
    assert (first.text, second.text) == ("hello", "again")
    state = store.load_state("memory", 1)
    assert (state.messages, state.turns, state.requests) == (4, 2, 2)
    assert [seq for seq, _ in store.page("memory", 1, None, 10)] == [0, 1, 2, 3]
    (day,) = store.by_day("memory", [1])
    assert day.requests == 2
    assert store.holder("memory", 1) is None  # released


async def test_a_turn_does_not_start_while_another_holds_the_lease() -> None:
    store = MemoryStore("Note")
    store.create("memory", 1)
    held = await store.acquire("memory", 1, wait=0, ttl=30)
    with pytest.raises(AgentBusy):
        await run_turn(_target(store, ScriptedModel(["x"])), "hi", wait=0.05)
    store.release("memory", 1, held)
    assert store.load_state("memory", 1).messages == 0


@dataclass
class Receipt:
    """A row a tool call adds, keyed by the call's id."""

    id: str
    owner: str


class Bump(Tool):
    """Add one to the counter."""

    def call(self) -> dict[str, Any]:
        record: Any = self.record
        with self.session() as unit:
            row = unit.get(Counter, record.id)
            row.count += 1
            unit.add(Receipt(self.call_id, record.owner))
        return {"count": row.count, "seen_before": record.count}


@dataclass
class Counter:
    """An agent record for the memory binding: a key, whom it acts for, and a column its tool writes."""

    id: int
    owner: str
    count: int = 0
    provider: str = "test"

    class Agent:
        instructions = "Count when asked."
        tools = [Bump]


async def test_a_tool_reaches_its_record_and_writes_through_the_memory_binding() -> None:
    store, binding = MemoryStore("Counter"), MemoryBinding()
    caller = Counter(id=7, owner="alice")
    store.create("memory", 7)
    binding.save("memory", caller)
    first, second = call("bump"), call("bump")
    model = ScriptedModel([first, second, "counted twice"])
    target = Target(
        record=caller,  # type: ignore[arg-type]
        spec=parse(Counter),
        store=store,
        engine="memory",
        agent_id=7,
        model=model,
        label="Counter id=7",
        binding=binding,
    )
    reply = await run_turn(target, "count", wait=0)
    assert reply.text == "counted twice"
    returns = [p.content for m in reply.messages for p in m.parts if getattr(p, "part_kind", "") == "tool-return"]
    assert returns == [{"count": 1, "seen_before": 0}, {"count": 2, "seen_before": 1}]  # each call a fresh load
    assert caller.count == 0  # the caller's instance is never the tool's
    with binding.own(Counter, (7,), "memory") as saved, binding.own(Receipt, (second.id,), "memory") as receipt:
        assert (saved.count, receipt.owner) == (2, "alice")
