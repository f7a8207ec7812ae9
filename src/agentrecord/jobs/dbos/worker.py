"""A worker process: DBOS launched on the application's database, running queued turns and schedules.

One per process (DBOS is a process-wide singleton). It runs many turns at once on one event loop
while they wait on the model, one at a time per agent (the queue is partitioned by agent). It
heartbeats, hands dead workers' jobs back to the queue (`fleet`), watches for cancelled jobs, and
on SIGINT/SIGTERM stops every turn at its next step boundary and leaves those jobs to be resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from ... import create_engine
from ...errors import TurnStopped
from .. import runner
from ..backend import APP, QUEUE, TICK_WORKFLOW, backend_for
from ..emitter import Emitter
from . import fleet, workflows
from .client import installed, system_url

log = logging.getLogger("agentrecord.jobs")
VERSION = "agentrecord-jobs-1"
"""The application version DBOS records: equal across workers, so any worker may recover any job."""


@dataclass(frozen=True)
class Task:
    """A function a worker fleet runs on a clock, exactly once per tick across all workers."""

    name: str
    cron: str
    """Six-field cron, seconds first (e.g. "*/2 * * * * *")."""
    fn: Callable[[datetime], object]


class Worker:
    """Runs queued and scheduled agent turns from `url`'s database until stopped.

    `concurrency` turns at once (the queue's per-worker limit, shared by all workers), `poll` seconds
    between looks at the queue, `tasks` run on a clock once across the fleet, `dead_after` seconds of
    silence before another host's worker counts as dead, `grace` seconds to stop turns on shutdown.
    """

    def __init__(
        self,
        url: str | Engine,
        *,
        concurrency: int = 100,
        poll: float = 0.2,
        tasks: list[Task] | None = None,
        dead_after: float = fleet.DEAD_AFTER,
        grace: float = 30.0,
        keep_ticks: float = float(os.environ.get("AGENTRECORD_KEEP_TICKS", "3600")),
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (got {concurrency})")
        self.engine = url if isinstance(url, Engine) else create_engine(url)
        self.id = fleet.new_id()
        self.concurrency = concurrency
        self.poll = poll
        self.tasks = list(tasks or [])
        self.dead_after = dead_after
        self.grace = grace
        self.keep_ticks = keep_ticks
        """Seconds a finished schedule tick or task run is kept before it is deleted (a tick a second adds up)."""
        self._stopping = threading.Event()
        self._running: dict[str, bool] = {}  # job id -> parked (stopped at a step boundary for shutdown)
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()

    # -- job execution (called by the DBOS workflow) -------------------------------------------
    def stop_reason(self, job_id: str) -> str | None:
        if job_id in self._cancelled:
            return "cancelled"
        return "shutdown" if self._stopping.is_set() else None

    async def run_job(self, request: dict[str, Any], job_id: str) -> dict[str, Any]:
        with self._lock:
            self._running[job_id] = False
        parked = False
        started = time.monotonic()
        events = Emitter(backend_for(self.engine), job_id)
        try:
            result = await runner.run(
                self.engine,
                request,
                job_id,
                lambda: self.stop_reason(job_id),
                lambda owner: fleet.gone(self.engine, owner),
                events,
            )
            await asyncio.to_thread(events.finish, "done")
            tokens = int(result.get("input_tokens", 0)) + int(result.get("output_tokens", 0))
            log.info("job %s done in %.1fs (%d tokens)", job_id, time.monotonic() - started, tokens)
            return result
        except TurnStopped as stopped:
            if stopped.reason != "shutdown":
                await asyncio.to_thread(events.finish, "cancelled")
                log.info("job %s %s", job_id, stopped.reason)
                raise
            await asyncio.to_thread(events.flush)  # the next run of the job appends to the same stream
            parked = True
            with self._lock:
                self._running[job_id] = True
            log.info("job %s stopped at a step boundary; the next worker to run resumes it", job_id)
            await asyncio.Event().wait()  # never set: the process exits and the job resumes elsewhere
            raise
        except Exception as exc:
            await asyncio.to_thread(events.finish, "failed", runner.describe(exc))
            log.warning("job %s failed: %s: %s", job_id, type(exc).__name__, exc)
            raise
        finally:
            if not parked:
                with self._lock:
                    self._running.pop(job_id, None)

    # -- lifecycle ------------------------------------------------------------------------------
    def run(self) -> None:
        """Launch, work until SIGINT/SIGTERM, stop gracefully and exit the process.

        Job outcomes are logged on the `agentrecord.jobs` logger (INFO), which this sets up on stderr
        unless the application configured logging.
        """
        if not log.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stopping.set())
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        finally:
            self.shutdown()

    def start(self) -> None:
        """Launch DBOS in this process with the turn queue, the schedules and the tasks."""
        from dbos import DBOS

        if not installed(self.engine):
            from ...errors import JobsNotConfigured

            raise JobsNotConfigured(
                "The database has no job tables: run agentrecord.jobs.install(engine) first (`tradedesk init`)."
            )
        workflows.bind(self)
        for task in self.tasks:
            workflows.register_task(task.name, task.fn)
        fleet.join(self.engine, self.id, self.concurrency)
        DBOS(
            config={
                "name": APP,
                "system_database_url": system_url(self.engine),
                "executor_id": self.id,
                "application_version": VERSION,
                "run_migrations": False,
                "scheduler_polling_interval_sec": 1.0,
                "log_level": os.environ.get("AGENTRECORD_JOBS_LOG_LEVEL", "WARNING"),
            }
        )
        DBOS.launch()
        DBOS.register_queue(
            QUEUE,
            partition_concurrency=1,
            worker_concurrency=self.concurrency,
            polling_interval_sec=self.poll,
            on_conflict="always_update",
        )
        for task in self.tasks:
            workflows.schedule_task(task.name, task.cron)
        workflows.catch_up(self.engine)
        threading.Thread(target=self._maintain, name="agentrecord-worker", daemon=True).start()

    def shutdown(self) -> None:
        """Stop turns at their next step, leave the fleet, and exit: unfinished jobs resume on another worker."""
        self._stopping.set()
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            with self._lock:
                if all(self._running.values()):
                    break
            time.sleep(0.05)
        with contextlib.suppress(Exception):
            fleet.leave(self.engine, self.id)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # DBOS's workflows stay PENDING on purpose: live workers hand them back to the queue

    def _sweep_ticks(self) -> None:
        """Forget finished schedule ticks and task runs older than `keep_ticks` (their turns are jobs and stay)."""
        from dbos import DBOS

        cutoff = datetime.now(UTC) - timedelta(seconds=self.keep_ticks)
        names = [TICK_WORKFLOW, *(workflows.TASK_PREFIX + t.name for t in self.tasks)]
        old = DBOS.list_workflows(
            name=names,
            status=["SUCCESS", "ERROR"],
            end_time=cutoff.isoformat(),
            limit=1000,
            load_input=False,
            load_output=False,
        )
        if old:
            DBOS.delete_workflows([w.workflow_id for w in old])

    def _maintain(self) -> None:
        """Heartbeat, notice cancelled jobs, and hand dead workers' jobs back to the queue."""
        from dbos import DBOS

        last_scan = last_sweep = 0.0
        while not self._stopping.is_set():
            try:
                fleet.beat(self.engine, self.id, self.concurrency)
                with self._lock:
                    running = [j for j, parked in self._running.items() if not parked]
                if running:
                    self._cancelled.update(_cancelled_among(running))
                if time.monotonic() - last_sweep >= min(60.0, self.keep_ticks):
                    last_sweep = time.monotonic()
                    self._sweep_ticks()
                if time.monotonic() - last_scan >= 1.0:
                    last_scan = time.monotonic()
                    for gone in fleet.dead(self.engine, self.id, self.dead_after):
                        DBOS._recover_pending_workflows([gone.id])
                        fleet.retire(self.engine, gone.id)
                        log.warning("worker %s is gone: its unfinished jobs went back to the queue", gone.id)
            except Exception:
                log.exception("worker maintenance failed; retrying")
            self._stopping.wait(0.25)


def _cancelled_among(job_ids: list[str]) -> set[str]:
    """The cancelled ones among `job_ids`: one indexed query on DBOS's status table, four times a second.

    `DBOS.list_workflows` answers the same but builds a full status object per job; with a hundred
    running jobs that was most of a worker's housekeeping CPU.
    """
    from dbos._dbos import _get_dbos_instance
    from sqlalchemy import select

    sys_db = _get_dbos_instance()._sys_db
    status = sys_db.tables.workflow_status
    query = select(status.c.workflow_uuid).where(status.c.workflow_uuid.in_(job_ids), status.c.status == "CANCELLED")
    with sys_db.engine.connect() as conn:
        return {str(row[0]) for row in conn.execute(query)}
