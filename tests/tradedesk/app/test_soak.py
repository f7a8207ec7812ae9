"""The crash soak (benchmarks/soak.py), short: processes running turns are killed with SIGKILL and restarted,
then every conversation, usage column, order and lease is checked. `make soak` runs the long version
(4 processes x 50 turns on PostgreSQL, 2 x 50 on SQLite); SOAK_TURNS sets the turns per process here.

The processes are forked with their libraries imported (tests/preforked.py): a fresh interpreter spent ~3 s
importing before its first turn, so the short soak was mostly imports and got one or two kills; now a kill
lands every 0.2-0.8 s, mid-turn (`python benchmarks/soak.py` still starts fresh interpreters)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import fresh_pg_database
from tests.preforked import Forked

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from benchmarks import soak

TURNS = int(os.environ.get("SOAK_TURNS", "6"))


def forked(args: list[str], env: dict[str, str], log: Path) -> Forked:
    """A soak process forked with its libraries imported (tests/preforked.py): the kills land mid-turn sooner."""
    return Forked(None, args, env=env, cwd=soak.ROOT, log=str(log), code=soak._CHILD)


def report(figures: dict[str, object]) -> None:
    print(f"\nsoak: {figures}")
    assert figures["problems"] == [], figures
    assert figures["turns_completed"] == figures["turns_target"], figures
    assert figures["messages_checked"] and figures["orders"], figures


@pytest.mark.timeout(900)
def test_soak_on_postgresql_four_processes_killed_and_restarted() -> None:
    with fresh_pg_database("soak") as url:
        figures = soak.run(url, processes=4, turns=TURNS, kill_every=(0.2, 0.8), limit=60.0 + 12 * TURNS, spawn=forked)
    report(figures)
    assert figures["kills"] >= 1, figures


@pytest.mark.timeout(900)
def test_soak_on_sqlite_two_processes_killed_and_restarted(tmp_path: Path) -> None:
    figures = soak.run(
        f"sqlite:///{tmp_path}/soak.db", 2, TURNS, kill_every=(0.2, 0.8), limit=60.0 + 12 * TURNS, spawn=forked
    )
    report(figures)
