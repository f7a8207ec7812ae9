"""Tools: classes whose typed `call` method an agent can invoke, seeing the record it acts for."""

from __future__ import annotations

import copy
import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, get_type_hints

from pydantic_ai import ModelRetry, RunContext
from pydantic_ai import Tool as _PydanticTool
from pydantic_core import PydanticSerializationError, to_jsonable_python
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from .approvals import Approval

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from .record import AgentRecord

log = logging.getLogger("agentrecord.tools")


@dataclass(frozen=True)
class ToolContext:
    """What a tool call sees: the agent record it acts for, its call id, and a way to reach the database."""

    record: AgentRecord
    """The agent record (its columns, e.g. `user_id`, say whom the tool acts for), loaded for this call in a
    Session of its own, never the caller's: relationships lazy-load in the tool's thread or process."""
    call_id: str
    """The model's id for this tool call: stable across retries, so usable as an idempotency key."""
    engine: Engine
    turn: int | None = None
    """The agent's turn this call runs in, numbered from 1 as in the usage ledger's `turn` column."""
    seq: int | None = None
    """The sequence number of the stored model response that asked for this call (None if not known)."""
    approval: Approval | None = None
    """The owner's approval when this call was held for one; None when it needed none."""

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A fresh Session of the agent's database, safe to use from the worker thread a tool runs in.

        It commits when the block exits cleanly and rolls back on error.
        """
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session


class Tool:
    """Base class of agent tools.

    Subclass it, write the description as the class docstring and implement `call` with typed
    parameters: the model sees a JSON schema derived from the type hints. Inside `call`,
    `self.context` (also `self.record`, `self.call_id`, `self.session()`) tells whom the call is for.
    """

    name: ClassVar[str | None] = None
    """The name the model sees; defaults to the class name in snake_case."""
    sequential: ClassVar[bool] = False
    """True if this tool must not run at the same time as other tools of the same response."""

    _context: ToolContext | None = None

    @property
    def context(self) -> ToolContext:
        """The context of the current call; only available while `call` runs."""
        if self._context is None:
            raise RuntimeError(f"{type(self).__name__}.context is only available while the tool runs.")
        return self._context

    @property
    def record(self) -> AgentRecord:
        """The agent record this call acts for."""
        return self.context.record

    @property
    def call_id(self) -> str:
        """The id of this tool call (use it as an idempotency key)."""
        return self.context.call_id

    def session(self) -> Any:
        """A fresh, thread-safe Session context manager on the agent's database."""
        return self.context.session()

    @classmethod
    def tool_name(cls) -> str:
        """The name the model sees for this tool."""
        return cls.name or _snake(cls.__name__)

    def description(self) -> str:
        """The description the model sees: the class docstring."""
        return inspect.cleandoc(type(self).__doc__ or "")

    def _bound_call(self) -> Callable[..., Any]:
        return self.call  # type: ignore[attr-defined, no-any-return]


class _FunctionTool(Tool):
    """A Tool made from a plain function by the `tool` decorator."""

    def __init__(self, fn: Callable[..., Any], takes_context: bool, name: str) -> None:
        self._fn = fn
        self._takes_context = takes_context
        self._name = name

    def description(self) -> str:
        doc = inspect.getdoc(self._fn) or ""
        return doc.split("\n\n", 1)[0]

    def _bound_call(self) -> Callable[..., Any]:
        if not self._takes_context:
            return self._fn
        return functools.partial(self._fn, self.context)


def tool(fn: Callable[..., Any]) -> Tool:
    """Make a one-off tool from a typed function; a first parameter annotated `ToolContext` receives it."""
    params = list(inspect.signature(fn).parameters.values())
    hints = get_type_hints(fn)
    takes_context = bool(params) and hints.get(params[0].name) is ToolContext
    return _FunctionTool(fn, takes_context, fn.__name__)


@contextmanager
def own_record(cls: type[AgentRecord], key: tuple[Any, ...], engine: Engine) -> Iterator[AgentRecord]:
    """The agent row loaded in a Session of the tool call's own, open while the call runs.

    Tools run in worker threads or processes; the caller's Session is not thread-safe, so a tool
    never touches it, not even through a lazy load on the caller's record.
    """
    with Session(engine, expire_on_commit=False) as session:
        record = session.get(cls, key)
        if record is None:
            raise LookupError(f"{cls.__name__} {key} no longer exists")
        session.commit()  # end the read transaction now; lazy loads open their own
        yield record


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def tool_name_of(item: type[Tool] | Tool | str) -> str:
    """The model-facing name of a tool class, tool instance or name."""
    if isinstance(item, str):
        return item
    if isinstance(item, _FunctionTool):
        return item._name
    if isinstance(item, Tool):
        return type(item).tool_name()
    return item.tool_name()


