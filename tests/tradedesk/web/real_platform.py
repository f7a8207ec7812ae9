"""The whole platform as a user meets it: `tradedesk serve` (with its in-process worker) as a real process
on a loopback port, a scripted model behind it, and Debian's Chromium driven by Playwright.

Used by the browser tests and by the screenshot script (`make screenshots`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from agentrecord import provider_names
from agentrecord.providers import secret_env_vars
from tests.agentrecord.openai_server import OpenAIServer, Responder

from ..template_db import initialized
from .conftest import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

ROOT = Path(__file__).resolve().parents[3]
TRADEDESK = Path(sys.executable).with_name("tradedesk")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SESSION_OPEN = "2026-03-02T10:00:00-05:00"
"""A Monday at 10:00 in New York: the simulated market is inside a NYSE session."""


def chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium (headless), not a Playwright download."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


class Platform:
    """A running `tradedesk serve` on a fresh SQLite file; `base` is its URL, `log` its stderr so far."""

    def __init__(self, workdir: Path, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.workdir = workdir
        self.port = port
        self.proc = proc
        self._log = log

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return self._log.read_text(errors="replace")


def _env(model_url: str, clock_speed: float, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    for name in provider_names():
        for var in secret_env_vars(name):
            env.pop(var, None)
    env.pop("TRADEDESK_DATABASE_URL", None)
    env.update(
        OPENAI_SECRET="sk-test-local",
        OPENAI_BASE_URL=model_url,
        TRADEDESK_CLOCK_START=SESSION_OPEN,
        TRADEDESK_CLOCK_ANCHOR=str(time.time()),
        TRADEDESK_CLOCK_SPEED=str(clock_speed),
        TRADEDESK_EXCHANGE_HOURS="nyse",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),  # this checkout's code, not an installed copy
    )
    env.update(extra)
    return env


@contextmanager
def platform(
    model: Responder, *, chunk_delay: float = 0.0, clock_speed: float = 60.0, env: dict[str, str] | None = None
) -> Iterator[Platform]:
    """`tradedesk serve` on a fresh, initialized database, its model the scripted `model` (streamed in chunks
    of 4 characters, `chunk_delay` seconds apart). The market clock starts at 10:00 New York on a Monday and
    runs `clock_speed` times real time (60: a real second is a market minute, so equity snapshots, at most
    one a market minute, come seconds apart). `env` adds to the server's environment."""
    workdir = Path(tempfile.mkdtemp(prefix="tradedesk-web-"))
    try:
        with OpenAIServer(model, keep_requests=False, chunk_delay=chunk_delay) as server:
            child = _env(server.base_url, clock_speed, env or {})
            url = f"sqlite:///{workdir}/platform.db"
            initialized(url)  # as `tradedesk init` leaves it, copied from a template
            port = free_port()
            log = workdir / "serve.log"
            with open(log, "wb") as err:
                proc = subprocess.Popen(
                    [str(TRADEDESK), "--db", url, "serve", "--port", str(port)],
                    cwd=ROOT,
                    env=child,
                    stdout=err,
                    stderr=subprocess.STDOUT,
                )
            running = Platform(workdir, port, proc, log)
            try:
                _wait_until_up(running)
                yield running
            finally:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_until_up(running: Platform, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.proc.poll() is not None:
            raise RuntimeError(f"tradedesk serve exited with {running.proc.returncode}:\n{running.log}")
        try:
            if httpx.get(f"{running.base}/login", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"tradedesk serve did not answer within {timeout:.0f} s:\n{running.log}")
