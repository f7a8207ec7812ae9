"""Which jobs belong to which agent, indexed by (agent, time), so an agent's latest jobs are one index range.

DBOS's workflow table also holds every schedule tick and clock-driven task run (one a second for
the exchange clock): found by an id prefix ordered by time, an agent with few jobs would be looked
for through all of them, and a page listing its jobs would slow down as the database ages.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, Index, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from . import fleet

TABLE = "agentrecord_jobs"
jobs = Table(
    TABLE,
    fleet.metadata,
    Column("id", String(255), primary_key=True),
    Column("agent", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_agentrecord_jobs_agent_created", "agent", "created_at"),
)


def agent_of(job_id: str) -> str:
    """`<table>.<agent id>`, the agent part of a job id."""
    return ".".join(job_id.split(".", 2)[:2])


def add(engine: Engine, job_id: str, at: datetime | None = None) -> None:
    """Index a job (a job enqueued twice under one key is indexed once)."""
    when = (at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    try:
        with engine.begin() as conn:
            conn.execute(insert(jobs).values(id=job_id, agent=agent_of(job_id), created_at=when))
    except IntegrityError:
        pass


def backfill(engine: Engine, found: Iterable[tuple[str, datetime]]) -> int:
    """Index the jobs in `found` (id, created) that are not indexed yet; how many were added."""
    with engine.connect() as conn:
        known = set(conn.execute(select(jobs.c.id)).scalars())
    rows = [
        {"id": i, "agent": agent_of(i), "created_at": at.astimezone(UTC).replace(tzinfo=None)}
        for i, at in found
        if i not in known
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(jobs), rows)
    return len(rows)


def latest(engine: Engine, agents: list[str], limit: int) -> list[str]:
    """The ids of these agents' latest `limit` jobs, newest first."""
    query = (
        select(jobs.c.id)
        .where(jobs.c.agent.in_(agents))
        .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())
