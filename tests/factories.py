"""Objects many tests build the same way, built in one place: the frozen market and its instant, a SQLite file
with a test's tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine, MetaData

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
"""A Wednesday, 10:00 in New York: the exchange is open."""


@contextmanager
def frozen_market(seed: int = 7) -> Iterator[None]:
    """The platform's market, a simulation stopped at NOW, for the block; the default market again after it."""
    from tradedesk.brokerage import services
    from tradedesk.market import SimulatedMarket

    services.use_market(SimulatedMarket(seed=seed, clock=lambda: NOW))
    try:
        yield
    finally:
        services.use_market(None)


def sqlite_engine(directory: Path, tables: MetaData, name: str = "agents") -> Engine:
    """An engine on a new SQLite file, `directory/name.db` (the directory made if need be), with `tables` created.
    The caller disposes of it."""
    from agentrecord import create_engine

    directory.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{directory}/{name}.db")
    tables.create_all(engine)
    return engine
