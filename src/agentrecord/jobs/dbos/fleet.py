"""Workers that heartbeat into the database, and the takeover of a dead worker's jobs by a live one.

DBOS recovers a process's unfinished workflows when a process with the same executor id restarts;
moving them to *another* machine is left to its proprietary Conductor. This fills that gap on our
own table: every worker beats every second, and a live worker hands the jobs of one that stopped,
went silent for `dead_after` seconds, or (same host) whose process no longer exists, back to the
queue through DBOS's own recovery (which re-enqueues them; duplicate hand-backs are no-ops).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, delete, func, insert, select, update

from ...leases import HOST, process_gone
from ..backend import WorkerInfo

TABLE = "agentrecord_workers"
metadata = MetaData()
workers = Table(
    TABLE,
    metadata,
    Column("id", String(200), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False, default=0),
    Column("started_at", DateTime, nullable=False),
    Column("beat_at", DateTime, nullable=False),
    Column("stopped_at", DateTime),
    Column("recovered_at", DateTime),
)

DEAD_AFTER = float(os.environ.get("AGENTRECORD_WORKER_DEAD_AFTER", "15"))
"""Seconds without a heartbeat after which a worker on another host counts as dead."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    return f"{HOST}:{os.getpid()}:{os.urandom(3).hex()}"


def join(engine: Engine, worker_id: str, concurrency: int) -> None:
    now = _now()
    with engine.begin() as conn:
        conn.execute(
            insert(workers).values(
                id=worker_id, host=HOST, pid=os.getpid(), concurrency=concurrency, started_at=now, beat_at=now
            )
        )


def beat(engine: Engine, worker_id: str, concurrency: int) -> None:
    """Say this worker is alive (joining again if a live worker took it for dead and forgot it)."""
    with engine.begin() as conn:
        done = conn.execute(update(workers).where(workers.c.id == worker_id).values(beat_at=_now())).rowcount
    if not done:
        join(engine, worker_id, concurrency)


def leave(engine: Engine, worker_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(workers).where(workers.c.id == worker_id).values(stopped_at=_now()))


def retire(engine: Engine, worker_id: str) -> None:
    """Record that the worker's jobs went back to the queue (its row stays, so its leases count as dead)."""
    now = _now()
    with engine.begin() as conn:
        conn.execute(
            update(workers)
            .where(workers.c.id == worker_id)
            .values(recovered_at=now, stopped_at=func.coalesce(workers.c.stopped_at, now))
        )
    with engine.begin() as conn:  # keep a day of history
        conn.execute(delete(workers).where(workers.c.recovered_at < now - timedelta(days=1)))


def gone(engine: Engine, owner: str) -> bool:
    """True when a lease owner (`host:pid:nonce`) is the process of a worker that is dead or stopped."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if not pid.isdigit():
        return False
    with engine.connect() as conn:
        rows = conn.execute(select(workers).where(workers.c.host == host, workers.c.pid == int(pid))).all()
    return any(r.stopped_at is not None or r.recovered_at is not None for r in rows)


def _rows(engine: Engine) -> list[WorkerInfo]:
    with engine.connect() as conn:
        rows = conn.execute(select(workers).where(workers.c.recovered_at.is_(None))).all()
    return [
        WorkerInfo(
            id=r.id,
            host=r.host,
            pid=r.pid,
            started_at=r.started_at,
            beat_at=r.beat_at,
            stopped_at=r.stopped_at,
            concurrency=r.concurrency,
        )
        for r in rows
    ]


def is_dead(worker: WorkerInfo, dead_after: float = DEAD_AFTER) -> bool:
    if worker.stopped_at is not None:
        return True
    if process_gone(worker.host, worker.pid):
        return True
    return _now() - worker.beat_at > timedelta(seconds=dead_after)


def live(engine: Engine, dead_after: float = DEAD_AFTER) -> list[WorkerInfo]:
    """The workers that are running now."""
    return [w for w in _rows(engine) if not is_dead(w, dead_after)]


def dead(engine: Engine, me: str, dead_after: float = DEAD_AFTER) -> list[WorkerInfo]:
    """The workers (other than `me`) whose jobs must be handed back to the queue."""
    return [w for w in _rows(engine) if w.id != me and is_dead(w, dead_after)]
