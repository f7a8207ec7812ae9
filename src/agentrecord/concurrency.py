"""Tool concurrency, the `concurrency` option of `class Agent:`: how one response's tool calls run.

    call     one after another, in the order the model asked for them
    thread   concurrently (the default); each sync tool call in a worker thread, async tools as tasks
             on the runtime loop
    async    the same schedule, declared for async tools: they run as tasks on the runtime loop, and
             sync tools still get worker threads so they never block it
    process  concurrently; each sync tool call in a shared pool of worker processes (one per CPU,
             started with spawn), async tools on the runtime loop

A Tool with `sequential = True` runs alone under every mode: the calls before it finish first, the
ones after it wait. Under `process`, call `warm_up(*agent_classes)` at start-up so the first calls
do not wait for the workers to boot.
"""

from __future__ import annotations

from ._process_pool import size, warm_up

__all__ = ["size", "warm_up"]
