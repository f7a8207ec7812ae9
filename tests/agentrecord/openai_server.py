"""A small, real OpenAI-compatible chat completions server for tests, on 127.0.0.1 in a background thread.

It plays the model from a script (text replies and tool calls), speaks HTTP/1.1 with keep-alive (plain
responses carry Content-Length, streams use chunked transfer encoding), records every request body and
Authorization header, and counts the TCP connections it accepted. It never prints: a client hanging up is
counted in `hangups`, and the server's own failures are raised when it stops.

    with OpenAIServer(["Hello.", ToolCall("quote_feed", {"symbol": "AAPL"}), "AAPL is at 190."]) as server:
        os.environ["OPENAI_BASE_URL"] = server.base_url
        ...
        assert server.connections == 1
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest


@dataclass(frozen=True)
class Text:
    """A text reply; the usage numbers override the server's defaults for this response. `reasoning` goes
    out as the message's `reasoning_content` (as DeepSeek-style reasoning models send it; plain responses only)."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning: str | None = None
    cached_tokens: int | None = None
    """Of the prompt tokens, how many the provider read from its cache (`prompt_tokens_details.cached_tokens`)."""


@dataclass(frozen=True)
class ToolCall:
    """A reply asking for one tool call."""

    name: str
    arguments: dict[str, Any]
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Fault:
    """A misbehaving response, for fault-injection tests. `kind`:

    - `status`: HTTP `status` with a JSON error body (and `Retry-After: retry_after` when given); `echo_key` puts the
      request's Authorization header in the error message, as careless servers do
    - `reset`: the connection is reset (RST) before any response
    - `not_json`: 200 with an HTML body (streamed requests too)
    - `cut`: a streamed response cut halfway (the connection closes without the stream's end)
    - `hang`: the request is accepted and never answered (until the server stops)
    - `drip`: a 200 whose body arrives one byte every `interval` seconds, never finishing within `duration`
    """

    kind: str
    status: int = 500
    retry_after: float | None = None
    interval: float = 0.2
    duration: float = 30.0
    echo_key: bool = False


Step = str | Text | ToolCall | Fault
Responder = Callable[[dict[str, Any]], Step]
"""Decides each response from the request body, for servers that answer indefinitely (benchmarks)."""


