"""An initialized tradedesk database for a test, as `tradedesk init` leaves it (migrated to the newest revision,
with the job tables), without running the migrations for every test: a new SQLite file is a copy of one template
that each test process initializes once. The migrations themselves are tested in tests/tradedesk/test_migrations.py
and `tradedesk init` in tests/tradedesk/cli/test_cli.py."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

from agentrecord import jobs
from tradedesk import migrations

_lock = threading.Lock()
_template: Path | None = None


def _initialize(url: str) -> str:
    migrations.upgrade(url)
    jobs.install(url)
    return url


def template() -> Path:
    """This process's initialized SQLite file (built on first use, removed at exit)."""
    global _template
    with _lock:
        if _template is None:
            folder = Path(tempfile.mkdtemp(prefix="tradedesk-template-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            built = folder / "template.db"
            _initialize(f"sqlite:///{built}")
            stray = [p.name for p in folder.iterdir() if p != built]
            assert not stray, f"the template left {stray} beside it: copying the file alone would lose them"
            _template = built
        return _template


def initialized(url: str) -> str:
    """`url` migrated to the newest schema with the job tables. A SQLite file that does not exist yet becomes a
    copy of the template; any other database (PostgreSQL, an existing file) is migrated in place."""
    path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") and "?" not in url else None
    if path is None or path.exists() or str(path) == ":memory:":
        return _initialize(url)
    shutil.copyfile(template(), path)
    return url
