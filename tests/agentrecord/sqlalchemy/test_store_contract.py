"""One contract for every implementation of the runtime's ports: SQLAlchemy on SQLite and on PostgreSQL, and
the in-memory store and binding of `agentrecord.testing`. Each test says what the runtime relies on.

A binding's unit of work is a SQLAlchemy Session or a `MemoryUnit`; the contract uses what both offer:
`get(cls, key)` and changing the record it returns."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.usage import RequestUsage
from sqlalchemy.orm import Session

from agentrecord import create_engine
from agentrecord.budgets import Budget, spend_table
from agentrecord.compaction import summary_message
from agentrecord.errors import AgentBusy, LeaseLost, RecordNotSaved
from agentrecord.ledger import Entry
from agentrecord.ports import AgentStore, Bind, Binding, Refusal, SpendReservations, UsageLedger, binding_of
from agentrecord.state import Lease, window
from agentrecord.testing import MemoryBinding, MemoryStore
from tests.agentrecord.seed import Base, Daytrader, User


class Store(AgentStore, UsageLedger, Protocol):
    """Both ports, as every implementation here provides them together."""


@dataclass
class Row:
    """The in-memory binding's agent record: a plain object with a key and a column to change."""

    id: int
    model: str | None = None


@dataclass
class Subject:
    """A store under test, the database it binds, a way to add an agent to it, and the binding of its records."""

    store: Store
    bind: Bind
    make: Any
    binding: Binding
    cls: type
    """The agent records' class."""
    unsaved: Callable[[], Any]
    """A record that was never saved."""

    def agent(self) -> Any:
        agent_id: Any = self.make()
        return agent_id


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def subject(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Subject]:
    if request.param == "memory":
        memory, binding = MemoryStore("Daytrader"), MemoryBinding()
        counter = iter(range(1, 1 << 30))

        def make_memory() -> int:
            agent_id = next(counter)
            memory.create("db", agent_id)
            binding.save("db", Row(agent_id))
            return agent_id

        yield Subject(memory, "db", make_memory, binding, Row, lambda: Row(987654))
        return
    url = f"sqlite:///{tmp_path}/contract.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    spend_table(Base.metadata).create(engine, checkfirst=True)

    def make_row() -> int:
        with Session(engine) as session:
            agent = Daytrader(user=User(email=f"{time.monotonic_ns()}@example.com"), provider="openai")
            session.add(agent)
            session.commit()
            return agent.id

    unsaved = lambda: Daytrader(provider="openai")  # noqa: E731
    yield Subject(Daytrader._store(), engine, make_row, binding_of(Daytrader), Daytrader, unsaved)
    engine.dispose()


def _acquire(s: Subject, agent_id: Any, *, wait: float = 0, ttl: float = 30) -> Lease:
    return asyncio.run(s.store.acquire(s.bind, agent_id, wait=wait, ttl=ttl))


def _exchange(text: str, tokens: tuple[int, int] = (0, 0)) -> list[ModelMessage]:
    return [
        ModelRequest(parts=[UserPromptPart(content=f"say {text}")]),
        ModelResponse(
            parts=[TextPart(content=text)], usage=RequestUsage(input_tokens=tokens[0], output_tokens=tokens[1])
        ),
    ]


def _texts(messages: list[ModelMessage]) -> list[str]:
    return [p.content for m in messages for p in m.parts if isinstance(p, TextPart | UserPromptPart)]  # type: ignore[misc]


def test_the_lease_admits_one_holder_until_released(subject: Subject) -> None:
    agent_id = subject.agent()
    first = _acquire(subject, agent_id)
    assert subject.store.holder(subject.bind, agent_id) == first.owner
    with pytest.raises(AgentBusy):
        _acquire(subject, agent_id, wait=0.05)
    subject.store.release(subject.bind, agent_id, first)
    subject.store.release(subject.bind, agent_id, first)  # twice is harmless
    assert subject.store.holder(subject.bind, agent_id) is None
    second = _acquire(subject, agent_id)
    assert second.owner != first.owner


def test_an_expired_lease_is_taken_over_and_its_holder_can_no_longer_write(subject: Subject) -> None:
    agent_id = subject.agent()
    stale = _acquire(subject, agent_id, ttl=0.05)
    time.sleep(0.15)
    fresh = _acquire(subject, agent_id)
    with pytest.raises(LeaseLost):
        subject.store.append(subject.bind, agent_id, stale, _exchange("late"), usage=[], release=True, ttl=30)
    with pytest.raises(LeaseLost):
        subject.store.renew(subject.bind, agent_id, stale, 30)
    subject.store.release(subject.bind, agent_id, stale)  # does not free the new holder's lease
    assert subject.store.holder(subject.bind, agent_id) == fresh.owner
    assert subject.store.load_all(subject.bind, agent_id) == []


