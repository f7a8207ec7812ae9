"""The SQLAlchemy binding of a record to its database (`ports.Binding`): where a saved record lives, how a tool's
thread, a process-pool worker or a job loads it again or writes in a Session of its own, and how a worker process
opens the database again from its URL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value

from ..errors import RecordNotSaved
from ..state import Totals
from .engine import create_engine

R = TypeVar("R")

_reopened: dict[tuple[int, str], Engine] = {}  # engines opened from an address, by (pid, URL): never a parent's
_reopen_lock = threading.Lock()


@contextmanager
def own_record(cls: type[R], key: tuple[Any, ...], engine: Engine) -> Iterator[R]:
    """The agent row loaded in a Session of the tool call's own, open while the call runs.

    Tools run in worker threads or processes; the caller's Session is not thread-safe, so a tool
    never touches it, not even through a lazy load on the caller's record.
    """
    with Session(engine, expire_on_commit=False) as session:
        record = session.get(cls, key)
        if record is None:
            raise LookupError(f"{cls.__name__} {key} no longer exists")
        session.commit()  # end the read transaction now; lazy loads open their own
        yield record


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """A fresh Session on `engine` in a transaction: committed when the block exits cleanly, rolled back on error.

    Objects stay readable after the commit (`expire_on_commit=False`): a tool returns what it wrote.
    """
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def apply_totals(record: Any, totals: Totals | None) -> None:
    """Reflect the saved counters on the caller's instance without marking it dirty."""
    if totals is None:
        return
    for key in ("input_tokens", "output_tokens", "total_tokens", "cost", "data", "updated_at"):
        set_committed_value(record, key, getattr(totals, key))


class SqlAlchemyBinding:
    """A mapped record's Engine and primary key, read from its Session."""

    def locate(self, record: Any) -> tuple[Engine, Any]:
        """(engine, primary key) of a saved record; `RecordNotSaved` for one not saved or detached."""
        state = inspect(record)
        kind = type(record).__name__
        if state.transient or state.pending or state.key is None:
            raise RecordNotSaved(f"{kind} is not saved: session.add(record) and session.commit() before talking.")
        session = object_session(record)
        if session is None:
            raise RecordNotSaved(f"{kind} id={state.key[1][0]} is detached: load it through a Session to talk to it.")
        bind = session.get_bind(mapper=state.mapper)
        engine = bind if isinstance(bind, Engine) else bind.engine
        return engine, state.key[1][0]

    def own(self, cls: type[R], key: tuple[Any, ...], bind: Engine) -> AbstractContextManager[R]:
        """`own_record`, as the port names it."""
        return own_record(cls, key, bind)

    def session(self, bind: Engine) -> AbstractContextManager[Session]:
        """`unit_of_work`: a Session of its own on `bind`, committed on a clean exit, rolled back on error."""
        return unit_of_work(bind)

    def address(self, bind: Engine) -> str:
        """The engine's URL with its password: what a process-pool worker opens its own engine from."""
        return bind.url.render_as_string(hide_password=False)

    def reopen(self, address: str) -> Engine:
        """This process's engine on the URL `address` (agentrecord's `create_engine`), created on first use."""
        key = (os.getpid(), address)
        with _reopen_lock:
            engine = _reopened.get(key)
            if engine is None:
                engine = _reopened[key] = create_engine(address)
            return engine


BINDING = SqlAlchemyBinding()
"""The binding every SQLAlchemy agent record uses."""
