"""Skills: directories holding a `SKILL.md` (the Agent Skills format) that an agent runs as sub-agents.

A skill is loaded and validated when its agent class is declared, so a malformed one fails at import,
never mid-turn. The agent sees each skill as one tool, named after the skill and described by its
description; calling it runs a sub-agent with the skill's instructions, only the tools it lists and
the recent conversation, and reports the sub-agent's usage and cost back to the parent's turn.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast

import yaml
from pydantic_ai import Agent as _PydanticAgent
from pydantic_ai import ModelRetry, RunContext, ToolReturn
from pydantic_ai import Tool as _PydanticTool
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings
from pydantic_ai.toolsets import FunctionToolset

from . import tracing
from .errors import DeclarationError
from .guards import guarded
from .reply import Usage, cost_of

if TYPE_CHECKING:
    from .declaration import AgentSpec

SKILL_FILE = "SKILL.md"
REFERENCES = "references"
READ_REFERENCE = "read_reference"
RECENT_MESSAGES = 8
"""How many of the parent's latest user/assistant messages a skill's sub-agent sees."""
FIELDS = ("name", "description", "tools", "allowed-tools", "license", "compatibility", "metadata")
"""The front matter keys a SKILL.md may hold (the Agent Skills fields plus `tools`)."""

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?$\n?", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Skill:
    """One loaded skill: its front matter, instructions and reference files, and a hash of all of them."""

    name: str
    description: str
    tools: tuple[str, ...] | Literal["inherit"]
    """The parent's tools the sub-agent may use, or "inherit" (all of them that need no approval)."""
    instructions: str
    """The Markdown body of SKILL.md."""
    path: Path
    """The skill directory."""
    sha256: str
    """Hex SHA-256 over SKILL.md and every reference file, as loaded."""
    references: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    """The files under references/, by path relative to it, read when the skill was loaded."""
    allowed_tools: tuple[str, ...] = ()
    """`allowed-tools` as written (informational: `tools` decides what the sub-agent gets)."""
    license: str | None = None
    compatibility: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tool_name(self) -> str:
        """The name the parent model calls the skill by: its name with hyphens as underscores."""
        return self.name.replace("-", "_")

    def read_reference(self, name: str) -> str:
        """The text of reference file `name`; PermissionError outside references/, FileNotFoundError if absent."""
        posix = name.strip().replace("\\", "/")
        parts = PurePosixPath(posix).parts
        if posix.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            raise PermissionError(f"{name!r} is outside this skill's {REFERENCES}/ directory; not read.")
        key = "/".join(p for p in parts if p != ".")
        key = key.removeprefix(f"{REFERENCES}/")
        data = self.references.get(key)
        if data is None:
            raise FileNotFoundError(f"This skill has no reference {name!r}; it has: {', '.join(self.references)}.")
        return data.decode("utf-8", errors="replace")


def load_skills(
    entries: Iterable[Any],
    *,
    owner: str,
    module_file: str | None,
    tool_names: Sequence[str],
    confirm: Collection[str] = (),
) -> list[Skill]:
    """Load the `skills` of `owner`'s declaration; relative paths resolve against `module_file`'s directory."""
    base = Path(os.path.abspath(module_file)).parent if module_file else None
    skills: list[Skill] = []
    for entry in entries:
        if not isinstance(entry, str | os.PathLike):
            raise DeclarationError(f"{owner}.Agent.skills entries must be paths of skill directories, got {entry!r}.")
        path = Path(entry)
        if not path.is_absolute():
            if base is None:
                raise DeclarationError(
                    f"{owner}.Agent.skills: {str(entry)!r} is relative, but {owner} is declared in a module with no "
                    "file to resolve it against; use an absolute path."
                )
            path = base / path
        skills.append(load_skill(path, owner=owner, tool_names=tool_names, confirm=confirm))
    names = [s.tool_name for s in skills]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        paths = ", ".join(str(s.path / SKILL_FILE) for s in skills if s.tool_name in dupes)
        raise DeclarationError(f"{owner}.Agent.skills has two skills named {', '.join(dupes)} ({paths}).")
    return skills


