"""A job's event stream on DBOS's durable streams: appended to by its worker, read from any process.

Each stream value is one batch of events (JSON). DBOS's workflow-level `write_stream` is replayed by
position when a workflow is recovered (the n-th write of the re-run is skipped if the first run made
an n-th write), but a recovered job's turn continues where it stopped rather than replaying, so its
writes differ from the first run's. Writes therefore append at the next free offset, as DBOS does
for writes from a step, and the job's `Emitter` skips what the first run had written already.
"""

from __future__ import annotations

from typing import Any

from dbos._serialization import DBOSPortableJSON, WorkflowSerializationFormat, deserialize_value, serialize_value
from dbos._sys_db import (
    SystemDatabase,
    _dbos_streams_channel,
    _serialized_stream_closed_sentinel,
    is_serialized_stream_closed_sentinel,
)

from ..backend import EventPage

KEY = "agentrecord.events"
_PAGE = 100


def append(sys_db: SystemDatabase, job_id: str, batch: list[dict[str, Any]], *, close: bool) -> None:
    """Append one batch of events to the job's stream, and with `close` DBOS's end marker, in one transaction."""
    values = []
    if batch:
        values.append(serialize_value(batch, WorkflowSerializationFormat.PORTABLE, sys_db.serializer))
    if close:
        values.append((_serialized_stream_closed_sentinel, DBOSPortableJSON.name()))
    with sys_db.engine.begin() as conn:
        for value, serialization in values:  # each at the next free offset (DBOS's own statement)
            conn.execute(sys_db._stream_insert_stmt(job_id, 0, KEY, value, serialization))
    sys_db._signal_notification(_dbos_streams_channel, f"{job_id}::{KEY}")


def read(sys_db: SystemDatabase, job_id: str, offset: int) -> EventPage:
    """The batches written from `offset` on (up to a page), with the job's status in the same snapshot."""
    status, values = sys_db.read_stream_values(job_id, KEY, offset, _PAGE)
    batches: list[list[dict[str, Any]]] = []
    for value, serialization in values:
        if is_serialized_stream_closed_sentinel(value, serialization):
            return EventPage(status, batches, closed=True)
        batch = deserialize_value(value, serialization, sys_db.serializer)
        batches.append(list(batch) if isinstance(batch, list) else [])
    return EventPage(status, batches, closed=False, more=len(values) == _PAGE)