def test_breaking_a_lease_frees_it_only_from_the_named_holder(subject: Subject) -> None:
    agent_id = subject.agent()
    lease = _acquire(subject, agent_id)
    subject.store.break_lease(subject.bind, agent_id, "otherhost:1:abc")
    assert subject.store.holder(subject.bind, agent_id) == lease.owner
    subject.store.break_lease(subject.bind, agent_id, lease.owner)
    assert subject.store.holder(subject.bind, agent_id) is None


def test_an_agent_not_in_the_store_cannot_be_leased(subject: Subject) -> None:
    with pytest.raises(RecordNotSaved):
        _acquire(subject, 987654)


def test_messages_are_appended_in_sequence_and_read_back_in_order(subject: Subject) -> None:
    agent_id = subject.agent()
    lease = _acquire(subject, agent_id)
    subject.store.append(subject.bind, agent_id, lease, _exchange("one"), usage=[], release=False, ttl=30)
    subject.store.append(
        subject.bind, agent_id, lease, _exchange("two"), usage=[], release=True, ttl=30, turn_done=True
    )
    assert _texts(subject.store.load_all(subject.bind, agent_id)) == ["say one", "one", "say two", "two"]
    assert _texts(subject.store.load_range(subject.bind, agent_id, 1, 3)) == ["one", "say two"]
    state = subject.store.load_state(subject.bind, agent_id)
    assert (state.messages, state.requests, state.turns) == (4, 2, 1)
    again = _acquire(subject, agent_id)
    assert _texts(again.history) == ["say one", "one", "say two", "two"]


def test_pages_go_back_from_the_latest_by_sequence_number(subject: Subject) -> None:
    agent_id = subject.agent()
    lease = _acquire(subject, agent_id)
    for word in ("a", "b", "c"):
        subject.store.append(subject.bind, agent_id, lease, _exchange(word), usage=[], release=False, ttl=30)
    latest = subject.store.page(subject.bind, agent_id, None, 2)
    assert [seq for seq, _ in latest] == [4, 5]
    earlier = subject.store.page(subject.bind, agent_id, latest[0][0], 3)
    assert [seq for seq, _ in earlier] == [1, 2, 3]
    assert [seq for seq, _ in subject.store.page(subject.bind, agent_id, 1, 5)] == [0]
    assert subject.store.page(subject.bind, agent_id, 0, 5) == []


def test_compaction_records_the_summary_and_keeps_every_row(subject: Subject) -> None:
    agent_id = subject.agent()
    lease = _acquire(subject, agent_id)
    for word in ("a", "b"):
        subject.store.append(subject.bind, agent_id, lease, _exchange(word), usage=[], release=False, ttl=30)
    kept = lease.history[2:] if lease.history else _exchange("b")
    spent = [Entry(status="ok", model="m", source="compaction", input_tokens=5, output_tokens=2)]
    totals = subject.store.compact(
        subject.bind,
        agent_id,
        lease,
        start=2,
        summary="they said a",
        visible=[summary_message("they said a"), *kept],
        usage=spent,
        ttl=30,
    )
    assert (totals.input_tokens, totals.output_tokens) == (5, 2)
    subject.store.release(subject.bind, agent_id, lease)
    state = subject.store.load_state(subject.bind, agent_id)
    assert window(state) == (2, "they said a")
    assert state.extra["compaction"]["count"] == 1
    assert len(subject.store.load_all(subject.bind, agent_id)) == 4  # the rows stay
    again = _acquire(subject, agent_id)
    assert _texts(again.history[1:]) == ["say b", "b"]
    assert again.history[0] == summary_message("they said a")


def test_the_state_is_versioned_and_every_write_changes_its_head(subject: Subject) -> None:
    agent_id = subject.agent()
    assert subject.store.load_state(subject.bind, agent_id).messages == 0
    lease = _acquire(subject, agent_id)
    subject.store.append(subject.bind, agent_id, lease, _exchange("x"), usage=[], release=False, ttl=30)
    head = subject.store.load_state(subject.bind, agent_id).head
    lease.state.extra = {**lease.state.extra, "note": 1}
    subject.store.renew(subject.bind, agent_id, lease, 30, state=True)  # saves the state, keeps the head
    saved = subject.store.load_state(subject.bind, agent_id)
    assert (saved.head, saved.extra["note"]) == (head, 1)
    totals = subject.store.append(subject.bind, agent_id, lease, [], usage=[], release=True, ttl=30)
    assert '"v":1' in totals.data
    assert subject.store.load_state(subject.bind, agent_id).head not in ("", head)


