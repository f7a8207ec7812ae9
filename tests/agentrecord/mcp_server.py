"""A small real MCP server for tests, built on the `mcp` package's own server.

    python tests/agentrecord/mcp_server.py stdio          # speaks MCP on stdin/stdout
    python tests/agentrecord/mcp_server.py http PORT      # streamable HTTP on http://127.0.0.1:PORT/mcp

Its tools: `stock_price` (a fixed price), `wire_funds` (for approval tests: it appends to the file named by
MCP_TEST_LEDGER, so a test sees whether it ran), `hang` (never answers) and `crash` (the server exits mid-call).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("market-data", log_level="WARNING")  # quiet: no access log into the test process's output


@server.tool()
def stock_price(symbol: str) -> dict[str, Any]:
    """The latest price of a ticker symbol."""
    return {"symbol": symbol.upper(), "price": 190.25, "source": "mcp"}


@server.tool()
def wire_funds(account: str, amount: float) -> str:
    """Wire money to an account."""
    with open(os.environ.get("MCP_TEST_LEDGER", os.devnull), "a", encoding="utf-8") as ledger:
        ledger.write(f"{account} {amount}\n")
    return f"sent {amount} to {account}"


@server.tool()
def hang() -> str:
    """Never answers."""
    time.sleep(3600)
    return "late"


@server.tool()
def crash() -> str:
    """The server process dies while answering."""
    os._exit(3)


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
