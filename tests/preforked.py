"""Real worker processes that start without paying for their imports again: forked from a server that holds them.

Every job test starts worker processes, and each new interpreter spent 2-3 s of CPU importing pydantic-ai,
SQLAlchemy, DBOS and the OpenAI SDK before it did anything: a third of the suite's CPU. Here they are
forked from a `multiprocessing` fork server that imported those libraries once (as gunicorn's `--preload`
or Celery's prefork pool do), then run the same `python -m MODULE ARGS` main with the test's environment,
working directory and output. They are real processes, stopped and killed with real signals; our own
modules are imported in each child, after its environment is set, never in the server.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
import traceback
from multiprocessing.context import ForkServerContext
from pathlib import Path

PRELOAD = ["sqlalchemy.orm", "pydantic_ai", "pydantic_ai.models.openai", "pydantic_ai.providers.openai", "dbos"]
"""Third-party libraries only: nothing here reads the test's environment when imported."""

_context: ForkServerContext | None = None


def _forkserver() -> ForkServerContext:
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _context = context
    return _context


def _main(module: str, args: list[str], env: dict[str, str], cwd: str, log: str | None) -> None:
    """The child: `python -m module *args` with `env`, in `cwd`, stdout discarded and stderr to `log`."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for entry in reversed(env.get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if log else null, 2)
    sys.argv = [module, *args]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        atexit._run_exitfuncs()  # what a normal interpreter exit runs (DBOS and logging register here)
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


class Forked:
    """The part of `subprocess.Popen` the tests use, over a forked child."""

    def __init__(self, module: str, args: list[str], *, env: dict[str, str], cwd: Path, log: str | None) -> None:
        self.args = [module, *args]
        self._process = _forkserver().Process(target=_main, args=(module, args, env, str(cwd), log), daemon=False)
        self._process.start()
        assert self._process.pid is not None
        self.pid: int = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
