"""concurrency="process": run sync tool calls in a shared pool of worker processes.

The parent pickles a job (the tool, the call's arguments, the record's class and key, its binding and the
database's address, the call id); the worker reopens the database through the binding (once per process),
loads the record in a unit of work of its own, runs the tool and sends back its pickled result. Workers are
started with `spawn`, never `fork`: the parent has a runtime event-loop thread (and maybe llama.cpp state)
that a forked child would inherit broken.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import logging
import multiprocessing
import os
import pickle
import sys
import threading
import time
import traceback
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic_ai import ModelRetry

from .errors import DeclarationError
from .ports import Bind, Binding
from .tools import Tool, ToolContext, _FunctionTool, tool, tool_name_of

if TYPE_CHECKING:
    from .sqlalchemy.record import AgentRecord

log = logging.getLogger("agentrecord.tools")

_ADVICE = 'Move it to module level, or use concurrency="thread".'
_RESULT_ADVICE = 'Return plain data (dicts, lists, strings, numbers, pydantic models), or use concurrency="thread".'
_DIED_ADVICE = (
    "A worker process imports the main module when it starts: a script must keep its work under "
    '`if __name__ == "__main__":`.'
)

_lock = threading.Lock()
_pool: concurrent.futures.ProcessPoolExecutor | None = None
_pool_pid: int | None = None


def size() -> int:
    """How many worker processes the pool runs: one per CPU this process may use."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _executor() -> concurrent.futures.ProcessPoolExecutor:
    """The shared pool, created on first use (and again in a forked child or after a worker died)."""
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = concurrent.futures.ProcessPoolExecutor(
                size(), mp_context=multiprocessing.get_context("spawn"), initializer=_watch_parent
            )
            _pool_pid = os.getpid()
        return _pool


def _watch_parent() -> None:
    """In a worker: exit when the parent dies, even by SIGKILL (an orphaned worker would otherwise wait forever)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(0)

    threading.Thread(target=watch, name="agentrecord-parent-watch", daemon=True).start()


def _discard(broken: concurrent.futures.ProcessPoolExecutor) -> None:
    """Forget a pool whose worker died, so the next call starts a fresh one."""
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


# -- declaration-time checks ---------------------------------------------------------------------------------------
def _main_is_importable() -> bool:
    """Whether a spawned worker can re-import `__main__` (a script or `-m` module can, a REPL or `-c` cannot)."""
    main = sys.modules.get("__main__")
    return getattr(main, "__file__", None) is not None or getattr(main, "__spec__", None) is not None


def why_not_importable(obj: Any) -> str | None:
    """Why a worker process could not import `obj` (a class or function) by name, or None if it can."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", "")
    if qualname.split(".")[-1] == "<lambda>":
        return "it is a lambda, which a worker process cannot import by name"
    if "<locals>" in qualname:
        return f"it is defined inside a function ({module}.{qualname}), so a worker process cannot import it"
    if module == "__main__" and not _main_is_importable():
        return f"it is defined in an interactive session ({qualname} in __main__), which a worker process cannot import"
    return None


def check_declaration(owner: str, record_class: type, tools: list[Tool]) -> None:
    """Raise DeclarationError if a sync tool or the agent class itself could not run in a worker process."""
    for item in tools:
        target = item._fn if isinstance(item, _FunctionTool) else type(item)
        call = target if isinstance(item, _FunctionTool) else getattr(target, "call", None)
        if inspect.iscoroutinefunction(call):
            continue  # async tools run on the runtime loop, not in the pool
        reason = why_not_importable(target)
        if reason is None and not isinstance(item, _FunctionTool) and vars(item):
            try:
                pickle.dumps(vars(item))
            except Exception as exc:
                reason = f"its instance state cannot be pickled ({type(exc).__name__}: {exc})"
        if reason is not None:
            raise DeclarationError(
                f'{owner}.Agent: tool {tool_name_of(item)} cannot run in a worker process (concurrency="process"): '
                f"{reason}. {_ADVICE}"
            )
    reason = why_not_importable(record_class)
    if reason is not None:
        raise DeclarationError(
            f'{owner} cannot use concurrency="process": a worker process loads the agent record by its class, '
            f"but {reason}. {_ADVICE}"
        )


# -- the job -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionRef:
    """A function tool by module and name: `@tool` rebinds the name to the Tool, so the function can't be pickled."""

    module: str
    qualname: str

    def resolve(self) -> Tool:
        found: Any = importlib.import_module(self.module)
        for part in self.qualname.split("."):
            found = getattr(found, part)
        return found if isinstance(found, Tool) else tool(found)


def _portable(template: Tool) -> Tool | FunctionRef:
    if isinstance(template, _FunctionTool):
        return FunctionRef(template._fn.__module__, template._fn.__qualname__)
    return template


