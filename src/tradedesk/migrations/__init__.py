"""The schema's migrations (Alembic), shipped inside the package so an installed `tradedesk init` works.

`upgrade(url)` brings a database to the newest revision; `status(engine)` tells where it stands without
importing Alembic (every CLI command checks it first: Alembic and its dialects cost ~0.2 s to import).
Developers generate a new revision with `alembic revision --autogenerate -m "..."` from the
repository root (alembic.ini points here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = str(Path(__file__).resolve().parent)
HEAD = "0012"
"""The newest revision shipped, so checking a database needs no Alembic (a test holds it equal to `head()`)."""


def config(url: str) -> Config:
    """An Alembic config for `url` running this package's migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolates '%'
    return cfg


def head() -> str:
    """The newest revision this package ships, as Alembic reads it from the version scripts."""
    from alembic.script import ScriptDirectory

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
        if not inspect(conn).has_table("alembic_version"):
            return Status(None, HEAD)
        versions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(versions) > 1:  # branches: never made by this package's linear history
        from alembic.runtime.migration import MigrationContext

        with engine.connect() as conn:
            MigrationContext.configure(conn).get_current_revision()  # raises, naming the heads
    return Status(versions[0] if versions else None, HEAD)


def upgrade(url: str, revision: str = "head") -> Status:
    """Migrate the database at `url` to `revision` (creating every table on an empty database)."""
    from alembic import command

    command.upgrade(config(url), revision)
    from agentrecord import create_engine

    engine = create_engine(url)
    try:
        return status(engine)
    finally:
        engine.dispose()
