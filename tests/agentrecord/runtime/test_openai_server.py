"""The OpenAI-compatible test server stays quiet when a client hangs up: nothing reaches the process's stderr,
which a test may be reading (a CLI's one-line error); the hang-up is counted instead, and the server's own
failures are raised when it stops."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.agentrecord.openai_server import OpenAIServer

REQUEST = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
STREAMED = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()


def reset(sock: socket.socket) -> None:
    """Hang up abruptly: close with an RST, as a killed process or a timed-out client does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def head(body: bytes, length: int | None = None) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body) if length is None else length}\r\n\r\n".encode()
    )


def mid_headers(sock: socket.socket) -> None:
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")


def mid_body(sock: socket.socket) -> None:
    sock.sendall(head(REQUEST, length=len(REQUEST) + 500) + REQUEST)


def mid_stream(sock: socket.socket) -> None:
    sock.sendall(head(STREAMED) + STREAMED)
    assert sock.recv(64).startswith(b"HTTP/1.1 200")


def between_requests(sock: socket.socket) -> None:
    sock.sendall(head(REQUEST) + REQUEST)
    answer = b""
    while b'"usage"' not in answer:
        answer += sock.recv(65536)


@pytest.mark.parametrize("hang_up", [mid_headers, mid_body, mid_stream, between_requests])
def test_a_client_hanging_up_mid_request_leaves_stderr_clean(
    capfd: pytest.CaptureFixture[str], hang_up: Callable[[socket.socket], None]
) -> None:
    script = ["A long streamed answer, sent four characters at a time, slowly enough to be cut off. " * 20] * 2
    with OpenAIServer(script, chunk_delay=0.01) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            hang_up(sock)
            time.sleep(0.05)  # the server thread is now waiting on the connection
            reset(sock)
        deadline = time.monotonic() + 10
        while server.hangups < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.hangups == 1 and server.errors == []
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_the_servers_own_failure_is_raised_when_it_stops_and_never_printed(capfd: pytest.CaptureFixture[str]) -> None:
    def broken(body: dict[str, Any]) -> str:
        raise RuntimeError("the responder is broken")

    server = OpenAIServer(broken).start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head(REQUEST) + REQUEST)
        assert sock.recv(64) == b""  # the request thread died without answering
    with pytest.raises(AssertionError, match="the responder is broken"):
        server.stop()
    assert capfd.readouterr() == ("", "")
