"""A worker's writer of one job's events: what the turn produces goes to the job's stream without holding it up.

`emit` never waits on the database. Events wait up to `LINGER` seconds (0.1) in the job's buffer and go out
as one batch (one row), one batch in flight per job, so a tool call and its quick result, or a burst
of text deltas, cost one write; the settled status goes out with whatever is still buffered. A
resumed job learns what its earlier run wrote first, so tool calls and results are not written twice;
text of a response that was cut off is not taken back (the resumed response follows it).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .backend import Backend

log = logging.getLogger("agentrecord.jobs")
TERMINAL = frozenset({"done", "failed", "cancelled"})
LINGER = 0.1
"""Seconds an event waits for company before its batch is written."""


class _Flusher:
    """One thread per process that hands each job's batch, `LINGER` after its first event, to a few writer threads."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="agentrecord-events")
        self.due: list[tuple[float, int, Emitter]] = []  # a heap by due time
        self.wake = threading.Condition()
        threading.Thread(target=self._run, name="agentrecord-events", daemon=True).start()

    def schedule(self, emitter: Emitter) -> None:
        with self.wake:
            heapq.heappush(self.due, (time.monotonic() + LINGER, id(emitter), emitter))
            self.wake.notify()

    def _run(self) -> None:
        while True:
            with self.wake:
                if not self.due:
                    self.wake.wait()
                    continue
                wait = self.due[0][0] - time.monotonic()
                if wait > 0:
                    self.wake.wait(wait)
                    continue
                emitter = heapq.heappop(self.due)[2]
            self.pool.submit(emitter._drain)


_flusher: _Flusher | None = None
_flusher_lock = threading.Lock()


def _schedule(emitter: Emitter) -> None:
    global _flusher
    with _flusher_lock:
        if _flusher is None:
            _flusher = _Flusher()
    _flusher.schedule(emitter)


class Emitter:
    """The events of one job run on this worker, written in order to the job's stream."""

    def __init__(self, backend: Backend, job_id: str) -> None:
        self.backend = backend
        self.job_id = job_id
        self._lock = threading.Lock()
        self._buffer: list[dict[str, Any]] = []
        self._idle = threading.Event()  # no batch is scheduled or being written
        self._idle.set()
        self._seen: set[tuple[str, str]] = set()
        """(kind, call id) of the tool calls and results written (or buffered): each goes out once."""
        self._closed = False

    def emit(self, event: dict[str, Any]) -> None:
        """Queue `event` for the stream (from any thread; never blocks on the database)."""
        with self._lock:
            call_id = event.get("call_id")
            if self._closed or (call_id is not None and (event["kind"], call_id) in self._seen):
                return
            if call_id is not None:
                self._seen.add((event["kind"], call_id))
            self._buffer.append(event)
            if not self._idle.is_set():
                return  # a batch is scheduled or in flight: it takes this one too, or the next does
            self._idle.clear()
        _schedule(self)

    def _drain(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
        if batch:
            self._write(batch, close=False)
        with self._lock:
            if not self._buffer:
                self._idle.set()
                return
        _schedule(self)  # what came meanwhile lingers too, rather than going out a delta at a time

    def _write(self, batch: list[dict[str, Any]], *, close: bool) -> None:
        try:
            self.backend.write_events(self.job_id, batch, close=close)
        except Exception:  # progress is best effort: the turn and its saved steps go on regardless
            log.exception("job %s: %d event(s) could not be written to its stream", self.job_id, len(batch))

    def resumed(self) -> None:
        """Learn what an earlier run of this job wrote (it was resumed on this worker), so nothing goes twice."""
        offset = 0
        while True:
            page = self.backend.read_events(self.job_id, offset)
            offset += len(page.batches)
            with self._lock:
                for event in (e for batch in page.batches for e in batch):
                    if event.get("call_id") is not None:
                        self._seen.add((str(event.get("kind")), str(event["call_id"])))
                    if event.get("kind") == "status" and event.get("status") in TERMINAL:
                        self._closed = True
                self._closed = self._closed or page.closed
            if not page.more:
                return

    def flush(self) -> None:
        """Wait until every event emitted so far is written."""
        self._idle.wait()

    def finish(self, status: str, error: str | None = None) -> None:
        """Write the job's settled status after everything emitted, and end the stream (one write if it can)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True  # later emits are dropped: the status is the last event
            batch, self._buffer = self._buffer, []  # what still lingers goes out with the status
        self.flush()  # a batch already being written goes first
        event: dict[str, Any] = {"kind": "status", "status": status}
        if error is not None:
            event["error"] = error
        self._write([*batch, event], close=status in TERMINAL)