@dataclass(frozen=True)
class Job:
    """One tool call, as sent to a worker."""

    tool: Tool | FunctionRef
    kwargs: dict[str, Any]
    record_class: type[AgentRecord]
    record_key: tuple[Any, ...]
    origin: dict[str, Any]
    """The call's id, turn, response seq and approval (`tool_calls.origin`), for its ToolContext."""
    binding: Binding
    """How the worker reopens the database and loads the record (pickled: a binding here must be picklable)."""
    address: str = field(repr=False)  # holds the password: kept in memory and the pipe, never printed


class Outcome(NamedTuple):
    """What a worker sends back: kind is ok, retry, error or unrunnable; detail is a traceback or advice."""

    kind: str
    value: Any
    detail: str = ""


def _run(payload: bytes) -> Outcome:
    """In the worker: load the job, run the tool for a freshly loaded record, pickle its result."""
    try:
        job: Job = pickle.loads(payload)
        instance = job.tool.resolve() if isinstance(job.tool, FunctionRef) else job.tool
    except Exception as exc:
        reason = f"the worker process could not load the call ({type(exc).__name__}: {exc})"
        return Outcome("unrunnable", reason, _ADVICE)
    try:
        bind = job.binding.reopen(job.address)
        with job.binding.own(job.record_class, job.record_key, bind) as record:
            instance._context = ToolContext(record=record, engine=bind, binding=job.binding, **job.origin)
            result = instance._bound_call()(**job.kwargs)
    except ModelRetry as exc:
        return Outcome("retry", exc.message)
    except Exception as exc:
        return Outcome("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())
    try:
        return Outcome("ok", pickle.dumps(result))
    except Exception as exc:
        reason = f"its result (a {type(result).__qualname__}) cannot be pickled ({type(exc).__name__}: {exc})"
        return Outcome("unrunnable", reason, _RESULT_ADVICE)


async def call(
    template: Tool,
    kwargs: dict[str, Any],
    *,
    record_class: type[AgentRecord],
    key: tuple[Any, ...],
    bind: Bind,
    binding: Binding,
    origin: dict[str, Any],
) -> Any:
    """Run one call of `template` for the record of `record_class` with `key` in the pool and return its result;
    failures become ModelRetry like in a thread."""
    name = tool_name_of(template)
    job = Job(_portable(template), kwargs, record_class, key, origin, binding, binding.address(bind))
    try:
        payload = pickle.dumps(job)
    except Exception as exc:
        outcome = Outcome("unrunnable", f"its arguments cannot be pickled ({type(exc).__name__}: {exc})", _ADVICE)
    else:
        pool = _executor()
        try:
            outcome = await asyncio.wrap_future(pool.submit(_run, payload))
        except BrokenProcessPool:
            _discard(pool)
            outcome = Outcome(
                "error", "WorkerDied: the worker process running it exited (killed or crashed)", _DIED_ADVICE
            )
    if outcome.kind == "ok":
        try:
            return pickle.loads(outcome.value)
        except Exception as exc:
            reason = f"its result cannot be unpickled here ({type(exc).__name__}: {exc})"
            outcome = Outcome("unrunnable", reason, _RESULT_ADVICE)
    if outcome.kind == "retry":
        raise ModelRetry(outcome.value)
    if outcome.kind == "unrunnable":
        message = f"Tool {name} cannot run in a worker process (concurrency=process): {outcome.value}."
        log.warning("%s %s", message, outcome.detail)
        raise ModelRetry(message)
    log.warning("tool %s raised %s in a worker process\n%s", name, outcome.value, outcome.detail)
    raise ModelRetry(f"Tool {name} failed: {outcome.value}")


# -- warm-up -------------------------------------------------------------------------------------------------------
def _ready(modules: list[str], hold: float) -> int:
    for module in modules:
        importlib.import_module(module)
    time.sleep(hold)
    return os.getpid()


def warm_up(*agent_classes: type[AgentRecord], timeout: float = 120.0) -> int:
    """Start every worker of the process pool now and import the agents' modules in each; returns the count.

    Workers otherwise start on the first `concurrency="process"` call, which then waits for Python,
    agentrecord and the tool modules to import (about a second). Call this at application start.
    """
    modules: set[str] = set()
    for cls in agent_classes:
        modules.add(cls.__module__)
        for item in cls.agent_spec().tools:
            modules.add((item._fn if isinstance(item, _FunctionTool) else type(item)).__module__)
    wanted = sorted(m for m in modules if m != "__main__")  # a worker imports __main__ when it starts
    pool, n = _executor(), size()
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < n and time.monotonic() < deadline:
        futures = [pool.submit(_ready, wanted, 0.2) for _ in range(n)]
        seen.update(f.result(timeout=max(deadline - time.monotonic(), 0.1)) for f in futures)
    return len(seen)
