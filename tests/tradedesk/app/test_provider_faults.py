"""A misbehaving provider as the platform's users meet it: the CLI prints one line and exits 1, the web API
answers JSON `{error}` with 502 or 504, and the agent's next turn works. Real processes, real HTTP on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from agentrecord import provider_names
from agentrecord.providers import secret_env_vars
from tests.agentrecord.openai_server import Fault, OpenAIServer, Step
from tests.tradedesk.web.real_platform import platform
from tradedesk.cli import app

ROOT = Path(__file__).resolve().parents[3]
TRADEDESK = Path(sys.executable).with_name("tradedesk")
KEY = "sk-test-faults-0123456789"
runner = CliRunner()


def by_prompt(body: dict[str, Any]) -> Step:
    """The model misbehaves as the latest user message asks: `fail 500`, `hang`, `garbage`, `reset`; else answers."""
    said = [m.get("content") for m in body.get("messages", []) if m.get("role") == "user"]
    last = str(said[-1] if said else "")
    if last.startswith("fail "):
        return Fault("status", int(last.split()[1]), echo_key=True)
    return {"hang": Fault("hang"), "garbage": Fault("not_json"), "reset": Fault("reset")}.get(last, "All good.")


def cli_env(server: OpenAIServer) -> dict[str, str]:
    env = dict(os.environ)
    for name in provider_names():
        for var in secret_env_vars(name):
            env.pop(var, None)
    env.update(
        OPENAI_SECRET=KEY,
        OPENAI_BASE_URL=server.base_url,
        AGENTRECORD_REQUEST_TIMEOUT="1",
        AGENTRECORD_REQUEST_RETRIES="1",
        PYTHONPATH=str(ROOT),
    )
    return env


def tradedesk(env: dict[str, str], url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRADEDESK), "--db", url, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_cli_reports_each_provider_fault_in_one_line_and_the_next_turn_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIServer(by_prompt) as server:
        env = cli_env(server)
        for name, value in env.items():
            if name.startswith(("OPENAI_", "AGENTRECORD_")):
                monkeypatch.setenv(name, value)
        url = f"sqlite:///{tmp_path}/cli.db"
        for args in (("init",), ("user", "add", "ann@example.com"), ("agent", "add", "ann@example.com", "daytrader")):
            assert runner.invoke(app, ["--db", url, *args]).exit_code == 0
        expected = {
            "fail 500": "HTTP 500 after 2 attempt(s)",
            "fail 401": "HTTP 401",
            "garbage": "could not be used",
            "reset": "could not be reached",
        }
        for prompt, says in expected.items():
            done = runner.invoke(app, ["--db", url, "talk", "ann@example.com", "daytrader", prompt])
            assert done.exit_code == 1, (prompt, done.stdout, done.stderr, done.exception)
            assert done.stderr.startswith("Error: Provider 'openai'") and done.stderr.count("\n") == 1, done.stderr
            assert says in done.stderr, done.stderr
            assert KEY not in done.stderr + done.stdout
        # the console script, as a real process: a hung provider is one line and exit 1 after the deadline
        start = time.monotonic()
        hung = tradedesk(env, url, "talk", "ann@example.com", "daytrader", "hang")
        assert hung.returncode == 1, (hung.stdout, hung.stderr)
        assert hung.stderr.startswith("Error: Provider 'openai'") and hung.stderr.count("\n") == 1, hung.stderr
        assert "did not answer within 1s" in hung.stderr and "Traceback" not in hung.stderr + hung.stdout
        assert time.monotonic() - start < 30
        ok = runner.invoke(app, ["--db", url, "talk", "ann@example.com", "daytrader", "hello"])
        assert ok.exit_code == 0 and "All good." in ok.stdout, ok.stderr


@pytest.mark.timeout(180)
def test_the_web_api_answers_502_or_504_with_one_json_line() -> None:
    extra = {"AGENTRECORD_REQUEST_TIMEOUT": "1", "AGENTRECORD_REQUEST_RETRIES": "1"}
    with platform(by_prompt, env=extra) as live:
        with httpx.Client(base_url=live.base, timeout=60) as client:
            token = client.post("/api/signup", json={"email": "web@example.com", "password": "correct horse"})
            client.headers["Authorization"] = f"Bearer {token.json()['token']}"
            made = client.post("/api/agents", json={"kind": "daytrader", "provider": "openai"})
            assert made.status_code == 201, made.text
            path = f"/api/agents/daytrader/{made.json()['id']}/messages"
            for prompt, status in [("fail 503", 502), ("garbage", 502), ("hang", 504), ("fail 400", 502)]:
                answer = client.post(path, json={"prompt": prompt})
                assert answer.status_code == status, (prompt, answer.text)
                doc = answer.json()
                assert list(doc) == ["error"] and "Provider 'openai'" in doc["error"], doc
                assert "\n" not in doc["error"] and "Traceback" not in doc["error"]
                assert "sk-test-local" not in answer.text
                again = client.post(path, json={"prompt": "hello"})
                assert again.status_code == 200 and again.json()["reply"] == "All good.", again.text
        assert "sk-test-local" not in live.log  # not even in the worker's log of the failed jobs
