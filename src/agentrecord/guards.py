"""Loop guard: a tool called again with the same arguments in one turn is not run a third time.

A model stuck in a loop keeps asking for the same thing; instead of running the call again (and
placing the same order again), the guard answers it with a note telling the model to change course.
The hard request cap (`max_requests`) and the per-turn token and cost limits live in the turn.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

log = logging.getLogger("agentrecord.guards")

DEFAULT_THRESHOLD = 3


def repeated_call_note(name: str, times: int) -> str:
    """What the model is told instead of the result of a repeated call."""
    return (
        f"Not run: you already called {name} with exactly these arguments {times - 1} times in this turn, and "
        "calling it again will not change the result. Use the results you already have, change the arguments, "
        "or answer the user."
    )


@dataclass
class LoopGuard(WrapperToolset[Any]):
    """Wraps an agent's tools; counts (tool, arguments) per turn in `ctx.deps.calls`."""

    threshold: int = DEFAULT_THRESHOLD

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        counts: Counter[str] | None = getattr(ctx.deps, "calls", None)
        if counts is not None and self.threshold > 0:
            key = name + json.dumps(tool_args, sort_keys=True, default=str)
            counts[key] += 1
            if counts[key] >= self.threshold:
                log.warning("loop guard: %s called %d times with the same arguments", name, counts[key])
                return repeated_call_note(name, counts[key])
        return await super().call_tool(name, tool_args, ctx, tool)


def guarded(toolset: AbstractToolset[Any], threshold: int) -> AbstractToolset[Any]:
    """`toolset` behind a loop guard (or unchanged when the threshold is 0)."""
    return LoopGuard(toolset, threshold=threshold) if threshold > 0 else toolset
