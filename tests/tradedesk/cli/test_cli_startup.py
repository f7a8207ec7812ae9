"""The CLI starts at once: loading it, `--help` and `quote` import no heavy library (each in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "pydantic_ai",
    "openai",
    "anthropic",
    "google.genai",
    "groq",
    "mistralai",
    "boto3",
    "alembic",
    "dbos",
    "psycopg",
    "fastapi",
    "uvicorn",
    "jinja2",
    "llama_cpp",
    "numpy",
    "sqlalchemy",
    "opentelemetry",
    "agentrecord.sqlalchemy.record",
    "tradedesk.app.desk",
)
"""What no command should pay for unless it uses it: agents, providers' SDKs, migrations, jobs, web, model, ORM."""

COMMANDS = (
    "init",
    "agents",
    "talk",
    "approvals",
    "approve",
    "deny",
    "portfolio",
    "orders",
    "quote",
    "demo",
    "chart",
    "equity",
    "worker",
    "jobs",
    "job",
    "cancel",
    "serve",
    "cancel-order",
    "replace",
    "halt",
    "resume",
    "budget",
    "usage",
    "backtest",
    "backtests",
    "user",
    "agent",
    "account",
    "schedule",
)

RUN_AND_LIST_MODULES = """
import json, sys
argv = json.loads(sys.argv[1])
if argv is None:
    import tradedesk.cli
else:
    sys.argv = ["tradedesk", *argv]
    from tradedesk.cli import main
    try:
        main()
    except SystemExit as done:
        assert done.code in (None, 0), done.code
sys.stderr.write("\\n" + json.dumps(sorted(sys.modules)))
"""


def modules_after(argv: list[str] | None) -> set[str]:
    """The modules a fresh interpreter holds after importing the CLI (argv None) or running it with `argv`."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stderr.splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return [name for name in HEAVY if name in modules]


def test_importing_the_cli_loads_no_heavy_library() -> None:
    modules = modules_after(None)
    assert "tradedesk.cli" in modules
    assert heavy_in(modules) == []
    assert "rich" not in modules  # Rich is imported by the commands that print tables


def test_help_loads_no_heavy_library_nor_rich() -> None:
    modules = modules_after(["--help"])
    assert heavy_in(modules) == []
    assert "rich" not in modules  # plain help (rich_markup_mode=None): Rich's help imports markdown and tracebacks


def test_quote_uses_the_market_without_the_database_or_the_agents() -> None:
    modules = modules_after(["quote", "AAPL", "--json"])
    assert "tradedesk.market" in modules
    assert heavy_in(modules) == []
    assert "pydantic" not in modules  # Typer's coercion of its str and bool parameters is skipped (cli_common)


def test_a_bad_value_still_gets_typers_own_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tradedesk.cli", "chart", "AAPL", "--bars", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "'--bars': Input should be a valid integer" in done.stderr, done.stderr


def test_a_command_on_an_up_to_date_database_checks_it_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    modules_after(["--db", url, "init"])
    modules = modules_after(["--db", url, "user", "add", "a@example.com"])
    assert "sqlalchemy" in modules and "alembic" not in modules


def test_a_command_on_the_database_still_loads_what_it_needs(tmp_path: Path) -> None:
    """The control: the checks above would pass vacuously if the list of modules were empty or stale."""
    modules = modules_after(["--db", f"sqlite:///{tmp_path}/t.db", "init"])
    assert {"sqlalchemy", "alembic", "tradedesk.migrations"} <= modules


def test_help_lists_every_command_of_every_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tradedesk.cli", "--help"], capture_output=True, text=True, timeout=120, check=True
    )
    rows = done.stdout.split("Commands:")[1].splitlines()
    listed = [row.split()[0] for row in rows if row.startswith("  ") and not row.startswith("   ")]
    assert listed == list(COMMANDS)
