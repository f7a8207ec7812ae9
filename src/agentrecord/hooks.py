"""The runtime's extension points: what an optional extension (jobs) plugs into the core, found by name.

The core never imports an extension. An extension registers its hooks here when it is imported; the
core looks them up by the extension's name, importing the module registered for that name on first
use (`record.enqueue` works without the application importing `agentrecord.jobs` first).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .sqlalchemy.record import AgentRecord
    from .state import State

EXTENSIONS: dict[str, str] = {"jobs": "agentrecord.jobs"}
"""Each extension's name and the module that registers its hooks when imported."""

JOB_MARK = "job"
"""The key of the agent's state under which a job marks the turn it runs (absent where no job ever ran)."""


class RunningJob(Protocol):
    """A turn run as a job, as the turn sees it: marked in the agent's state, stoppable between steps."""

    @property
    def id(self) -> str:
        """The job's id."""
        ...

    @property
    def stream(self) -> bool:
        """Whether listeners get the model's text as it streams (else one text event per response)."""
        ...

    def stop(self) -> str | None:
        """A reason ("cancelled", "shutdown") to stop the turn at this step boundary, or None to go on."""
        ...

    def continues(self, state: State) -> bool:
        """True when this job had begun the agent's latest turn and saved steps of it (it continues them)."""
        ...

    def begin(self, state: State) -> None:
        """Mark `state` as this job's turn, starting at its current message count."""
        ...

    def finish(self, state: State, end: int) -> None:
        """Mark this job's turn in `state` done, its messages ending before sequence number `end`."""
        ...


class JobsHooks(Protocol):
    """What the core asks of the jobs extension: the record's job API, and whether a job is still live."""

    def enqueue(self, record: AgentRecord, prompt: str, key: str | None = None, *, stream: bool = False) -> Any: ...

    def schedule(
        self,
        record: AgentRecord,
        prompt: str,
        *,
        every: str | None = None,
        cron: str | None = None,
        tz: str | None = None,
        calendar_name: str | None = None,
    ) -> Any: ...

    def schedules(self, record: AgentRecord) -> list[Any]: ...

    def jobs(self, record: AgentRecord, limit: int = 50) -> list[Any]: ...

    def holding_job(self, state: State, bind: Any) -> str | None: ...


_registered: dict[str, Any] = {}


def register(name: str, hooks: Any) -> None:
    """Plug an extension's hooks in under `name` (an extension does this when it is imported)."""
    _registered[name] = hooks


def register_jobs(hooks: JobsHooks) -> None:
    """Plug the jobs extension in (typed: the hooks must be a `JobsHooks`)."""
    register("jobs", hooks)


def extension(name: str) -> Any:
    """The hooks registered under `name`, importing the extension's module by its registered name if needed."""
    found = _registered.get(name)
    if found is None:
        importlib.import_module(EXTENSIONS[name])
        found = _registered[name]
    return found


def jobs() -> JobsHooks:
    """The jobs extension's hooks (importing `agentrecord.jobs` on first use; it needs the `jobs` extra)."""
    found: JobsHooks = extension("jobs")
    return found


def holding_job(state: State, bind: Any) -> str | None:
    """The id of the queued or running job whose turn holds the agent's pending approvals, if any.

    Only a state some job has marked can have one, so an agent no job ever ran on loads no extension.
    """
    if JOB_MARK not in state.extra:
        return None
    return jobs().holding_job(state, bind)
