"""The provider key, after a full flow with failures, is nowhere but in the requests it authorized.

A real `tradedesk serve` (worker included, every logger at DEBUG through a sitecustomize) and the CLI run turns
that succeed, use tools, fail with a 401 whose body echoes the key, time out, and run as jobs. Then the key is
looked for in: the database file (and its WAL), the job records, the server's DEBUG log, the CLI's output and
DEBUG log records, tracebacks of the failures, and every web response.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from agentrecord import ProviderError, provider_names
from agentrecord.providers import secret_env_vars
from tests.agentrecord.openai_server import Fault, OpenAIServer, Step, ToolCall
from tests.tradedesk.web.conftest import free_port
from tradedesk.agents.models import Daytrader
from tradedesk.cli import app

ROOT = Path(__file__).resolve().parents[3]
TRADEDESK = Path(sys.executable).with_name("tradedesk")
KEY = "sk-scan-" + secrets.token_hex(12)
TAIL = KEY[-10:]  # a fragment, in case something truncates or masks the front


def model(body: dict[str, Any]) -> Step:
    said = [m.get("content") for m in body.get("messages", []) if m.get("role") == "user"]
    last = str(said[-1] if said else "")
    if body["messages"][-1].get("role") == "tool":
        return "AAPL is at 190."
    if last == "quote":
        return ToolCall("quote_feed", {"symbol": "AAPL"})
    if last == "refuse":
        return Fault("status", 401, echo_key=True)
    if last == "hang":
        return Fault("hang")
    return "Fine."


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    for name in provider_names():
        for var in secret_env_vars(name):
            env.pop(var, None)
    env.pop("TRADEDESK_DATABASE_URL", None)
    env.update(extra)
    return env


def assert_clean(where: str, content: str | bytes) -> None:
    blob = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
    assert KEY.encode() not in blob and TAIL.encode() not in blob, f"the provider key leaked into {where}"


@pytest.mark.timeout(240)
def test_the_key_is_in_no_database_log_traceback_output_response_or_job_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import logging\nlogging.basicConfig(level=logging.DEBUG)\n")
    url = f"sqlite:///{tmp_path}/scan.db"
    responses: list[str] = []
    with OpenAIServer(model) as server:
        env = clean_env(
            {
                "OPENAI_SECRET": KEY,
                "OPENAI_BASE_URL": server.base_url,
                "AGENTRECORD_REQUEST_TIMEOUT": "1",
                "AGENTRECORD_REQUEST_RETRIES": "0",
                "PYTHONPATH": f"{site}{os.pathsep}{ROOT}",
                "TRADEDESK_EXCHANGE_HOURS": "always",
            }
        )
        subprocess.run([str(TRADEDESK), "--db", url, "init"], env=env, check=True, capture_output=True, cwd=ROOT)
        port = free_port()
        log = tmp_path / "serve.log"
        with open(log, "wb") as out:
            serve = subprocess.Popen(
                [str(TRADEDESK), "--db", url, "serve", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and serve.poll() is None, log.read_text()
                time.sleep(0.1)
            with httpx.Client(base_url=base, timeout=60) as web:
                signed = web.post("/api/signup", json={"email": "scan@example.com", "password": "correct horse"})
                web.headers["Authorization"] = f"Bearer {signed.json()['token']}"
                made = web.post("/api/agents", json={"kind": "daytrader", "provider": "openai"})
                path = f"/api/agents/daytrader/{made.json()['id']}"
                for prompt in ("quote", "refuse", "hang", "hello"):
                    answer = web.post(f"{path}/messages", json={"prompt": prompt})
                    responses.append(answer.text)
                streamed = web.post(
                    f"{path}/messages", json={"prompt": "quote"}, headers={"Accept": "text/event-stream"}
                )
                responses.append(streamed.text)
                for page in (path, f"{path}/messages", "/api/agents", "/api/orders", "/api/approvals"):
                    responses.append(web.get(page).text)
                assert '"AAPL is at 190."' in responses[0] and "HTTP 401" in responses[1], responses[:2]
        finally:
            serve.terminate()
            serve.wait(30)
        # the CLI, in process, at DEBUG
        for name, value in env.items():
            if name.startswith(("OPENAI_", "AGENTRECORD_", "TRADEDESK_")):
                monkeypatch.setenv(name, value)
        caplog.set_level(logging.DEBUG)
        runner = CliRunner()
        outputs = []
        for args in (
            ("talk", "scan@example.com", "daytrader", "refuse"),
            ("talk", "scan@example.com", "daytrader", "quote", "--json"),
            ("agents", "scan@example.com", "--json"),
            ("jobs", "scan@example.com", "--json"),
            ("orders", "scan@example.com"),
        ):
            result = runner.invoke(app, ["--db", url, *args])
            outputs.append(result.stdout + result.stderr)
        assert "HTTP 401" in outputs[0] and "AAPL is at 190." in outputs[1], outputs[:2]
        # the library: a failure's whole traceback, causes and contexts included
        engine = create_engine(url)
        with Session(engine) as session:
            trader = session.scalars(select(Daytrader)).one()
            with pytest.raises(ProviderError) as caught:
                trader.talk("refuse")
            tracebacks = "".join(traceback.format_exception(caught.value))
    # the key was really in use: every request carried it
    assert server.authorizations and all(a == f"Bearer {KEY}" for a in server.authorizations)
    assert len(server.requests) >= 8
    jobs_seen = 0
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            jobs_seen += len(rows) if table == "workflow_status" else 0
            assert_clean(f"table {table}", repr(rows))
    engine.dispose()
    assert jobs_seen >= 5  # the web's turns ran as jobs, and their records were read
    for file in tmp_path.glob("scan.db*"):
        assert_clean(file.name, file.read_bytes())
    server_log = log.read_text(errors="replace")
    assert "DEBUG" in server_log  # the server really logged at DEBUG
    assert_clean("the server's DEBUG log", server_log)
    assert_clean("the CLI's output", "\n".join(outputs))
    assert_clean("log records at DEBUG", "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records))
    assert_clean("a failure's traceback", tracebacks)
    assert_clean("web responses", "\n".join(responses))
