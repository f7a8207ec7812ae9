"""The web app served in-process for tests (`Served`) stays quiet: a client hanging up mid-request, or sending
garbage, prints nothing to the process's stderr (which a test may be reading); uvicorn's records go to logging."""

from __future__ import annotations

import logging
import socket
import struct

import httpx
import pytest

from .conftest import Served


def hang_up(base: str, sent: bytes) -> None:
    """Send `sent` and close with an RST, as a killed process or a timed-out client does."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(sent)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_client_hanging_up_mid_request_leaves_stderr_clean(
    web_db: str, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"email": "ann@example.com", "password": "correct horse"}'
    with Served(web_db) as served:  # started while stderr is captured, as a test reading stderr would have it
        live = served.base
        hang_up(live, b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nAcce")
        hang_up(live, b"POST /api/signup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 900\r\n\r\n" + body)
        hang_up(live, b"NOT HTTP AT ALL\r\n\r\n")
        assert httpx.get(f"{live}/login", timeout=10).status_code == 200  # still serving
    assert capfd.readouterr() == ("", "")
    assert any(r.name.startswith("uvicorn") and r.levelno == logging.WARNING for r in caplog.records)