def _chunks_of(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _send_json(self, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "keep-alive")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self) -> None:
        self._send_json(404, {"error": {"message": f"no route GET {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:  # the client hung up before its body was sent (a killed worker)
            with self.server.owner._lock:
                self.server.owner.hangups += 1
            self.close_connection = True
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route POST {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        owner = self.server.owner
        step = owner._record(body, self.headers.get("Authorization"), raw)
        if owner.delay:
            time.sleep(owner.delay)
        if step is None:
            self._send_json(
                500, {"error": {"message": "the test server's script is exhausted", "type": "server_error"}}
            )
            return
        model = str(body.get("model") or "test-model")
        if isinstance(step, Fault):
            self._fault(owner, step, model, body)
            return
        if body.get("stream"):
            self._stream(owner, step, model, body)
        else:
            self._send_json(200, owner._completion(step, model))

    def _fault(self, owner: OpenAIServer, fault: Fault, model: str, body: dict[str, Any]) -> None:
        if fault.kind == "status":
            message = f"injected failure {fault.status}"
            if fault.echo_key:
                message += f" (you sent {self.headers.get('Authorization')})"
            body_bytes = json.dumps({"error": {"message": message, "type": "server_error"}}).encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body_bytes)))
            if fault.retry_after is not None:
                self.send_header("Retry-After", f"{fault.retry_after:g}")
            self.end_headers()
            self.wfile.write(body_bytes)
            self.wfile.flush()
        elif fault.kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        elif fault.kind == "not_json":
            page = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream" if body.get("stream") else "application/json")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            self.wfile.flush()
        elif fault.kind == "cut":
            events = owner._stream_events("This answer is cut off halfway through, never finished.", model, True)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in events[: len(events) // 2]:
                data = f"data: {event}\n\n".encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif fault.kind == "hang":
            owner._stopping.wait(fault.duration)
            self.close_connection = True
        elif fault.kind == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            deadline = time.monotonic() + fault.duration
            with contextlib.suppress(OSError):
                while time.monotonic() < deadline and not owner._stopping.is_set():
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    owner._stopping.wait(fault.interval)
            self.close_connection = True
        else:  # pragma: no cover - a typo in a test
            raise ValueError(f"unknown fault {fault.kind!r}")

    def _stream(self, owner: OpenAIServer, step: Step, model: str, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "keep-alive")
        self.end_headers()
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        for event in owner._stream_events(step, model, include_usage):
            data = f"data: {event}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            if owner.chunk_delay:
                time.sleep(owner.chunk_delay)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the default backlog of 5 drops a burst's connections (each retried after 1 s)
    owner: OpenAIServer

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with self.owner._lock:
            self.owner.connections += 1
            self.owner._sockets.append(conn)
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Never print from a request thread: a test capturing stderr (a CLI's one line) would read it.

        A client that hangs up (reset, broken pipe) or goes silent is counted in `hangups`; anything else is the
        server's own bug, kept in `errors` and raised when the server stops."""
        error = sys.exc_info()[1]
        with self.owner._lock:
            if isinstance(error, ConnectionError | TimeoutError):
                self.owner.hangups += 1
            else:
                self.owner.errors.append("".join(traceback.format_exception(error)))


class OpenAIServer:
    """A scripted OpenAI-compatible server: each POST /v1/chat/completions consumes the next step of `script`.

    `script` is a list of steps, or a function choosing each step from the request body (it never runs out).
    `connections` counts accepted TCP connections; `requests` holds every request body (parsed JSON) unless
    `keep_requests` is False;
    `authorizations` the Authorization header of each request. `prompt_tokens`/`completion_tokens` are
    the usage reported for each response unless a `Text`/`ToolCall` step overrides them.
    """

    def __init__(
        self,
        script: list[Step] | Responder | None = None,
        *,
        prompt_tokens: int = 11,
        completion_tokens: int = 7,
        chunk_size: int = 4,
        chunk_delay: float = 0.0,
        keep_requests: bool = True,
        delay: float = 0.0,
    ) -> None:
        self.responder: Responder | None = script if callable(script) else None
        self.script: list[Step] = [] if callable(script) else list(script or [])
        self.keep_requests = keep_requests
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.chunk_size = chunk_size
        self.chunk_delay = chunk_delay
        self.delay = delay
        """Seconds each response is held before it is sent (a slow model; time to land a kill)."""
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.raw_requests: list[bytes] = []
        """The request bodies as sent (bytes), beside their parsed `requests`."""
        self.authorizations: list[str | None] = []
        self.usages: list[tuple[int, int]] = []
        """(prompt_tokens, completion_tokens) reported for each served response, in order."""
        self.hangups = 0
        """Requests cut short because the client hung up (connection reset, broken pipe) or went silent."""
        self.errors: list[str] = []
        """Tracebacks of the server's own failures while answering (raised by `stop`, never printed)."""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._served = 0
        self._calls = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> OpenAIServer:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        # Polling every 20 ms, not 500: `stop` waits for the loop to notice, and every test using a server pays it.
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.02,), name="openai-test-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # hanging and dripping handlers give up
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:  # end kept-alive connections so their handler threads finish
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.errors:
            raise AssertionError("the OpenAI test server failed while answering:\n" + "\n".join(self.errors))

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.stop()
            return
        with contextlib.suppress(AssertionError):  # the test's own failure is the one to report
            self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client as its base URL (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def received(self) -> int:
        """Chat completion requests received so far (answered or still being held)."""
        return self._served

    @property
    def remaining(self) -> int:
        """Script steps not yet served."""
        return len(self.script) - self._served

    # -- the model's side ----------------------------------------------------------------------
    def _record(self, body: dict[str, Any], authorization: str | None, raw: bytes) -> Step | None:
        with self._lock:
            if self.keep_requests:
                self.requests.append(body)
                self.raw_requests.append(raw)
                self.authorizations.append(authorization)
            if self.responder is not None:
                self._served += 1
                return self.responder(body)
            if self._served >= len(self.script):
                return None
            step = self.script[self._served]
            self._served += 1
            return step

    def _usage(self, step: Step) -> dict[str, Any]:
        prompt = getattr(step, "prompt_tokens", None)
        completion = getattr(step, "completion_tokens", None)
        prompt = self.prompt_tokens if prompt is None else prompt
        completion = self.completion_tokens if completion is None else completion
        with self._lock:
            self.usages.append((prompt, completion))
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        cached = getattr(step, "cached_tokens", None)
        if cached is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        return usage

    def _tool_call_id(self) -> str:
        with self._lock:
            self._calls += 1
            return f"call_{self._calls}_{len(self.requests)}"

    def _completion(self, step: str | Text | ToolCall, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(step, ToolCall):
            message["tool_calls"] = [
                {
                    "id": self._tool_call_id(),
                    "type": "function",
                    "function": {"name": step.name, "arguments": json.dumps(step.arguments)},
                }
            ]
            finish = "tool_calls"
        else:
            message["content"] = step if isinstance(step, str) else step.text
            if isinstance(step, Text) and step.reasoning:
                message["reasoning_content"] = step.reasoning
            finish = "stop"
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": self._usage(step),
        }

    def _stream_events(self, step: Step, model: str, include_usage: bool) -> list[str]:
        """The SSE `data:` payloads of one streamed response, ending with `[DONE]`."""
        base = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            doc = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
            return json.dumps(doc)

        events = [chunk({"role": "assistant", "content": ""})]
        if isinstance(step, ToolCall):
            args = json.dumps(step.arguments)
            pieces = _chunks_of(args, max(1, len(args) // 3 + 1))
            events.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": self._tool_call_id(),
                                "type": "function",
                                "function": {"name": step.name, "arguments": pieces[0]},
                            }
                        ]
                    }
                )
            )
            events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces[1:]]
            events.append(chunk({}, "tool_calls"))
        else:
            text = step if isinstance(step, str) else step.text
            events += [chunk({"content": piece}) for piece in _chunks_of(text, self.chunk_size)]
            events.append(chunk({}, "stop"))
        usage = self._usage(step)
        if include_usage:
            events.append(json.dumps({**base, "choices": [], "usage": usage}))
        events.append("[DONE]")
        return events


@contextlib.contextmanager
def served(
    monkeypatch: pytest.MonkeyPatch, script: list[Step] | Responder | None = None, **options: Any
) -> Iterator[OpenAIServer]:
    """A running `OpenAIServer(script, **options)` that OPENAI_SECRET and OPENAI_BASE_URL point at."""
    with OpenAIServer(script, **options) as server:
        monkeypatch.setenv("OPENAI_SECRET", "sk-test-local")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server
