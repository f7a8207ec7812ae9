"""Schemathesis against the live app's `/openapi.json`: no operation answers 5xx, whatever it is sent.

Every operation in the schema is exercised (nothing excluded), with valid and invalid data, as a
signed-in user with a bearer token; operations on an agent are exercised a second time on the user's
real agent, so turns actually run (on a real worker process) instead of stopping at 404.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from tradedesk.web import create_app

from .world import Platform, routes

pytestmark = pytest.mark.timeout(180)
EXAMPLES = 10
"""Examples per operation, per generation mode and per strategy: the run stays well under a minute."""


def model(body: dict[str, Any]) -> str:  # the model of `web` (conftest.py)
    return "Noted; nothing to trade."


def test_no_operation_answers_a_server_error(web: Platform) -> None:
    api = web.user("fuzz@example.com")
    token = str(api.headers["Authorization"])
    agent = api.post("/api/agents", json={"kind": "daytrader", "provider": "openai"}).json()
    schema = schemathesis.openapi.from_url(f"{web.base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    app = {f"{m} {p}" for m, p in routes(create_app(web.url)) if p.startswith("/api/") and p != "/api/docs"}
    assert {op.label for op in operations} == app  # every API route is in the schema, and so fuzzed
    strategies = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(generation_mode=mode))
            if "{kind}" in operation.path:
                mine = {"kind": agent["kind"], "agent_id": agent["id"]}
                strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=mine))
    failures: list[str] = []
    started = time.monotonic()
    calls = unsatisfiable = 0

    for strategy in strategies:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def exercise(case: schemathesis.Case[Any]) -> None:
            nonlocal calls
            response = case.call(base_url=web.base, headers={"Authorization": token}, timeout=60)
            calls += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.operation.label}: {response.status_code} {response.text[:200]} <- {case.as_curl_command()}"
                )

        try:
            exercise()
        except Unsatisfiable:  # negative mode on an operation with no input to break (GET /api/agents): no case
            unsatisfiable += 1
    elapsed = time.monotonic() - started
    assert failures == [], "\n".join(failures[:20])
    assert unsatisfiable <= 12 and calls >= 4 * len(strategies) and elapsed < 90, (unsatisfiable, calls, elapsed)
