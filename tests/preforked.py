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
import builtins
import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
import tempfile
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


def _main(
    module: str | None,
    code_text: str | None,
    args: list[str],
    env: dict[str, str],
    cwd: str,
    out: str | None,
    log: str | None,
) -> None:
    """The child: `python -m module *args` (or `python -c code_text *args`) with `env`, in `cwd`, stdout to `out`
    and stderr to `log` (else discarded)."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for entry in reversed(["", *env.get("PYTHONPATH", "").split(os.pathsep)]):
        if entry not in sys.path and (entry or module is None):
            sys.path.insert(0, entry)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if out else null, 1)
    os.dup2(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if log else null, 2)
    sys.argv = [module or "-c", *args]
    code = 0
    try:
        if module is not None:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            exec(compile(code_text or "", "<string>", "exec"), {"__name__": "__main__", "__builtins__": builtins})
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

    def __init__(
        self,
        module: str | None,
        args: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log: str | None,
        code: str | None = None,
        out: str | None = None,
    ) -> None:
        self.args = [module or "-c", *args]
        target_args = (module, code, args, env, str(cwd), out, log)
        self._process = _forkserver().Process(target=_main, args=target_args, daemon=False)
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


def run_code(
    code: str, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run([python, "-c", code, *args], capture_output=True, text=True)`, forked (see above)."""
    with tempfile.TemporaryDirectory(prefix="forked-") as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        child = Forked(None, list(args), env=dict(env or os.environ), cwd=cwd, log=str(err), code=code, out=str(out))
        try:
            returncode = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)
            raise
        read = {path: path.read_text() if path.exists() else "" for path in (out, err)}
    return subprocess.CompletedProcess(child.args, returncode, read[out], read[err])
