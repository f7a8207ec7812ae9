"""`tradedesk --trace console|otlp`: a turn's spans exported from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentrecord import provider_names, tracing
from agentrecord.providers import secret_env_vars
from agentrecord.testing import ScriptedModel, scripted
from tradedesk.agents.models import Daytrader
from tradedesk.cli import app

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database where alice has a day trader (on the embedded model: no provider secret is set)."""
    for name in provider_names():
        for var in secret_env_vars(name):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(tracing, "_config", tracing._Config())  # whatever a test turns on is undone after it
    db = f"sqlite:///{tmp_path}/trace.db"
    for args in (["init"], ["user", "add", "alice@example.com"], ["agent", "add", "alice@example.com", "daytrader"]):
        assert runner.invoke(app, ["--db", db, *args]).exit_code == 0
    return db


def test_trace_console_prints_the_turns_span_on_stderr(url: str) -> None:
    with scripted(Daytrader, ScriptedModel(["Nothing to do today."])):
        result = runner.invoke(app, ["--db", url, "--trace", "console", "talk", "alice@example.com", "daytrader", "hi"])
    assert result.exit_code == 0, result.stderr
    assert "Nothing to do today." in result.stdout and '"name"' not in result.stdout
    names = [json.loads(chunk)["name"] for chunk in _spans(result.stderr)]
    assert "agentrecord.turn Daytrader" in names and "invoke_agent Daytrader" in names
    assert not tracing.enabled()  # the command's tracing ended with it


def test_trace_refuses_an_unknown_exporter_in_one_line(url: str) -> None:
    result = runner.invoke(app, ["--db", url, "--trace", "jaeger", "agents", "alice@example.com"])
    assert result.exit_code == 1
    assert result.stderr == "Error: --trace must be one of otlp, console (got 'jaeger').\n"


def _spans(text: str) -> list[str]:
    """The JSON documents ConsoleSpanExporter wrote, one per span."""
    found, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth, start = depth + 1, i if depth == 0 else start
        elif ch == "}":
            depth -= 1
            if depth == 0:
                found.append(text[start : i + 1])
    return found
