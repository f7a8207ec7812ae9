"""The `class Agent:` block of an agent record, validated once when the class is mapped."""

from __future__ import annotations

import inspect
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai import Agent as _PydanticAgent
from pydantic_ai import RunContext

from .errors import DeclarationError
from .tools import Tool, as_instance, to_pydantic_tool, tool_name_of

CONCURRENCY = ("call", "thread", "async", "process")

_OPTIONS: dict[str, str] = {
    "model": "default model name (the record's `model` column overrides it)",
    "instructions": "system instructions: a string, or a callable taking the record",
    "tools": "Tool classes, Tool instances or @tool functions",
    "skills": "paths of skill directories, relative to the declaring module",
    "concurrency": f"how one response's tool calls run: one of {', '.join(CONCURRENCY)}",
    "output_type": "type of structured output (default: str)",
    "confirm": "tools (classes or names) needing the owner's approval",
    "max_requests": "hard cap on model requests per turn (default 25)",
    "busy_timeout": "seconds a turn waits for another turn on the same agent (default 30; 0 = fail at once)",
    "lease_ttl": "seconds a run lease lives without renewal (default 300)",
    "model_settings": "pydantic-ai model settings (temperature, max_tokens, ...)",
}


@dataclass
class AgentSpec:
    """The validated declaration of one agent class."""

    owner: str
    model: str | None = None
    instructions: str | Callable[[Any], str] | None = None
    tools: list[Tool] = field(default_factory=list)
    skills: list[Path] = field(default_factory=list)
    concurrency: str = "thread"
    output_type: Any = str
    confirm: list[str] = field(default_factory=list)
    max_requests: int = 25
    busy_timeout: float = 30.0
    lease_ttl: float = 300.0
    model_settings: dict[str, Any] = field(default_factory=dict)
    _agent: _PydanticAgent[Any, Any] | None = None

    def pydantic_agent(self) -> _PydanticAgent[Any, Any]:
        """The pydantic-ai Agent for this class, built once."""
        if self._agent is None:
            instructions: Any = None
            if callable(self.instructions):
                fn = self.instructions

                def dynamic(ctx: RunContext[Any]) -> str:
                    return fn(ctx.deps.record)

                instructions = dynamic
            else:
                instructions = self.instructions
            kwargs: dict[str, Any] = {"model_settings": self.model_settings or None}
            self._agent = _PydanticAgent(
                output_type=self.output_type,
                instructions=instructions,
                tools=[to_pydantic_tool(t, self.max_requests) for t in self.tools],
                retries={"tools": self.max_requests, "output": 3},
                **kwargs,
                name=self.owner,
            )
        return self._agent


def parse(cls: type) -> AgentSpec:
    """Read and validate `cls.Agent`; errors name the class and the option."""
    owner = cls.__name__
    decl = getattr(cls, "Agent", None)
    spec = AgentSpec(owner=owner)
    if decl is None:
        return spec
    if not isinstance(decl, type):
        raise DeclarationError(f"{owner}.Agent must be a class holding the agent's options.")
    values = {k: v for klass in reversed(decl.__mro__[:-1]) for k, v in vars(klass).items() if not k.startswith("_")}
    unknown = sorted(set(values) - set(_OPTIONS))
    if unknown:
        valid = "\n".join(f"  {k}: {v}" for k, v in _OPTIONS.items())
        raise DeclarationError(f"{owner}.Agent has unknown option(s) {', '.join(unknown)}. Valid options:\n{valid}")
    if "model" in values:
        spec.model = _expect(owner, "model", values["model"], str)
    if "instructions" in values:
        ins = values["instructions"]
        if isinstance(ins, staticmethod):
            ins = ins.__func__
        if not (ins is None or isinstance(ins, str) or callable(ins)):
            raise DeclarationError(f"{owner}.Agent.instructions must be a string or a callable taking the record.")
        spec.instructions = inspect.cleandoc(ins) if isinstance(ins, str) else ins
    spec.tools = [as_instance(t, f"{owner}.Agent") for t in _expect_list(owner, "tools", values.get("tools", []))]
    names = [tool_name_of(t) for t in spec.tools]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DeclarationError(f"{owner}.Agent.tools has two tools named {', '.join(dupes)}; set a distinct `name`.")
    base = Path(sys.modules[cls.__module__].__file__ or ".").parent if cls.__module__ in sys.modules else Path()
    spec.skills = [
        base / _expect(owner, "skills", s, str) for s in _expect_list(owner, "skills", values.get("skills", []))
    ]
    if "concurrency" in values:
        conc = values["concurrency"]
        if conc not in CONCURRENCY:
            raise DeclarationError(f"{owner}.Agent.concurrency is {conc!r}; use one of {', '.join(CONCURRENCY)}.")
        spec.concurrency = conc
    if "output_type" in values:
        spec.output_type = values["output_type"]
    spec.confirm = [
        tool_name_of(c)
        if isinstance(c, str | Tool) or (isinstance(c, type) and issubclass(c, Tool))
        else _bad_confirm(owner, c)
        for c in _expect_list(owner, "confirm", values.get("confirm", []))
    ]
    missing = [c for c in spec.confirm if c not in names]
    if missing:
        raise DeclarationError(
            f"{owner}.Agent.confirm names {', '.join(missing)}, which is not among its tools "
            f"({', '.join(names) or 'none'})."
        )
    for key in ("max_requests",):
        if key in values:
            value = values[key]
            if not isinstance(value, int) or value < 1:
                raise DeclarationError(f"{owner}.Agent.{key} must be a positive integer, got {value!r}.")
            spec.max_requests = value
    for key in ("busy_timeout", "lease_ttl"):
        if key in values:
            value = values[key]
            if not isinstance(value, int | float) or value < 0:
                raise DeclarationError(f"{owner}.Agent.{key} must be a number of seconds >= 0, got {value!r}.")
            setattr(spec, key, float(value))
    if spec.confirm or spec.skills:
        warnings.warn(
            f"{owner}.Agent declares {'confirm' if spec.confirm else 'skills'}: accepted, but skills and approvals "
            "are not active in this version of agentrecord; tool calls are NOT held for approval yet.",
            stacklevel=3,
        )
    if "model_settings" in values:
        spec.model_settings = dict(_expect(owner, "model_settings", values["model_settings"], dict))
    return spec


def _expect(owner: str, key: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise DeclarationError(f"{owner}.Agent.{key} must be a {kind.__name__}, got {value!r}.")
    return value


def _expect_list(owner: str, key: str, value: Any) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise DeclarationError(f"{owner}.Agent.{key} must be a list, got {value!r}.")
    return list(value)


def _bad_confirm(owner: str, value: Any) -> str:
    raise DeclarationError(f"{owner}.Agent.confirm entries must be tool classes or names, got {value!r}.")
