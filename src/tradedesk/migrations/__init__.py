"""The schema's migrations (Alembic), shipped inside the package so an installed `tradedesk init` works.

`upgrade(url)` brings a database to the newest revision; `status(engine)` tells where it stands.
Developers generate a new revision with `alembic revision --autogenerate -m "..."` from the
repository root (alembic.ini points here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

SCRIPT_LOCATION = str(Path(__file__).resolve().parent)


def config(url: str) -> Config:
    """An Alembic config for `url` running this package's migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolates '%'
    return cfg


def head() -> str:
    """The newest revision this package ships."""
    revision = ScriptDirectory.from_config(config("sqlite://")).get_current_head()
    assert revision is not None, "tradedesk ships no migrations"
    return revision


@dataclass(frozen=True)
class Status:
    """Where a database stands: its revision (None: never migrated) and the package's newest."""

    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def status(engine: Engine) -> Status:
    """The database's current revision against the package's head."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return Status(current, head())


def upgrade(url: str, revision: str = "head") -> Status:
    """Migrate the database at `url` to `revision` (creating every table on an empty database)."""
    command.upgrade(config(url), revision)
    from agentrecord import create_engine

    engine = create_engine(url)
    try:
        return status(engine)
    finally:
        engine.dispose()
