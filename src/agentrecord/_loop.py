"""One background event loop per process that runs every turn, so pooled HTTP clients live on one loop.

Sync `talk` and async `atalk` both execute on it: consecutive turns, sync or async, reuse the same
provider connections instead of binding a client to whichever loop happened to call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_pid: int | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The runtime loop, started on first use (and again in a forked child)."""
    global _loop, _thread, _pid
    with _lock:
        if _loop is None or _pid != os.getpid() or not _loop.is_running():
            ready = threading.Event()
            new_loop = asyncio.new_event_loop()

            def run() -> None:
                asyncio.set_event_loop(new_loop)
                new_loop.call_soon(ready.set)
                new_loop.run_forever()

            _thread = threading.Thread(target=run, name="agentrecord-runtime", daemon=True)
            _thread.start()
            ready.wait()
            _loop, _pid = new_loop, os.getpid()
        return _loop


def in_runtime() -> bool:
    """True when called from the runtime loop's own thread."""
    return _thread is not None and threading.current_thread() is _thread


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the runtime loop and wait for it from this (non-runtime) thread."""
    if in_runtime():
        coro.close()
        raise RuntimeError(
            "A synchronous agentrecord call was made from inside a running turn (e.g. from an async tool); "
            "use the async variant (atalk/astream) there."
        )
    future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. Ctrl-C: stop the turn too; its completed steps are already saved
        raise


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` on the runtime loop from any loop."""
    if in_runtime():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop()))


def run_sync_nowait(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start `coro` on the runtime loop and return its future without waiting."""
    if in_runtime():
        coro.close()
        raise RuntimeError("Use astream() inside a running turn; stream() would block the runtime loop.")
    return asyncio.run_coroutine_threadsafe(coro, loop())
