"""Fixtures for the web tests: an initialized database, the app served over real HTTP on loopback, the whole
platform (app, worker, model servers), signed-in clients."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import uvicorn

from tests.tradedesk.template_db import initialized
from tradedesk.web import create_app

if TYPE_CHECKING:
    from .world import Platform

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def web_db(tmp_path: Path) -> str:
    """A fresh, initialized SQLite file."""
    return initialized(f"sqlite:///{tmp_path}/web.db")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    """The web app served by uvicorn in a background thread (no worker: jobs stay queued unless one runs)."""

    def __init__(self, url: str) -> None:
        self.port = free_port()
        # log_config=None: uvicorn's records go to the logging tree (pytest keeps them with the test) instead of a
        # handler of its own on the stderr of the moment, which a test capturing stderr would read.
        config = uvicorn.Config(create_app(url), host="127.0.0.1", port=self.port, log_level="warning", log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web app did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live(web_db: str) -> Iterator[str]:
    """The base URL of the app on `web_db`, over real HTTP on 127.0.0.1."""
    with Served(web_db) as served:
        yield served.base


@pytest.fixture
def web(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Platform]:
    """The whole platform (`world.platform`: served app, worker process, model servers) on a fresh SQLite file,
    its model the requesting module's `model`."""
    from .world import platform  # world.py imports this module

    with platform(tmp_path, request.module.model) as running:
        yield running


class Browserish(httpx.Client):
    """An HTTP client that keeps cookies like a browser and knows its session's CSRF token."""

    csrf: str = ""

    def page(self, path: str) -> httpx.Response:
        """GET a page and remember the CSRF token in it."""
        response = self.get(path)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def form(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        """POST a form with the CSRF token, as the page's form does."""
        return self.post(path, data={"csrf_token": self.csrf, **(data or {})})


def browser(base: str) -> Browserish:
    return Browserish(base_url=base, follow_redirects=True, timeout=30)


def signed_up(base: str, email: str, password: str = "correct horse") -> Browserish:
    """A client signed up (and so signed in) through the pages."""
    client = browser(base)
    client.page("/signup")
    response = client.form("/signup", {"email": email, "password": password})
    assert response.status_code == 200 and str(response.url).endswith("/"), response.text[:300]
    client.page("/")
    return client


def api_token(base: str, email: str, password: str = "correct horse") -> str:
    """An API token for a new account made through `POST /api/signup`."""
    response = httpx.post(f"{base}/api/signup", json={"email": email, "password": password}, timeout=30)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token
