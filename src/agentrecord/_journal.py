"""The tool-result journal of a job's turn: each finished tool call's result is saved the moment it returns.

A turn saves a response's tool calls before running them, and their results with the next step. A
job whose worker dies between the two resumes from the saved response and runs its calls again;
the journal is what lets a call that had already finished answer from its saved result instead of
running twice. It lives in the agent's state (`extra["results"]`, keyed by call id) and is emptied
once the results are saved as a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_ai import RunContext, ToolReturn
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool
from pydantic_core import to_jsonable_python

if TYPE_CHECKING:
    from .state import Lease
    from .target import Target

_KEY = "results"


class Journal:
    """The saved results of one turn's tool calls, written under the turn's lease."""

    def __init__(self, target: Target, lease: Lease) -> None:
        self.target = target
        self.lease = lease

    def get(self, call_id: str) -> tuple[bool, Any]:
        """(found, result) for `call_id`."""
        saved = self.lease.state.extra.get(_KEY, {}).get(call_id)
        if not isinstance(saved, dict):
            return False, None
        if saved.get("t") == "tool_return":
            return True, ToolReturn(
                saved.get("return_value"), content=saved.get("content"), metadata=saved.get("metadata")
            )
        return True, saved.get("v")

    def put(self, call_id: str, result: Any) -> None:
        """Save `result` as the answer of `call_id` (one short transaction)."""
        if isinstance(result, ToolReturn):
            entry = {
                "t": "tool_return",
                "return_value": to_jsonable_python(result.return_value, fallback=str),
                "content": to_jsonable_python(result.content, fallback=str),
                "metadata": to_jsonable_python(result.metadata, fallback=str),
            }
        else:
            entry = {"t": "value", "v": to_jsonable_python(result, fallback=str)}
        state = self.lease.state
        state.extra = {**state.extra, _KEY: {**state.extra.get(_KEY, {}), call_id: entry}}
        t = self.target
        t.store.renew(t.engine, t.agent_id, self.lease, t.spec.lease_ttl, state=True)


def clear(extra: dict[str, Any]) -> None:
    """Forget the journal once the results it holds are saved as a message."""
    extra.pop(_KEY, None)


@dataclass
class Journaled(WrapperToolset[Any]):
    """Answers a call from the turn's journal if it finished before; otherwise runs it and journals the result."""

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        journal: Journal | None = getattr(ctx.deps, "journal", None)
        if journal is None or not ctx.tool_call_id:
            return await super().call_tool(name, tool_args, ctx, tool)
        found, result = journal.get(ctx.tool_call_id)
        if found:
            return result
        result = await super().call_tool(name, tool_args, ctx, tool)
        journal.put(ctx.tool_call_id, result)
        return result


def journaled(toolset: AbstractToolset[Any]) -> AbstractToolset[Any]:
    return Journaled(toolset)
