"""A turn runs end to end on the in-memory ports alone: no database, no SQLAlchemy record."""

from __future__ import annotations

from typing import Any

import pytest

from agentrecord.declaration import parse
from agentrecord.errors import AgentBusy
from agentrecord.target import Target
from agentrecord.testing import MemoryStore, ScriptedModel
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
