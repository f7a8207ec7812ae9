"""Fixtures for the brokerage tests: the tradedesk schema on a real database, a manual clock, a broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

import agentrecord
from tests.factories import frozen_market as _frozen_market
from tradedesk.brokerage.broker import Broker
from tradedesk.brokerage.db import Base
from tradedesk.market import ManualClock, SimulatedMarket

from .brokerage import T0


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    """The tradedesk schema on a fresh SQLite file, or in a fresh schema of the session's PostgreSQL database."""
    if not db_url.startswith("postgresql"):
        engine = agentrecord.create_engine(db_url)
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    schema = f"td_{uuid.uuid4().hex[:10]}"
    engine = agentrecord.create_engine(db_url, connect_args={"options": f"-csearch_path={schema}"})
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()
    with agentrecord.create_engine(db_url).begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def broker(clock: ManualClock) -> Broker:
    return Broker(SimulatedMarket(seed=11, clock=clock))


@pytest.fixture
def frozen_market() -> Iterator[None]:
    """The platform's market stopped at `tests.factories.NOW` for the test (modules ask with `usefixtures`)."""
    with _frozen_market():
        yield
