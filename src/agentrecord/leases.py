"""Run leases, whatever stores them: who holds one (`host:pid:nonce`), whether that holder is gone, and
the wait to take one.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from .errors import AgentBusy

HOST = os.environ.get("AGENTRECORDHOSTNAME") or socket.gethostname()
"""This machine's name in lease owners; AGENTRECORDHOSTNAME overrides it (containers sharing a hostname)."""
LEASE_ADVICE = "If turns legitimately block this long, raise `lease_ttl` in the agent's declaration."

L = TypeVar("L")


def new_owner() -> str:
    """A fresh lease owner naming this process."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_is_dead(owner: str | None) -> bool:
    """True when the lease holder is a process on this host that no longer exists."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    return pid_text.isdigit() and process_gone(host, int(pid_text))


def process_gone(host: str, pid: int) -> bool:
    """True when `pid` on `host` is a process of this machine (not this one) that no longer exists."""
    if host != HOST or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def take(
    try_take: Callable[[str], L | str | None],
    break_lease: Callable[[str], None],
    label: str,
    wait: float,
    kind: type[L],
) -> L:
    """Take a lease with `try_take(owner)` (it returns the lease, or the current holder), waiting up to `wait`
    seconds; a holder that is a dead process of this machine is broken at once rather than waited out."""
    owner = new_owner()
    start = time.monotonic()
    delay = 0.005
    while True:
        got = try_take(owner)
        if isinstance(got, kind):
            return got
        if isinstance(got, str) and owner_is_dead(got):
            break_lease(got)
            continue
        waited = time.monotonic() - start
        if waited >= wait:
            raise AgentBusy(label, waited)
        await asyncio.sleep(min(delay, max(0.0, wait - waited)))
        delay = min(delay * 2, 0.25)
