"""The `class Agent:` block of an agent record, validated once when the class is mapped."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic_ai import Agent as _PydanticAgent
from pydantic_ai import DeferredToolRequests, RunContext
from pydantic_ai.toolsets import CombinedToolset, FunctionToolset

from ._journal import journaled
from .approvals import Rule, approval_check
from .compaction import Compaction, parse_compaction
from .errors import DeclarationError
from .guards import DEFAULT_THRESHOLD, guarded
from .mcp_servers import Entry
from .mcp_servers import parse as parse_mcp
from .skills import Skill, load_skills, skill_tool
from .tool_calls import to_pydantic_tool
from .tools import Tool, as_instance, tool_name_of

CONCURRENCY = ("call", "thread", "async", "process")
# How the tool calls of one model response run (a Tool with `sequential = True` always runs alone):
#   call     one after another, in the order the model asked for them
#   thread   concurrently; each sync tool call in a worker thread, async tools as tasks on the runtime loop
#   async    the same schedule, declared for async tools: tasks on the runtime loop (sync tools still get
#            worker threads, so they never block the loop)
#   process  concurrently; each sync tool call in a shared pool of worker processes (one per CPU, started
#            with spawn), async tools on the runtime loop. Tools and the agent class must be importable.

_OPTIONS: dict[str, str] = {
    "model": "default model name (the record's `model` column overrides it)",
    "instructions": "system instructions: a string, or a callable taking the record",
    "tools": "Tool classes, Tool instances or @tool functions",
    "skills": "skill directories (each holding a SKILL.md), relative to the declaring module's file",
    "concurrency": "how one response's tool calls run: call (one after another), thread (default; concurrently, "
    "sync tools in worker threads), async (concurrently, async tools as tasks on the runtime loop), process "
    "(concurrently, sync tools in a pool of worker processes)",
    "output_type": "type of structured output (default: str)",
    "confirm": "tools (classes or names) needing the owner's approval; or a dict tool -> rule deciding per call "
    "(a callable (record, args) -> bool, or the name of a record method taking the args)",
    "max_requests": "hard cap on model requests per turn (default 25)",
    "max_tokens_per_turn": "stop a turn that uses more tokens than this (default: no limit)",
    "max_cost_per_turn": "stop a turn that costs more USD than this (default: no limit)",
    "loop_guard": "answer the Nth identical tool call of a turn with a note instead of running it (default 3; 0 = off)",
    "busy_timeout": "seconds a turn waits for another turn on the same agent (default 30; 0 = fail at once)",
    "lease_ttl": "seconds a run lease lives without renewal (default 300)",
    "request_timeout": "seconds one model request may take, retries and streaming included (default 60, or "
    "AGENTRECORD_REQUEST_TIMEOUT); past it the turn stops with ProviderTimeout",
    "turn_timeout": "seconds a whole turn may take (default: no limit); past it the turn stops with ProviderTimeout",
    "request_retries": "retries of a request that met a 429, a 5xx or a connection error, with exponential backoff "
    "and jitter honouring Retry-After (default 2, or AGENTRECORD_REQUEST_RETRIES)",
    "model_settings": "pydantic-ai model settings (temperature, max_tokens, ...)",
    "mcp": "MCP servers whose tools the agent may use: MCP(name, command=[...]) over stdio or MCP(name, url=...) over "
    "streamable HTTP, or a callable taking the record and returning one (per-record credentials)",
    "compaction": "summarize older messages past a threshold: Compaction(messages=40, keep=8, model=None, ...), "
    "True for the defaults, or a message count (default: off)",
}


@dataclass
class AgentSpec:
    """The validated declaration of one agent class."""

    owner: str
    model: str | None = None
    instructions: str | Callable[[Any], str] | None = None
    tools: list[Tool] = field(default_factory=list)
    skills: list[Skill] = field(default_factory=list)
    concurrency: str = "thread"
    output_type: Any = str
    confirm: dict[str, Rule] = field(default_factory=dict)
    max_requests: int = 25
    max_tokens_per_turn: int | None = None
    max_cost_per_turn: Decimal | None = None
    loop_guard: int = DEFAULT_THRESHOLD
    busy_timeout: float = 30.0
    lease_ttl: float = 300.0
    request_timeout: float | None = None
    """None: AGENTRECORD_REQUEST_TIMEOUT, else 60 s (read when a turn starts)."""
    turn_timeout: float | None = None
    request_retries: int | None = None
    """None: AGENTRECORD_REQUEST_RETRIES, else 2."""
    model_settings: dict[str, Any] = field(default_factory=dict)
    compaction: Compaction | None = None
    mcp: list[Entry] = field(default_factory=list)
    _agent: _PydanticAgent[Any, Any] | None = None

    def tool_names(self) -> set[str]:
        """The names of the declared tools and skills (MCP servers' tools are known once they are connected)."""
        return {tool_name_of(t) for t in self.tools} | {s.tool_name for s in self.skills}

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
            tools = [to_pydantic_tool(t, self.max_requests, concurrency=self.concurrency) for t in self.tools]
            skills = [skill_tool(s, self, tools) for s in self.skills]  # each runs a sub-agent on some of `tools`
            plain = FunctionToolset([*(t for t in tools if t.name not in self.confirm), *skills])
            gated = FunctionToolset([t for t in tools if t.name in self.confirm])
            toolsets = [plain, gated.approval_required(approval_check(self.confirm))] if self.confirm else [plain]
            output_type = [self.output_type, DeferredToolRequests] if self.confirm else self.output_type
            self._agent = _PydanticAgent(
                output_type=output_type,
                instructions=instructions,
                toolsets=[journaled(guarded(CombinedToolset(toolsets), self.loop_guard))],
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
    if "concurrency" in values:
        conc = values["concurrency"]
        if conc not in CONCURRENCY:
            raise DeclarationError(f"{owner}.Agent.concurrency is {conc!r}; use one of {', '.join(CONCURRENCY)}.")
        spec.concurrency = conc
    if spec.concurrency == "process":
        from ._process_pool import check_declaration

        check_declaration(owner, cls, spec.tools)
    if "output_type" in values:
        spec.output_type = values["output_type"]
    spec.confirm = _parse_confirm(owner, values.get("confirm", []))
    spec.mcp = parse_mcp(owner, values.get("mcp", []))
    missing = [c for c in spec.confirm if c not in names]
    if missing and not spec.mcp:  # with MCP servers, a name is checked against their tools when they connect
        raise DeclarationError(
            f"{owner}.Agent.confirm names {', '.join(missing)}, which is not among its tools "
            f"({', '.join(names) or 'none'})."
        )
    spec.skills = load_skills(  # read now, so a malformed skill fails at import and never mid-turn
        _expect_list(owner, "skills", values.get("skills", [])),
        owner=owner,
        module_file=getattr(sys.modules.get(cls.__module__), "__file__", None),
        tool_names=names,
        confirm=spec.confirm,
    )
    for key in ("max_requests", "max_tokens_per_turn"):
        if values.get(key) is not None:
            value = values[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise DeclarationError(f"{owner}.Agent.{key} must be a positive integer, got {value!r}.")
            setattr(spec, key, value)
    if "loop_guard" in values:
        value = values["loop_guard"]
        if not isinstance(value, int) or isinstance(value, bool) or value in (1,) or value < 0:
            raise DeclarationError(
                f"{owner}.Agent.loop_guard must be 0 (off) or an integer >= 2 (the repeat that is refused), "
                f"got {value!r}."
            )
        spec.loop_guard = value
    if values.get("max_cost_per_turn") is not None:
        value = values["max_cost_per_turn"]
        try:
            cost = Decimal(str(value))
        except ArithmeticError:
            cost = Decimal(-1)
        if isinstance(value, bool) or not cost.is_finite() or cost <= 0:
            raise DeclarationError(f"{owner}.Agent.max_cost_per_turn must be a positive amount of USD, got {value!r}.")
        spec.max_cost_per_turn = cost
    for key in ("busy_timeout", "lease_ttl"):
        if key in values:
            value = values[key]
            if not isinstance(value, int | float) or value < 0:
                raise DeclarationError(f"{owner}.Agent.{key} must be a number of seconds >= 0, got {value!r}.")
            setattr(spec, key, float(value))
    for key in ("request_timeout", "turn_timeout"):
        if values.get(key) is not None:
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise DeclarationError(f"{owner}.Agent.{key} must be a number of seconds > 0, got {value!r}.")
            setattr(spec, key, float(value))
    if values.get("request_retries") is not None:
        value = values["request_retries"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
            raise DeclarationError(f"{owner}.Agent.request_retries must be an integer from 0 to 10, got {value!r}.")
        spec.request_retries = value
    if "model_settings" in values:
        spec.model_settings = dict(_expect(owner, "model_settings", values["model_settings"], dict))
    spec.compaction = parse_compaction(owner, values.get("compaction"))
    return spec


def _expect(owner: str, key: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise DeclarationError(f"{owner}.Agent.{key} must be a {kind.__name__}, got {value!r}.")
    return value


def _expect_list(owner: str, key: str, value: Any) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise DeclarationError(f"{owner}.Agent.{key} must be a list, got {value!r}.")
    return list(value)


def _parse_confirm(owner: str, value: Any) -> dict[str, Rule]:
    """`confirm` as {tool name: rule}: a list means 'always', a dict gives each tool its rule."""
    items = value.items() if isinstance(value, dict) else ((c, None) for c in _expect_list(owner, "confirm", value))
    rules: dict[str, Rule] = {}
    for tool, rule in items:
        if not (isinstance(tool, str | Tool) or (isinstance(tool, type) and issubclass(tool, Tool))):
            raise DeclarationError(f"{owner}.Agent.confirm entries must be tool classes or names, got {tool!r}.")
        if isinstance(rule, staticmethod):
            rule = rule.__func__
        if not (rule is None or isinstance(rule, str) or callable(rule)):
            raise DeclarationError(
                f"{owner}.Agent.confirm[{tool_name_of(tool)!r}] must be a callable (record, args) -> bool or the "
                f"name of a record method, got {rule!r}."
            )
        rules[tool_name_of(tool)] = rule
    return rules
