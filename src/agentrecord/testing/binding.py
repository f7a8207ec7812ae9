"""An in-memory `ports.Binding`: records kept as copies by (bind, class, key), loaded and written in units of work.

For tests of tools and turns without a database, and as the second implementation that keeps the port honest
(`tests/agentrecord/sqlalchemy/test_store_contract.py` runs the same contract on it and on SQLAlchemy's). One
process only: `reopen` finds a bind this process gave an address to, and a process-pool worker has none.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..errors import RecordNotSaved
from ..ports import Bind

R = TypeVar("R")


def _scalar(key: Any) -> Any:
    """A one-column key as itself: `(3,)` and `3` name the same record, as in `Session.get`."""
    return key[0] if isinstance(key, tuple) and len(key) == 1 else key


class MemoryUnit:
    """One unit of work (what a Session is to SQLAlchemy): `get` and `add` records; written back on commit only."""

    def __init__(self, binding: MemoryBinding, bind: Bind) -> None:
        self._binding = binding
        self._bind = bind
        self._seen: dict[tuple[type, Any], Any] = {}

    def get(self, cls: type[R], key: Any) -> R | None:
        """The record of `cls` with `key` (the same instance again within this unit), or None."""
        found = self._seen.get((cls, _scalar(key)))
        if found is None:
            found = self._binding._load(cls, key, self._bind)
            if found is not None:
                self._seen[(cls, _scalar(key))] = found
        return found

    def add(self, record: Any) -> None:
        """Save `record` (new or changed) when the unit commits."""
        self._seen[(type(record), self._binding.key_of(record))] = record
        self._binding._home(record, self._bind)

    def _commit(self) -> None:
        self._binding._write(self._bind, list(self._seen.values()))


class MemoryBinding:
    """`ports.Binding` over plain objects: a record's key is its `key` attribute (`id` by default)."""

    def __init__(self, key: str = "id") -> None:
        self.key = key
        self._rows: dict[tuple[Bind, type, Any], Any] = {}
        self._homes: dict[int, tuple[weakref.ref[Any], Bind]] = {}
        self._addresses: dict[str, Bind] = {}
        self._lock = threading.RLock()

    def key_of(self, record: Any) -> Any:
        """The record's primary key."""
        return getattr(record, self.key)

    def save(self, bind: Bind, record: Any) -> None:
        """Store a copy of `record` in `bind` (what inserting its row is for SQLAlchemy); `record` is then saved."""
        self._write(bind, [record])
        self._home(record, bind)

    # -- the port ------------------------------------------------------------------------------
    def locate(self, record: Any) -> tuple[Bind, Any]:
        """(bind, key) of a record saved, loaded or added here; `RecordNotSaved` otherwise."""
        with self._lock:
            found = self._homes.get(id(record))
        if found is None or found[0]() is not record:
            raise RecordNotSaved(f"{type(record).__name__} is not saved: MemoryBinding.save(bind, record) first.")
        return found[1], self.key_of(record)

    @contextmanager
    def own(self, cls: type[R], key: tuple[Any, ...], bind: Bind) -> Iterator[R]:
        """A fresh copy of the record of `cls` with `key`; changes to it are not saved."""
        record = self._load(cls, key, bind)
        if record is None:
            raise LookupError(f"{cls.__name__} {key} no longer exists")
        yield record

    @contextmanager
    def session(self, bind: Bind) -> Iterator[MemoryUnit]:
        """A `MemoryUnit` on `bind`: what it got or added is written back when the block exits cleanly."""
        unit = MemoryUnit(self, bind)
        yield unit  # an exception skips the write: nothing of the unit's is kept
        unit._commit()

    def address(self, bind: Bind) -> str:
        """A name for `bind` that `reopen` in this process turns back into it."""
        with self._lock:
            for address, known in self._addresses.items():
                if known == bind:
                    return address
            address = f"memory://{id(self):x}/{len(self._addresses)}"
            self._addresses[address] = bind
            return address

    def reopen(self, address: str) -> Bind:
        """The bind `address` names; `LookupError` in another process (memory is not shared)."""
        with self._lock:
            if address not in self._addresses:
                raise LookupError(f"{address} is not a database of this process's MemoryBinding.")
            return self._addresses[address]

    # -- internals -----------------------------------------------------------------------------
    def _load(self, cls: type[R], key: Any, bind: Bind) -> R | None:
        with self._lock:
            row = self._rows.get((bind, cls, _scalar(key)))
            record: R | None = copy.deepcopy(row)
        if record is not None:
            self._home(record, bind)
        return record

    def _write(self, bind: Bind, records: list[Any]) -> None:
        copies = [(self.key_of(r), copy.deepcopy(r)) for r in records]
        with self._lock:
            for key, row in copies:
                self._rows[(bind, type(row), key)] = row

    def _home(self, record: Any, bind: Bind) -> None:
        """Remember where `record` lives, for `locate`, until it is garbage (then its id may name another object)."""
        ident = id(record)

        def forget(ref: weakref.ref[Any]) -> None:
            with self._lock:
                entry = self._homes.get(ident)
                if entry is not None and entry[0] is ref:
                    del self._homes[ident]

        with self._lock:
            self._homes[ident] = (weakref.ref(record, forget), bind)
