"""Agents and tools for the concurrency tests, in a module that spawned worker processes can import."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from pydantic_ai import ModelRetry
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship

from agentrecord import AgentRecord, Tool, ToolContext, tool
from tests.agentrecord.seed import Base, Order, User

CALLER: dict[str, Any] = {}
"""The test's own Session and record, so a tool running in a thread can check it was not handed them."""


class Arrival(Base):
    __tablename__ = "arrivals"
    id: Mapped[int] = mapped_column(primary_key=True)
    group: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(100))


def _stamp(label: str, start: float, context: ToolContext) -> dict[str, Any]:
    where = {"turn": context.turn, "seq": context.seq}  # the call's origin reaches worker processes too
    return {
        "label": label,
        "pid": os.getpid(),
        "start": start,
        "end": time.monotonic(),
        "agent": context.record.id,
    } | where


class Stamp(Tool):
    """Wait `delay` seconds and say when and where this call ran."""

    def call(self, label: str, delay: float = 0.0) -> dict[str, Any]:
        start = time.monotonic()
        time.sleep(delay)
        return _stamp(label, start, self.context)


class AsyncStamp(Tool):
    """Wait `delay` seconds without blocking and say when and where this call ran."""

    async def call(self, label: str, delay: float = 0.0) -> dict[str, Any]:
        start = time.monotonic()
        await asyncio.sleep(delay)
        return _stamp(label, start, self.context)


class Exclusive(Stamp):
    """Like stamp, but must run alone."""

    sequential = True


def _arrive(tool: Tool, group: str) -> None:
    with tool.session() as session:
        session.add(Arrival(group=group, call_id=tool.call_id))


def _arrived(tool: Tool, group: str) -> int:
    with tool.session() as session:
        return session.scalar(select(func.count()).where(Arrival.group == group)) or 0


class Rendezvous(Tool):
    """Wait until `parties` calls of `group` have arrived, which proves they run at the same time."""

    def call(self, group: str, parties: int, seat: int) -> dict[str, Any]:
        _arrive(self, group)
        deadline = time.monotonic() + 20
        while (count := _arrived(self, group)) < parties:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {count} of {parties} calls of {group} ever ran at once")
            time.sleep(0.01)
        return {"met": count, "pid": os.getpid(), "thread": threading.get_ident()}


class AsyncRendezvous(Tool):
    """Rendezvous, awaiting instead of sleeping."""

    async def call(self, group: str, parties: int, seat: int) -> dict[str, Any]:
        _arrive(self, group)
        deadline = time.monotonic() + 20
        while (count := _arrived(self, group)) < parties:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {count} of {parties} calls of {group} ever ran at once")
            await asyncio.sleep(0.01)
        return {"met": count, "pid": os.getpid(), "thread": threading.get_ident()}


def _who(record: Any, call_id: str, session: Session, tag: str) -> dict[str, Any]:
    """Place a tagged order for the record's owner through the tool's own session and describe the call."""
    session.add(Order(user_id=record.user_id, symbol=tag, side="buy", quantity=1, key=call_id))
    return {"pid": os.getpid(), "agent": record.id, "user": record.user.email, "note": record.note, "tag": tag}


class Whoami(Tool):
    """Say whom this call acts for, and place an order for them."""

    def call(self, tag: str) -> dict[str, Any]:
        with self.session() as session:
            return _who(self.record, self.call_id, session, tag)


@tool
def whoami_fn(ctx: ToolContext, tag: str) -> dict[str, Any]:
    """Say whom this call acts for (a function tool), and place an order for them."""
    with ctx.session() as session:
        return _who(ctx.record, ctx.call_id, session, tag)


class SessionProbe(Tool):
    """Write an order through the tool's own session and report whether anything is the caller's."""

    def call(self, tag: str) -> dict[str, Any]:
        with self.session() as session:
            session.add(Order(user_id=self.record.user_id, symbol=tag, side="buy", quantity=1, key=self.call_id))
            own_is_callers = session is CALLER.get("session")
        return {
            "own_session_is_callers": own_is_callers,
            "record_is_callers": self.record is CALLER.get("record"),
            "record_session_is_callers": object_session(self.record) is CALLER.get("session"),
            "user": self.record.user.email,  # a lazy load, in the tool's own session
        }


class Explode(Tool):
    """Always fails."""

    def call(self, symbol: str) -> str:
        raise ValueError(f"no liquidity in {symbol}")


class Refuse(Tool):
    """Asks the model to try again."""

    def call(self, symbol: str) -> str:
        raise ModelRetry(f"{symbol} is not traded here; try another symbol")


class Handle(Tool):
    """Returns something that cannot leave its process."""

    def call(self, symbol: str) -> Any:
        return threading.Lock()


class Die(Tool):
    """Kills the process it runs in."""

    def call(self, symbol: str) -> str:
        os._exit(3)


class _Options:
    model = "scripted"
    tools = [
        Stamp,
        AsyncStamp,
        Exclusive,
        Rendezvous,
        AsyncRendezvous,
        Whoami,
        whoami_fn,
        SessionProbe,
        Explode,
        Refuse,
        Handle,
        Die,
    ]


class CallAgent(AgentRecord, Base):
    __tablename__ = "call_agents"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship()
    note: Mapped[str | None] = mapped_column(String(50))

    class Agent(_Options):
        concurrency = "call"


class ThreadAgent(AgentRecord, Base):
    __tablename__ = "thread_agents"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship()
    note: Mapped[str | None] = mapped_column(String(50))

    class Agent(_Options):
        concurrency = "thread"


class AsyncAgent(AgentRecord, Base):
    __tablename__ = "async_agents"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship()
    note: Mapped[str | None] = mapped_column(String(50))

    class Agent(_Options):
        concurrency = "async"


class ProcessAgent(AgentRecord, Base):
    __tablename__ = "process_agents"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship()
    note: Mapped[str | None] = mapped_column(String(50))

    class Agent(_Options):
        concurrency = "process"


AGENTS: dict[str, type[AgentRecord]] = {
    "call": CallAgent,
    "thread": ThreadAgent,
    "async": AsyncAgent,
    "process": ProcessAgent,
}