def test_the_ledger_holds_exactly_the_usage_the_counters_were_given(subject: Subject) -> None:
    agent_id = subject.agent()
    lease = _acquire(subject, agent_id)
    first = [Entry(status="ok", model="m", input_tokens=10, output_tokens=4, cost=Decimal("0.0010"))]
    second = [
        Entry(status="retried", model="m"),
        Entry(status="ok", model="m", input_tokens=7, output_tokens=3, cost=Decimal("0.0002")),
    ]
    subject.store.append(subject.bind, agent_id, lease, _exchange("a", (10, 4)), usage=first, release=False, ttl=30)
    totals = subject.store.append(
        subject.bind, agent_id, lease, _exchange("b", (7, 3)), usage=second, release=True, ttl=30
    )
    assert (totals.input_tokens, totals.output_tokens, totals.total_tokens) == (17, 7, 24)
    assert totals.cost == Decimal("0.0012")
    (day,) = subject.store.by_day(subject.bind, [agent_id])
    assert day.day == datetime.now(UTC).date()
    assert (day.requests, day.input_tokens, day.output_tokens, day.failed) == (3, 17, 7, 1)
    assert day.cost == Decimal("0.0012")
    with pytest.raises(LeaseLost):  # a write refused under a lost lease leaves no ledger rows either
        subject.store.append(subject.bind, agent_id, lease, [], usage=first, release=True, ttl=30)
    assert subject.store.by_day(subject.bind, [agent_id])[0].requests == 3


def test_spend_is_reserved_until_a_scope_reaches_its_limit(subject: Subject) -> None:
    spend: SpendReservations = subject.store.reservations(subject.bind)
    day = f"2099-01-{int(time.monotonic_ns()) % 28 + 1:02d}"
    scope = f"user:{time.monotonic_ns()}"
    budget = Budget(scope=scope, label="the test budget", daily_tokens=100)
    held = spend.reserve([budget], day)
    assert held == {scope: (0, 0)}
    spend.settle([budget], day, (60, 5), held, 1)
    assert spend.spent(scope, day) == (60, 5)
    held = spend.reserve([budget], day)  # the average request so far is reserved
    assert held == {scope: (60, 5)}
    refused = spend.reserve([budget], day)  # 60 spent + 60 reserved is past 100
    assert isinstance(refused, Refusal) and refused.budget == budget and refused.tokens == 60
    spend.settle([budget], day, (10, 0), held, 1)
    assert spend.spent(scope, day) == (70, 5)
    assert isinstance(spend.reserve([budget], day), dict)


def test_a_saved_record_is_located_by_its_bind_and_key_and_an_unsaved_one_is_refused(subject: Subject) -> None:
    agent_id = subject.agent()
    with subject.binding.session(subject.bind) as unit:
        record = unit.get(subject.cls, agent_id)
        assert subject.binding.locate(record) == (subject.bind, agent_id)
    with pytest.raises(RecordNotSaved):
        subject.binding.locate(subject.unsaved())


def test_own_loads_a_fresh_instance_of_its_own_and_saves_nothing(subject: Subject) -> None:
    agent_id, binding = subject.agent(), subject.binding
    with (
        binding.own(subject.cls, (agent_id,), subject.bind) as one,
        binding.own(subject.cls, (agent_id,), subject.bind) as other,
    ):
        assert one is not other and one.id == other.id == agent_id
        assert binding.locate(one) == (subject.bind, agent_id)  # a tool's record is a saved record too
        one.model = "scribbled"
    with binding.own(subject.cls, (agent_id,), subject.bind) as again:
        assert again.model is None
    with pytest.raises(LookupError), binding.own(subject.cls, (987654,), subject.bind):
        pass


def test_a_unit_of_work_commits_on_a_clean_exit_and_keeps_nothing_on_error(subject: Subject) -> None:
    agent_id, binding = subject.agent(), subject.binding
    with binding.session(subject.bind) as unit:
        unit.get(subject.cls, agent_id).model = "kept"
    with pytest.raises(RuntimeError), binding.session(subject.bind) as unit:
        unit.get(subject.cls, agent_id).model = "dropped"
        raise RuntimeError("the tool failed")
    with binding.own(subject.cls, (agent_id,), subject.bind) as record:
        assert record.model == "kept"


def test_a_unit_of_work_opens_from_a_worker_thread(subject: Subject) -> None:
    agent_id, binding = subject.agent(), subject.binding

    def write() -> None:
        with binding.session(subject.bind) as unit:
            unit.get(subject.cls, agent_id).model = "from a thread"

    worker = threading.Thread(target=write)
    worker.start()
    worker.join()
    with binding.own(subject.cls, (agent_id,), subject.bind) as record:
        assert record.model == "from a thread"


def test_an_address_reopens_the_same_database_once_per_process(subject: Subject) -> None:
    agent_id, binding = subject.agent(), subject.binding
    address = binding.address(subject.bind)
    reopened = binding.reopen(address)
    assert binding.reopen(address) is reopened
    with binding.session(reopened) as unit:
        unit.get(subject.cls, agent_id).model = "through the address"
    with binding.own(subject.cls, (agent_id,), subject.bind) as record:
        assert record.model == "through the address"
