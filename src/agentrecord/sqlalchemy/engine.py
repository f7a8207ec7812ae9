"""`create_engine`: SQLAlchemy's, with the SQLite settings a database of agents wants."""

from __future__ import annotations

from typing import Any

import sqlalchemy
from sqlalchemy import Engine, event


def create_engine(url: str | sqlalchemy.URL, **kwargs: Any) -> Engine:
    """Create an engine; on a SQLite file, turn on WAL, synchronous=NORMAL, foreign keys and a busy timeout.

    WAL lets readers and the turn's short writes proceed together, and synchronous=NORMAL avoids an
    fsync per commit (a turn commits two or three times), which halves the persist time.
    """
    engine = sqlalchemy.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    return engine
