"""How a tool call runs for pydantic-ai: the tool wrapped with its schema, on the turn's loop (async), in a
worker thread, or in the process pool, each call with a freshly loaded record and errors returned to the model.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, get_type_hints

from pydantic_ai import ModelRetry, RunContext
from pydantic_ai import Tool as _PydanticTool
from pydantic_core import PydanticSerializationError, to_jsonable_python

from .ports import Binding, binding_of
from .tools import Tool, ToolContext, _FunctionTool, tool_name_of

log = logging.getLogger("agentrecord.tools")


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


def binding(deps: Any) -> Binding:
    """The turn's binding (`TurnDeps.binding`), else its record class's."""
    found: Binding | None = getattr(deps, "binding", None)
    return found or binding_of(type(deps.record))


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
        deps, through = ctx.deps, binding(ctx.deps)
        with through.own(type(deps.record), (deps.agent_id,), deps.engine) as record:
            instance = copy.copy(template)
            instance._context = ToolContext(record=record, engine=deps.engine, binding=through, **origin(ctx))
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
        from . import _process_pool  # the pool only when a process-concurrency agent calls

        async def process_wrapper(ctx: RunContext[Any], **kwargs: Any) -> Any:
            deps = ctx.deps
            return await _process_pool.call(
                template,
                kwargs,
                record_class=type(deps.record),
                key=(deps.agent_id,),
                bind=deps.engine,
                binding=binding(deps),
                origin=origin(ctx),
            )

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
