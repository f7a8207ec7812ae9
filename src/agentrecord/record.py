"""The old home of the `AgentRecord` mixin, which now lives in `agentrecord.sqlalchemy.record`.

Applications that imported `agentrecord.record.AgentRecord` (or patched `_overrides`) keep working: the
names here are the same objects.
"""

from __future__ import annotations

from .sqlalchemy.record import AgentRecord, ReplyStream, _overrides

__all__ = ["AgentRecord", "ReplyStream", "_overrides"]
