"""The old home of `create_engine`, which now lives in `agentrecord.sqlalchemy.engine`."""

from __future__ import annotations

from .sqlalchemy.engine import create_engine

__all__ = ["create_engine"]
