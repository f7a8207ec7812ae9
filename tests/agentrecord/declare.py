"""Declare a throwaway agent class on its own metadata, to test what declaration accepts or refuses."""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agentrecord import AgentRecord


def declare(agent_body: type, name: str = "Broken") -> type:
    """An agent class `name` (owned by an `owners` row) whose `class Agent:` is `agent_body`."""

    class LocalBase(DeclarativeBase):
        pass

    class Owner(LocalBase):
        __tablename__ = "owners"
        id: Mapped[int] = mapped_column(primary_key=True)

    namespace = {
        "__tablename__": name.lower(),
        "__annotations__": {"owner_id": "Mapped[int]"},
        "owner_id": mapped_column(ForeignKey("owners.id")),
        "Agent": agent_body,
    }
    return type(name, (AgentRecord, LocalBase), namespace)