def as_instance(item: Any, owner: str) -> Tool:
    """Validate one entry of a declaration's `tools` list and return a Tool instance for it."""
    from .errors import DeclarationError

    if isinstance(item, Tool):
        instance = item
    elif isinstance(item, type) and issubclass(item, Tool):
        instance = item()
    else:
        raise DeclarationError(
            f"{owner}: tools must be Tool subclasses, Tool instances or functions decorated with "
            f"@agentrecord.tool; got {item!r}."
        )
    if not isinstance(instance, _FunctionTool) and not callable(getattr(instance, "call", None)):
        raise DeclarationError(f"{owner}: tool {type(instance).__name__} must implement call(self, ...).")
    return instance


def origin(ctx: RunContext[Any]) -> dict[str, Any]:
    """Where a call comes from, for its ToolContext: its id, turn, the response asking for it, its approval."""
    call_id = ctx.tool_call_id or ""
    deps = ctx.deps
    return {
        "call_id": call_id,
        "turn": getattr(deps, "turn", None),
        "seq": getattr(deps, "seqs", {}).get(call_id),
        "approval": getattr(deps, "approved", {}).get(call_id),
    }


def to_pydantic_tool(template: Tool, max_retries: int, *, concurrency: str = "thread") -> _PydanticTool[Any]:
    """Wrap a Tool so pydantic-ai can call it: schema from `call`'s hints, errors returned to the model.

    Under concurrency="process" a sync tool's calls run in the worker process pool (`_process_pool`).
    """
    target: Callable[..., Any] = (
        template._fn if isinstance(template, _FunctionTool) else type(template).call  # type: ignore[attr-defined]
    )
    sig = inspect.signature(target)
    hints = get_type_hints(target, include_extras=True)
    params = list(sig.parameters.values())
    if isinstance(template, _FunctionTool):
        if template._takes_context:
            params = params[1:]
    else:
        params = params[1:]  # self
    name = tool_name_of(template)
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=RunContext[Any])
    new_params = [ctx_param, *(p.replace(annotation=hints.get(p.name, p.annotation)) for p in params)]
    annotations = {p.name: p.annotation for p in new_params}
    if "return" in hints:
        annotations["return"] = hints["return"]

    @contextmanager
    def bind(ctx: RunContext[Any]) -> Iterator[Tool]:
        deps = ctx.deps
        key = tuple(sa_inspect(deps.record).identity or ())
        with own_record(type(deps.record), key, deps.engine) as record:
            instance = copy.copy(template)
            instance._context = ToolContext(record=record, engine=deps.engine, **origin(ctx))
            yield instance

    def failed(exc: Exception) -> ModelRetry:
        log.warning("tool %s raised %s", name, type(exc).__name__, exc_info=exc)
        return ModelRetry(f"Tool {name} failed: {type(exc).__name__}: {exc}")

    def serializable(result: Any) -> Any:
        """The result, if it can be stored and sent; else the model is told (instead of the turn failing later)."""
        try:
            to_jsonable_python(result)
        except (PydanticSerializationError, ValueError, TypeError) as exc:
            raise ModelRetry(
                f"Tool {name} failed: it returned a {type(result).__name__} that cannot be serialized ({exc}). "
                "This is a bug in the tool, not in your arguments."
            ) from None
        return result

    wrapper: Callable[..., Any]
    if inspect.iscoroutinefunction(target):

        async def async_wrapper(ctx: RunContext[Any], **kwargs: Any) -> Any:
            try:
                with bind(ctx) as instance:
                    return serializable(await instance._bound_call()(**kwargs))
            except ModelRetry:
                raise
            except Exception as exc:
                raise failed(exc) from exc

        wrapper = async_wrapper
    elif concurrency == "process":
        from . import _process_pool

        async def process_wrapper(ctx: RunContext[Any], **kwargs: Any) -> Any:
            deps = ctx.deps
            return await _process_pool.call(template, kwargs, deps.record, deps.engine, origin(ctx))

        wrapper = process_wrapper
    else:

        def sync_wrapper(ctx: RunContext[Any], **kwargs: Any) -> Any:
            try:
                with bind(ctx) as instance:
                    return serializable(instance._bound_call()(**kwargs))
            except ModelRetry:
                raise
            except Exception as exc:
                raise failed(exc) from exc

        wrapper = sync_wrapper

    setattr(wrapper, "__signature__", sig.replace(parameters=new_params))  # noqa: B010
    wrapper.__annotations__ = annotations
    wrapper.__name__ = name
    wrapper.__qualname__ = name
    wrapper.__doc__ = inspect.getdoc(target)
    return _PydanticTool(
        wrapper,
        takes_ctx=True,
        name=name,
        description=template.description() or None,
        max_retries=max_retries,
        sequential=type(template).sequential,
    )