def load_skill(
    path: str | os.PathLike[str], *, owner: str, tool_names: Sequence[str], confirm: Collection[str] = ()
) -> Skill:
    """Read and validate the skill directory at `path` for agent `owner` whose tools are `tool_names`.

    Errors are DeclarationErrors naming the SKILL.md and the problem. Tools in `confirm` need the
    owner's approval, which a sub-agent cannot hold, so a skill may not list them and `inherit` skips them.
    """
    directory = Path(path)
    if directory.name == SKILL_FILE and directory.is_file():
        directory = directory.parent
    file = directory / SKILL_FILE

    def fail(problem: str) -> NoReturn:
        raise DeclarationError(f"{owner}.Agent.skills: {file}: {problem}.")

    if not directory.exists():
        fail(f"the skill directory {directory} does not exist")
    if not directory.is_dir():
        fail(f"{directory} is not a directory (a skill is a directory holding {SKILL_FILE})")
    if not file.is_file():
        fail(f"missing: the skill directory has no {SKILL_FILE}")
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    match = _FRONT_MATTER.match(text)
    if match is None:
        if text.startswith("---"):
            fail("the YAML front matter opened by '---' on line 1 is never closed by a '---' line")
        fail("no YAML front matter: the file must start with a '---' line, `name:` and `description:`, then '---'")
    try:
        front = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        fail(f"the front matter is not valid YAML: {_yaml_problem(exc)}")
    front = {} if front is None else front
    if not isinstance(front, dict):
        fail(f"the front matter must be a mapping of keys to values, got a {type(front).__name__}")
    unknown = sorted(str(k) for k in front if k not in FIELDS)
    if unknown:
        fail(f"unknown front matter key(s) {', '.join(unknown)}; valid keys are {', '.join(FIELDS)}")
    name = front.get("name")
    if name is None or name == "":
        fail("the front matter has no `name`")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        fail(f"name {name!r} must be 1-64 letters, digits, hyphens or underscores, starting with a letter")
    description = front.get("description")
    if description is None or (isinstance(description, str) and not description.strip()):
        fail("the front matter has no `description` (say what the skill does and when to use it)")
    if not isinstance(description, str) or len(description) > 1024:
        fail("`description` must be a string of at most 1024 characters")
    tool_name = name.replace("-", "_")
    if tool_name in tool_names:
        fail(f"the skill {name!r} has the name of {owner}'s tool {tool_name}; give the skill another name")
    tools = _tools(front.get("tools"), tool_names, confirm, owner, fail)
    body = text[match.end() :].strip()
    if not body:
        fail("no instructions: the Markdown body after the front matter is empty")
    references = _references(directory, fail)
    if references and READ_REFERENCE in (tool_names if tools == "inherit" else tools):
        fail(f"the tool {READ_REFERENCE} clashes with the tool that reads this skill's {REFERENCES}/")
    allowed = front.get("allowed-tools")
    if isinstance(allowed, str):
        allowed = allowed.split()
    if not (allowed is None or (isinstance(allowed, list) and all(isinstance(a, str) for a in allowed))):
        fail("`allowed-tools` must be a space-separated string or a list of tool names")
    for key in ("license", "compatibility"):
        if not isinstance(front.get(key), str | None):
            fail(f"`{key}` must be a string")
    metadata = front.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        fail("`metadata` must be a mapping with string keys")
    digest = hashlib.sha256()
    for rel, data in [(SKILL_FILE, raw), *((f"{REFERENCES}/{k}", v) for k, v in references.items())]:
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return Skill(
        name=name,
        description=description.strip(),
        tools=tools,
        instructions=body,
        path=directory,
        sha256=digest.hexdigest(),
        references=references,
        allowed_tools=tuple(allowed or ()),
        license=front.get("license"),
        compatibility=front.get("compatibility"),
        metadata=metadata,
    )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} (line {mark.line + 2} of the file)" if mark is not None else str(problem)


def _tools(
    value: Any, available: Sequence[str], confirm: Collection[str], owner: str, fail: Callable[[str], NoReturn]
) -> tuple[str, ...] | Literal["inherit"]:
    if value is None:
        return ()
    if value == "inherit":
        return "inherit"
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail(f"`tools` must be a list of {owner}'s tool names or 'inherit', got {value!r}")
    gated = [v for v in value if v in confirm]
    if gated:
        fail(
            f"`tools` lists {', '.join(gated)}, which needs the owner's approval (confirm); a skill's sub-agent "
            "cannot hold calls for approval, so skills may not use such tools"
        )
    unknown = [v for v in value if v not in available]
    if unknown:
        listing = ", ".join(available) or "none"
        fail(f"`tools` names unknown tool(s) {', '.join(unknown)}; {owner}'s tools are {listing}")
    return tuple(dict.fromkeys(value))


