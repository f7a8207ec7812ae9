"""The runtime's ports: what a turn needs from wherever agents are stored, as small Protocols.

A `bind` is the store's handle on one database (a SQLAlchemy `Engine` for the SQLAlchemy store, any
hashable key for the in-memory one); the runtime only passes it back. Implementations: SQLAlchemy's
(`agentrecord.sqlalchemy.store.Store`, `.spend.SqlSpend`, `.binding.SqlAlchemyBinding`) and the
in-memory one in `agentrecord.testing` (`MemoryStore`, `MemorySpend`, `MemoryBinding`).
`tests/agentrecord/sqlalchemy/test_store_contract.py` holds both to the same semantics.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from pydantic_ai.messages import ModelMessage

from .state import Lease, State, Totals

if TYPE_CHECKING:
    from .budgets import Budget
    from .ledger import DayUsage, Entry

Bind = Any
"""A store's handle on one database; opaque to the runtime."""


class AgentStore(Protocol):
    """One agent class's conversation, state and run lease: a turn's only way to the agent's rows.

    Every method runs in a short unit of work of its own (never the caller's); none is held open while
    a model thinks. Messages are append-only, numbered 0, 1, 2... per agent.
    """

    label: str
    """The agent class's name, for errors ("Daytrader id=3 ...")."""

    async def acquire(self, bind: Bind, agent_id: Any, *, wait: float, ttl: float) -> Lease:
        """Take the agent's run lease for `ttl` seconds, waiting up to `wait` (else `AgentBusy`), and load the
        state and the history the model sees (the compaction summary, then the messages after it)."""
        ...

    def renew(self, bind: Bind, agent_id: Any, lease: Lease, ttl: float, *, state: bool = False) -> None:
        """Extend the lease by `ttl` (and with `state`, save the lease's state); `LeaseLost` if it was taken."""
        ...

    def release(self, bind: Bind, agent_id: Any, lease: Lease) -> None:
        """Give the lease up (a no-op once released, or if another holder has it now)."""
        ...

    def holder(self, bind: Bind, agent_id: Any) -> str | None:
        """Who holds the lease now (`host:pid:nonce`), if anyone."""
        ...

    def break_lease(self, bind: Bind, agent_id: Any, dead_owner: str) -> None:
        """Free the lease if `dead_owner` (known to be gone) still holds it."""
        ...

    def append(
        self,
        bind: Bind,
        agent_id: Any,
        lease: Lease,
        new: list[ModelMessage],
        *,
        usage: list[Entry],
        release: bool,
        ttl: float,
        turn_done: bool = False,
    ) -> Totals:
        """Append `new` after the stored messages, write the `usage` ledger rows and add them to the agent's
        counters, all in one unit of work under the lease (`LeaseLost` if it was taken: nothing written)."""
        ...

    def compact(
        self,
        bind: Bind,
        agent_id: Any,
        lease: Lease,
        *,
        start: int,
        summary: str,
        visible: list[ModelMessage],
        usage: list[Entry],
        ttl: float,
    ) -> Totals:
        """Record `summary` as standing for every message before `start` (the rows stay), with its usage."""
        ...

    def load_state(self, bind: Bind, agent_id: Any) -> State:
        """The agent's state as stored now."""
        ...

    def load_range(self, bind: Bind, agent_id: Any, start: int, end: int) -> list[ModelMessage]:
        """The messages numbered `start` up to (not including) `end`."""
        ...

    def load_all(self, bind: Bind, agent_id: Any) -> list[ModelMessage]:
        """Every message, oldest first."""
        ...

    def page(self, bind: Bind, agent_id: Any, before: int | None, limit: int) -> list[tuple[int, ModelMessage]]:
        """Up to `limit` (seq, message) numbered below `before` (None: the latest), oldest first."""
        ...

    def reservations(self, bind: Bind) -> SpendReservations:
        """The spend reservations kept in the same database."""
        ...


class UsageLedger(Protocol):
    """The usage ledger: one entry per provider request, written by `AgentStore.append` with the messages."""

    def by_day(self, bind: Bind, agent_ids: list[Any], since: date | None = None) -> list[DayUsage]:
        """Per-day (UTC) totals of the agents' entries, oldest day first."""
        ...


@dataclass(frozen=True)
class Refusal:
    """A reservation refused: `budget` is spent (`tokens` and `micros` of USD spent today in its scope)."""

    budget: Budget
    tokens: int
    micros: int


class SpendReservations(Protocol):
    """Daily spend per budget scope, reserved before each model request and settled after it, atomically
    across processes (the budgets' side of a turn; see `agentrecord.budgets`)."""

    def reserve(self, budgets: list[Budget], day: str) -> dict[str, tuple[int, int]] | Refusal:
        """Reserve in every scope the average request of `day` so far, as (tokens, micros) by scope; or, when
        any scope is at its limit (spent and reserved), reserve nothing and say which."""
        ...

    def settle(
        self,
        budgets: list[Budget],
        day: str,
        charge: tuple[int, int],
        held: dict[str, tuple[int, int]],
        answered: int,
    ) -> None:
        """Add `charge` (tokens, micros) and `answered` requests to every scope, and release `held` by scope."""
        ...

    def spent(self, scope: str, day: str) -> tuple[int, int]:
        """(tokens, micros) spent in `scope` on `day`."""
        ...


class Binding(Protocol):
    """A record's tie to its database: where it lives, how to load it again and work on its database in a unit of
    work of its own (a tool's worker thread, a process-pool worker, a job's worker), and how another process
    reopens that database. A record class names its binding in `__agentrecord_binding__` (`binding_of`).

    A binding used with `concurrency="process"` is pickled into every job: keep it stateless, or picklable.
    """

    def locate(self, record: Any) -> tuple[Bind, Any]:
        """(bind, primary key) of a saved record; `RecordNotSaved` otherwise."""
        ...

    def own(self, cls: type, key: tuple[Any, ...], bind: Bind) -> AbstractContextManager[Any]:
        """The record of `cls` with `key`, loaded in a unit of work open while the context is (`LookupError` if it
        is gone). Changes to it are not saved: write through `session`."""
        ...

    def session(self, bind: Bind) -> AbstractContextManager[Any]:
        """A unit of work on the database (a SQLAlchemy `Session` for the SQLAlchemy binding), safe to open from
        any thread: it commits when the block exits cleanly and rolls back when it raises."""
        ...

    def address(self, bind: Bind) -> str:
        """A string another process reopens the database from (secrets included: never log it)."""
        ...

    def reopen(self, address: str) -> Bind:
        """The bind of the database at `address`, opened once per process and kept (a process-pool worker's)."""
        ...


BINDING_ATTR = "__agentrecord_binding__"
"""The class attribute that names a record class's binding."""


def binding_of(cls: type) -> Binding:
    """The binding a record class names in `__agentrecord_binding__` (every `AgentRecord` has one)."""
    found: Binding | None = getattr(cls, BINDING_ATTR, None)
    if found is None:
        raise TypeError(
            f"{cls.__name__} names no binding: set `{BINDING_ATTR}` on the class, or give the turn one "
            "(Target.binding)."
        )
    return found
