"""What a running turn tells its listeners: the model's text as it arrives, tool calls and results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic_ai import Agent as _PydanticAgent
from pydantic_ai.messages import (
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
)
from pydantic_core import to_jsonable_python

from .target import OnEvent


async def report(
    node: Any, run: Any, on_text: Callable[[str], None] | None, on_event: OnEvent | None, *, deltas: bool = True
) -> None:
    """Stream `node` for the listeners: the model's text as it arrives, tool calls and results as they happen.

    Without `deltas` (and `on_text`) the request is not streamed: `on_event` gets each response's text whole.
    """
    streamed: Any = node  # the node's event types depend on the agent's generic parameters
    if _PydanticAgent.is_model_request_node(node):
        if on_text is None and not deltas:
            return
        async with streamed.stream(run.ctx) as events:
            async for event in events:
                if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                    text = event.part.content
                elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                    text = event.delta.content_delta
                else:
                    continue
                if text and on_text is not None:
                    on_text(text)
                if text and on_event is not None and deltas:
                    on_event({"kind": "text", "text": text})
    elif on_event is not None and _PydanticAgent.is_call_tools_node(node):
        if not deltas and (text := "".join(p.content for p in node.model_response.parts if isinstance(p, TextPart))):
            on_event({"kind": "text", "text": text})
        async with streamed.stream(run.ctx) as events:
            async for event in events:
                if isinstance(event, FunctionToolCallEvent):
                    call = event.part
                    on_event(
                        {
                            "kind": "tool_call",
                            "tool": call.tool_name,
                            "args": call.args_as_dict(),
                            "call_id": call.tool_call_id,
                        }
                    )
                elif isinstance(event, FunctionToolResultEvent):
                    part = event.part
                    meta = part.metadata if isinstance(part.metadata, dict) else {}
                    on_event(
                        {
                            "kind": "tool_result",
                            "tool": part.tool_name,
                            "call_id": part.tool_call_id,
                            "result": to_jsonable_python(part.content, fallback=str),
                            "skill": meta.get("skill") if "sha256" in meta else None,
                        }
                    )