def _references(directory: Path, fail: Callable[[str], NoReturn]) -> dict[str, bytes]:
    """Every non-hidden file under references/, read now so the hash covers what the skill will read."""
    root = directory / REFERENCES
    if not root.is_dir():
        return {}
    real = root.resolve()
    found: dict[str, bytes] = {}
    for item in sorted(root.rglob("*")):
        rel = item.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not item.is_file():
            continue
        if not item.resolve().is_relative_to(real):
            fail(f"{REFERENCES}/{rel.as_posix()} resolves outside {REFERENCES}/ (a symlink?); copy the file in instead")
        found[rel.as_posix()] = item.read_bytes()
    return found


def recent_conversation(messages: Sequence[ModelMessage], limit: int = RECENT_MESSAGES) -> list[ModelMessage]:
    """The last `limit` user prompts and assistant texts of `messages`, rebuilt as plain text messages.

    Tool calls, tool results and system parts are left out, so the history has no dangling tool calls.
    """
    out: list[ModelMessage] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            texts = [_prompt_text(p) for p in message.parts if isinstance(p, UserPromptPart)]
            text = "\n\n".join(t for t in texts if t)
            if text.strip():
                out.append(ModelRequest(parts=[UserPromptPart(text)]))
        elif isinstance(message, ModelResponse):
            text = "".join(p.content for p in message.parts if isinstance(p, TextPart))
            if text.strip():
                out.append(ModelResponse(parts=[TextPart(text)]))
    return out[-limit:] if limit > 0 else []


def _prompt_text(part: UserPromptPart) -> str:
    if isinstance(part.content, str):
        return part.content
    return "\n".join(c for c in part.content if isinstance(c, str))


def skill_tool(skill: Skill, spec: AgentSpec, tools: Sequence[_PydanticTool[Any]]) -> _PydanticTool[Any]:
    """The parent agent's tool for `skill`, given the parent's converted `tools`.

    Its sub-agent gets the tools the skill lists, or for `inherit` every parent tool that needs no
    approval; never another skill.
    """
    if skill.tools == "inherit":
        sub_tools = [t for t in tools if t.name not in spec.confirm]
    else:
        by_name = {t.name: t for t in tools}
        sub_tools = [by_name[name] for name in skill.tools]
    instructions = skill.instructions
    if skill.references:
        sub_tools.append(_reference_tool(skill, spec.max_requests))
        listing = "\n".join(f"- {name}" for name in skill.references)
        instructions += f"\n\n## Reference files\n\nRead them with the {READ_REFERENCE} tool when needed:\n{listing}"
    agent: _PydanticAgent[Any, str] = _PydanticAgent(
        output_type=str,
        instructions=instructions,
        toolsets=[guarded(FunctionToolset(sub_tools), spec.loop_guard)],
        retries={"tools": spec.max_requests, "output": 3},
        model_settings=cast("ModelSettings | None", spec.model_settings or None),
        name=f"{spec.owner}.{skill.name}",
    )

    async def run_skill(ctx: RunContext[Any], task: str) -> ToolReturn:
        """Run the skill.

        Args:
            task: What you want the skill to do, with the details it needs.
        """
        # usage/usage_limits are the parent run's: the turn's request and token caps cover the sub-agent too.
        # the turn's plain model and earlier turns: ctx.model may carry the parent's encoded history,
        # and ctx.messages holds only the open turn when earlier turns are sent pre-encoded
        model = getattr(ctx.deps, "model", None) or ctx.model
        agent.instrument = tracing.instrumentation()  # its requests and tool calls nest in the skill's tool span
        earlier = getattr(ctx.deps, "earlier", [])
        result = await agent.run(
            task,
            model=cast(Model, model),
            deps=ctx.deps,
            message_history=recent_conversation([*earlier, *ctx.messages]),
            usage=ctx.usage,
            usage_limits=ctx.usage_limits,
        )
        new = result.new_messages()
        usage = Usage.of(new)
        cost = cost_of(new)
        return ToolReturn(
            return_value=result.output,
            metadata={
                "skill": skill.name,
                "sha256": skill.sha256,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "requests": usage.requests,
                "cost": None if cost is None else str(cost),
            },
        )

    return _PydanticTool(
        run_skill, takes_ctx=True, name=skill.tool_name, description=skill.description, max_retries=spec.max_requests
    )


def _reference_tool(skill: Skill, max_retries: int) -> _PydanticTool[Any]:
    def read_reference(name: str) -> str:
        """Read one of this skill's reference files.

        Args:
            name: The file's name as listed under "Reference files".
        """
        try:
            return skill.read_reference(name)
        except (PermissionError, FileNotFoundError) as exc:
            raise ModelRetry(str(exc)) from exc

    return _PydanticTool(read_reference, name=READ_REFERENCE, max_retries=max_retries)
