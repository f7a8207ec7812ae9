"""The old home of the message store: `agentrecord.store.Store`, `message_table`, ... still import from here.

The store is SQLAlchemy's and lives in `agentrecord.sqlalchemy.store`; the benchmarks and tradedesk's tests
import the old path.
"""

from __future__ import annotations

from .sqlalchemy.store import (
    HOST,
    STATE_VERSION,
    Lease,
    State,
    Store,
    Totals,
    dump_message,
    load_message,
    message_table,
    new_owner,
    process_gone,
    utcnow,
    window,
)

__all__ = [
    "HOST",
    "STATE_VERSION",
    "Lease",
    "State",
    "Store",
    "Totals",
    "dump_message",
    "load_message",
    "message_table",
    "new_owner",
    "process_gone",
    "utcnow",
    "window",
]
