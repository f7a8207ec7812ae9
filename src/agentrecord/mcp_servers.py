"""MCP servers as tool sources: `mcp = [MCP(...)]` in an agent's declaration, connected for each turn.

A server is started (stdio: a command) or reached (streamable HTTP: a URL) before the turn takes its lease, through
pydantic-ai's `MCPToolset` (FastMCP's client over the `mcp` package). If it cannot be, the turn does not start:
`MCPServerUnavailable` names the server. Its tools then join the turn beside the declared ones, behind the same
approval rules (`confirm` may name them), loop guard, request cap and concurrency (they are async calls on the
runtime loop). A server that fails or stops answering during a call gives the model a tool error naming it, after
at most the server's `call_timeout`; the connection closes when the turn ends.

An entry of `mcp` may also be a callable taking the record and returning an `MCP` (or None to skip it), so each
record can bring its own credentials: `lambda record: MCP("crm", url=..., headers={"Authorization": record.token})`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_ai import ModelRetry, RunContext
from pydantic_ai.exceptions import ApprovalRequired, CallDeferred, ToolFailed
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import AbstractToolset, CombinedToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

from ._journal import journaled
from .approvals import approval_check
from .errors import DeclarationError, MCPServerUnavailable
from .guards import guarded

if TYPE_CHECKING:
    from pydantic_ai.mcp import MCPToolset

    from .declaration import AgentSpec

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class MCP:
    """An MCP server: `command` starts it and speaks stdio, or `url` reaches it over streamable HTTP."""

    name: str
    """How errors and traces name the server."""
    command: Sequence[str] | None = None
    url: str | None = None
    env: Mapping[str, str] | None = field(default=None, repr=False)
    """Environment of a stdio server (besides a minimal default: PATH, HOME, ...). Never logged or traced."""
    cwd: str | None = None
    headers: Mapping[str, str] | None = field(default=None, repr=False)
    """HTTP headers for a URL server, e.g. a bearer token. Never logged or traced."""
    timeout: float = 10.0
    """Seconds to start or reach the server and list its tools."""
    call_timeout: float = 60.0
    """Seconds one tool call may take before it is a tool error."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise DeclarationError(f"MCP server name {self.name!r}: use 1-64 letters, digits, '_', '-' or '.'.")
        if (self.command is None) == (self.url is None):
            raise DeclarationError(f"MCP server {self.name!r}: give exactly one of `command` (stdio) or `url` (HTTP).")
        if self.command is not None and (isinstance(self.command, str) or not self.command):
            raise DeclarationError(
                f"MCP server {self.name!r}: `command` is a list, the program then its arguments, "
                f"e.g. ['python', 'server.py']; got {self.command!r}."
            )
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise DeclarationError(f"MCP server {self.name!r}: `url` must start with http:// or https://.")
        for key in ("timeout", "call_timeout"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise DeclarationError(f"MCP server {self.name!r}: `{key}` must be seconds > 0, got {value!r}.")

    @property
    def where(self) -> str:
        """The server's command or URL, for error messages (arguments and query strings left out)."""
        if self.command is not None:
            return f"command {self.command[0]!r}"
        return f"URL {str(self.url).split('?')[0]}"

    def toolset(self) -> MCPToolset[Any]:
        """pydantic-ai's toolset for this server (not connected yet)."""
        try:
            from pydantic_ai.mcp import MCPToolset
        except ImportError:
            raise DeclarationError(
                f"MCP server {self.name!r}: MCP support is not installed; pip install 'agentrecord[mcp]'."
            ) from None

        client: Any
        if self.command is not None:
            from fastmcp.client.transports import StdioTransport

            client = StdioTransport(
                command=str(self.command[0]),
                args=[str(a) for a in self.command[1:]],
                env=dict(self.env) if self.env else None,
                cwd=self.cwd,
                keep_alive=False,
            )
        else:
            from fastmcp.client.transports import StreamableHttpTransport

            client = StreamableHttpTransport(str(self.url), headers=dict(self.headers) if self.headers else None)
        return MCPToolset(client, id=self.name, init_timeout=self.timeout, read_timeout=self.call_timeout)


Entry = MCP | Callable[[Any], MCP | None]


def parse(owner: str, value: Any) -> list[Entry]:
    """The `mcp` option: a list of `MCP` servers and callables taking the record and returning one."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise DeclarationError(f"{owner}.Agent.mcp must be a list of MCP(...) servers, got {value!r}.")
    entries: list[Entry] = []
    for item in value:
        if isinstance(item, staticmethod):
            item = item.__func__
        if not (isinstance(item, MCP) or callable(item)):
            raise DeclarationError(
                f"{owner}.Agent.mcp entries are MCP(name, command=[...] or url=...) or a callable taking the record "
                f"and returning one; got {item!r}."
            )
        entries.append(item)
    return entries


def servers_of(spec: AgentSpec, record: Any, label: str) -> list[MCP]:
    """The record's servers: the declared ones, and what each factory returns for it."""
    found: list[MCP] = []
    for entry in spec.mcp:
        server = entry if isinstance(entry, MCP) else entry(record)
        if server is None:
            continue
        if not isinstance(server, MCP):
            raise DeclarationError(f"{label}: an `mcp` factory returned {type(server).__name__}, not an MCP server.")
        found.append(server)
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        raise DeclarationError(f"{label}: two MCP servers are named the same ({', '.join(names)}).")
    return found


@dataclass
class _Reported(WrapperToolset[Any]):
    """An MCP server's tools, whose failures (a dead server, a timeout) reach the model as tool errors."""

    server: str = ""

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        try:
            return await super().call_tool(name, tool_args, ctx, tool)
        except (ToolFailed, CallDeferred, ApprovalRequired):
            raise
        except ModelRetry as exc:  # the tool reported an error, or the server did not answer in time
            raise ModelRetry(f"Tool {name} failed on the MCP server {self.server!r}: {exc.message}") from None
        except Exception as exc:
            detail = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise ModelRetry(f"Tool {name} failed: the MCP server {self.server!r} failed ({detail}).") from None


@contextlib.asynccontextmanager
async def connected(spec: AgentSpec, servers: list[MCP], label: str) -> AsyncIterator[list[AbstractToolset[Any]]]:
    """Connect `servers` and yield their tools as the turn's extra toolsets (empty: no server).

    Raises `MCPServerUnavailable` naming the first server that cannot be started or reached, before anything runs.
    """
    if not servers:
        yield []
        return
    async with contextlib.AsyncExitStack() as stack:
        found: dict[str, str] = {}
        toolsets: list[AbstractToolset[Any]] = []
        for server in servers:
            toolset = server.toolset()
            try:
                await stack.enter_async_context(toolset)
                tools = await toolset.list_tools()
            except Exception as exc:
                raise MCPServerUnavailable(label, server.name, server.where, exc) from None
            for tool in tools:
                if tool.name in found:
                    raise DeclarationError(
                        f"{label}: the MCP servers {found[tool.name]!r} and {server.name!r} both offer a tool named "
                        f"{tool.name!r}."
                    )
                found[tool.name] = server.name
            toolsets.append(_Reported(toolset, server=server.name))
        local = spec.tool_names()
        clashes = sorted(set(found) & local)
        if clashes:
            raise DeclarationError(
                f"{label}: the MCP server {found[clashes[0]]!r} offers {', '.join(clashes)}, a name of a declared tool."
            )
        unknown = sorted(set(spec.confirm) - local - set(found))
        if unknown:
            raise DeclarationError(
                f"{label}: Agent.confirm names {', '.join(unknown)}, which is neither a declared tool nor a tool of "
                f"its MCP servers ({', '.join(sorted(found)) or 'none'})."
            )
        yield [journaled(guarded(_gated(CombinedToolset(toolsets), spec), spec.loop_guard))]


def _gated(toolset: AbstractToolset[Any], spec: AgentSpec) -> AbstractToolset[Any]:
    """The MCP tools `confirm` names wait for the owner's approval, like declared tools."""
    if not spec.confirm:
        return toolset
    check = approval_check(spec.confirm)

    def needs_approval(ctx: RunContext[Any], tool_def: ToolDefinition, args: dict[str, Any]) -> bool:
        return tool_def.name in spec.confirm and check(ctx, tool_def, args)

    return toolset.approval_required(needs_approval)
