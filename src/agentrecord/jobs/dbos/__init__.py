"""The DBOS Transact backend of agentrecord's jobs: client operations, workflows, workers, the fleet.

Importing this package registers it as the `dbos` job engine; DBOS itself is imported when a
backend is first built for a database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..backend import register_backend

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ..backend import Backend


def _backend(engine: Engine) -> Backend:
    """The DBOS backend on `engine`'s database."""
    from .client import DBOSBackend  # DBOS's client, imported when jobs are first used

    return DBOSBackend(engine)


register_backend("dbos", _backend)
