"""Tools: classes whose typed `call` method an agent can invoke, seeing the record it acts for.

ORM-neutral: a tool reaches its record's database through the record's binding (`ports.Binding`), so a
SQLAlchemy record's tool gets a SQLAlchemy Session from `session()`, and another store's tool its unit of work.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast, get_type_hints

from .approvals import Approval
from .ports import Bind, Binding, binding_of

if TYPE_CHECKING:
    from .sqlalchemy.record import AgentRecord

log = logging.getLogger("agentrecord.tools")

R = TypeVar("R")


def own_record(cls: type[R], key: tuple[Any, ...], engine: Bind) -> AbstractContextManager[R]:
    """The record of `cls` with `key`, loaded in a unit of work of its own (through its class's binding) that is
    open while the context is: what a tool call acts on, never the caller's instance."""
    return cast(AbstractContextManager[R], binding_of(cls).own(cls, key, engine))


@dataclass(frozen=True)
class ToolContext:
    """What a tool call sees: the agent record it acts for, its call id, and a way to reach the database."""

    record: AgentRecord
    """The agent record (its columns, e.g. `user_id`, say whom the tool acts for), loaded for this call in a
    unit of work of its own, never the caller's: relationships lazy-load in the tool's thread or process."""
    call_id: str
    """The model's id for this tool call: stable across retries, so usable as an idempotency key."""
    engine: Bind
    """The store's bind of the agent's database: a SQLAlchemy Engine for a SQLAlchemy record."""
    turn: int | None = None
    """The agent's turn this call runs in, numbered from 1 as in the usage ledger's `turn` column."""
    seq: int | None = None
    """The sequence number of the stored model response that asked for this call (None if not known)."""
    approval: Approval | None = None
    """The owner's approval when this call was held for one; None when it needed none."""
    binding: Binding | None = None
    """How `session()` reaches `engine` (None: the record class's binding, `ports.binding_of`)."""

    def session(self) -> AbstractContextManager[Any]:
        """A fresh unit of work on the agent's database (a SQLAlchemy Session for a SQLAlchemy record), safe to
        use from the worker thread a tool runs in.

        It commits when the block exits cleanly and rolls back on error.
        """
        binding = self.binding or binding_of(type(self.record))
        return binding.session(self.engine)


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
        """A fresh, thread-safe unit of work (a Session, for a SQLAlchemy record) on the agent's database."""
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
