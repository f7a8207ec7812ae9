"""The platform's database: which one (`database_url`), and setting it up: the application's tables by migration,
and the job engine's beside them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tradedesk.migrations import Status


def database_url(explicit: str | None = None) -> str:
    """`--db URL`, else TRADEDESK_DATABASE_URL, else tradedesk.db in the working directory."""
    from tradedesk.brokerage.db import database_url

    return database_url(explicit)


def revision(engine: Engine) -> Status:
    """The database's revision and this tradedesk's head, read without Alembic (one query)."""
    from tradedesk import migrations

    return migrations.status(engine)


def initialize(url: str) -> dict[str, Any]:
    """Create or migrate the database at `url` to this tradedesk's head; says the revision before and after."""
    import agentrecord
    from agentrecord import jobs
    from tradedesk import migrations

    engine = agentrecord.create_engine(url)
    try:
        before = migrations.status(engine).current
    finally:
        engine.dispose()
    after = migrations.upgrade(url)
    jobs.install(url)  # the job engine's tables, beside the application's
    return {"revision": after.current, "previous": before, "changed": before != after.current}
