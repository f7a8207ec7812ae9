"""The JSON API's contract over real HTTP: route names, reply documents, statuses, and `{error}` on every failure.

Turns run on a real `tradedesk worker` process against a scripted OpenAI-compatible server (the model's
decisions are the only double). One platform serves the module; each test signs up its own user.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

import agentrecord
from tests.agentrecord.openai_server import Step, ToolCall
from tradedesk.agents.models import Daytrader

from .conftest import signed_up
from .world import Platform, platform

pytestmark = pytest.mark.timeout(240)
BUY = re.compile(r"buy (\d+) ([A-Z]+)")


def model(body: dict[str, Any]) -> Step:
    """ "buy N SYM": one market buy, then "Done: <prompt>." (or "Not done (<why>)" when denied); anything else: an
    answer in a few words."""
    messages = body["messages"]
    prompt = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    if messages[-1]["role"] == "tool":
        result = str(messages[-1]["content"])
        return f"Done: {prompt}." if "status" in result else f"Not done ({result}): {prompt}."
    found = BUY.search(str(prompt))
    if found:
        return ToolCall("order_entry", {"symbol": found.group(2), "side": "buy", "quantity": int(found.group(1))})
    return f"You said {prompt!r}; nothing to trade."


@pytest.fixture(scope="module")  # stays local: one platform for the whole module, not conftest's one per test
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with platform(tmp_path_factory.mktemp("api"), model) as running:
        yield running


def error_of(response: httpx.Response, status: int) -> str:
    """The one-line error of a failed call, checked to be JSON `{error}` with `status`."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert list(doc) == ["error"] and isinstance(doc["error"], str) and doc["error"], doc
    assert "Traceback" not in doc["error"] and "\n" not in doc["error"]
    return str(doc["error"])


def new_agent(api: httpx.Client, kind: str = "daytrader", provider: str = "openai") -> dict[str, Any]:
    response = api.post("/api/agents", json={"kind": kind, "provider": provider})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def talk(api: httpx.Client, agent: dict[str, Any], prompt: str) -> httpx.Response:
    return api.post(f"/api/agents/{agent['kind']}/{agent['id']}/messages", json={"prompt": prompt})


def job_settles(api: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, Any] = api.get(f"/api/jobs/{job_id}").json()
        if doc["status"] in ("done", "failed", "cancelled", "waiting_approval") or time.monotonic() > deadline:
            return doc
        time.sleep(0.1)


def sse_events(response: httpx.Response) -> list[tuple[str, Any]]:
    events = []
    for block in response.text.split("\n\n"):
        name = next((line[7:] for line in block.splitlines() if line.startswith("event: ")), None)
        data = next((line[6:] for line in block.splitlines() if line.startswith("data: ")), None)
        if name is not None and data is not None:
            events.append((name, json.loads(data)))
    return events


# -- accounts and tokens ---------------------------------------------------------------------------


def test_signup_and_login_answer_a_token_and_refuse_bad_credentials_in_one_line(web: Platform) -> None:
    signup = httpx.post(f"{web.base}/api/signup", json={"email": "Ann@Example.com", "password": "correct horse"})
    assert signup.status_code == 201 and list(signup.json()) == ["token"]
    login = httpx.post(f"{web.base}/api/login", json={"email": "ann@example.com", "password": "correct horse"})
    assert login.status_code == 200 and list(login.json()) == ["token"]
    assert login.json()["token"] != signup.json()["token"]
    for token in (signup.json()["token"], login.json()["token"]):
        assert httpx.get(f"{web.base}/api/agents", headers={"Authorization": f"Bearer {token}"}).json() == []
    wrong = httpx.post(f"{web.base}/api/login", json={"email": "ann@example.com", "password": "not the one"})
    assert error_of(wrong, 401) == "Wrong email or password."
    taken = httpx.post(f"{web.base}/api/signup", json={"email": "ann@example.com", "password": "correct horse"})
    assert "already exists" in error_of(taken, 409)
    assert "Not an email" in error_of(
        httpx.post(f"{web.base}/api/signup", json={"email": "no-at-sign", "password": "correct horse"}), 422
    )
    assert "at least 8" in error_of(
        httpx.post(f"{web.base}/api/signup", json={"email": "short@example.com", "password": "short"}), 422
    )
    assert "password" in error_of(httpx.post(f"{web.base}/api/signup", json={"email": "x@example.com"}), 422)
    assert error_of(
        httpx.post(f"{web.base}/api/login", content=b"{not json", headers={"content-type": "application/json"}), 422
    )


def test_a_token_revoked_in_settings_is_refused_and_cookie_calls_need_the_csrf_header(web: Platform) -> None:
    browser = signed_up(web.base, "tokens@example.com")
    made = browser.form("/settings/tokens", {"name": "script"})
    token = re.search(r'<code id="new-token">(tdk_[^<]+)</code>', made.text)
    assert token is not None, made.text[:500]
    bearer = {"Authorization": f"Bearer {token.group(1)}"}
    assert httpx.get(f"{web.base}/api/agents", headers=bearer).status_code == 200
    # a bearer call changes state without any CSRF token
    assert httpx.post(f"{web.base}/api/agents", json={"kind": "daytrader"}, headers=bearer).status_code == 201
    # the browser's cookie reaches the API too, but a change needs X-CSRF-Token
    refused = browser.post("/api/agents", json={"kind": "daytrader"})
    assert "reload the page" in error_of(refused, 403)
    assert "reload the page" in error_of(
        browser.post("/api/agents", json={"kind": "daytrader"}, headers={"X-CSRF-Token": "forged"}), 403
    )
    assert (
        browser.post("/api/agents", json={"kind": "daytrader"}, headers={"X-CSRF-Token": browser.csrf}).status_code
        == 201
    )
    assert len(browser.get("/api/agents").json()) == 2  # reads need no CSRF token
    (token_id,) = re.findall(r'action="/settings/tokens/(\d+)/revoke"', browser.page("/settings").text)
    revoked = browser.form(f"/settings/tokens/{token_id}/revoke")
    assert revoked.status_code == 200 and "Revoked" in revoked.text
    assert "not valid" in error_of(httpx.get(f"{web.base}/api/agents", headers=bearer), 401)
    assert "not valid" in error_of(
        httpx.post(f"{web.base}/api/agents", json={"kind": "daytrader"}, headers=bearer), 401
    )
    again = browser.form(f"/settings/tokens/{token_id}/revoke")
    assert again.status_code == 404  # revoking twice: it is no longer a live token of yours
    browser.close()


# -- agents ------------------------------------------------------------------------------------------


def test_agents_are_created_listed_and_fetched_and_bad_input_is_422(web: Platform) -> None:
    api = web.user("agents@example.com")
    trader = new_agent(api)
    investor = new_agent(api, "stock_investor")
    assert (trader["agent"], trader["provider"], trader["status"]) == (f"daytrader/{trader['id']}", "openai", "idle")
    assert investor["kind"] == "stock_investor" and investor["pending_approvals"] == 0
    assert [a["agent"] for a in api.get("/api/agents").json()] == [trader["agent"], investor["agent"]]
    one = api.get(f"/api/agents/daytrader/{trader['id']}").json()
    assert one["agent"] == trader["agent"] and one["next_run"] is None and one["approval_threshold"] == "10000.00"
    assert "kind" in error_of(api.post("/api/agents", json={"kind": "robot"}), 422)
    assert "has no key" in error_of(api.post("/api/agents", json={"kind": "daytrader", "provider": "anthropic"}), 422)
    assert error_of(api.post("/api/agents", json={"kind": "daytrader", "provider": "no-such-ai"}), 422)
    assert error_of(api.post("/api/agents", json={"kind": "daytrader", "model": ""}), 422)
    assert error_of(api.post("/api/agents", json=["daytrader"]), 422)
    assert error_of(api.get(f"/api/agents/daytrader/{investor['id'] + 100}"), 404) == (
        f"No agent daytrader/{investor['id'] + 100}."
    )
    assert error_of(api.get("/api/agents/robot/1"), 404)
    assert error_of(api.get("/api/agents/daytrader/abc"), 422)
    assert error_of(api.get("/api/nothing-here"), 404) == "Not found."
    assert error_of(api.put("/api/agents"), 405) == "Method not allowed."


# -- turns -------------------------------------------------------------------------------------------


def test_a_message_runs_a_turn_on_a_worker_and_answers_the_reply_with_tool_calls_usage_and_cost(
    web: Platform,
) -> None:
    api = web.user("turns@example.com")
    trader = new_agent(api)
    response = talk(api, trader, "buy 3 AAPL")
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["agent"] == trader["agent"] and reply["status"] == "done" and reply["job"]
    assert reply["reply"] == "Done: buy 3 AAPL."
    (used,) = reply["tool_calls"]
    assert used["tool"] == "order_entry" and used["args"] == {"symbol": "AAPL", "side": "buy", "quantity": 3}
    assert used["result"]["status"] == "filled"
    assert reply["pending"] == []
    usage = reply["usage"]
    assert usage["requests"] == 2 and usage["input_tokens"] == 22 and usage["output_tokens"] == 14
    assert usage["total_tokens"] == 36
    assert "cost" in reply
    assert api.get(f"/api/jobs/{reply['job']}").json()["status"] == "done"
    row = api.get(f"/api/agents/daytrader/{trader['id']}").json()
    assert row["total_tokens"] == 36 and row["status"] == "idle"
    orders = api.get("/api/orders").json()
    assert [(o["symbol"], o["quantity"], o["status"], o["agent"]) for o in orders] == [
        ("AAPL", 3, "filled", trader["agent"])
    ]
    assert [o["id"] for o in api.get("/api/orders", params={"status": "filled"}).json()] == [orders[0]["id"]]
    assert api.get("/api/orders", params={"status": "new"}).json() == []
    assert "Unknown order status" in error_of(api.get("/api/orders", params={"status": "lost"}), 422)
    book = api.get("/api/portfolio").json()
    assert [(p["symbol"], p["quantity"]) for p in book["positions"]] == [("AAPL", 3)]
    assert "today_pnl" in book and "equity" in book and "cash" in book
    assert "empty" in error_of(talk(api, trader, "   "), 422)


def test_the_history_pages_back_with_next_before(web: Platform) -> None:
    api = web.user("history@example.com")
    trader = new_agent(api)
    for word in ("one", "two", "three"):
        assert talk(api, trader, word).status_code == 200
    path = f"/api/agents/daytrader/{trader['id']}/messages"
    everything = api.get(path, params={"limit": 200}).json()
    assert everything["next_before"] is None
    texts = [p["text"] for m in everything["messages"] for p in m["parts"]]
    assert texts == [
        "one",
        "You said 'one'; nothing to trade.",
        "two",
        "You said 'two'; nothing to trade.",
        "three",
        "You said 'three'; nothing to trade.",
    ]
    assert [m["role"] for m in everything["messages"]] == ["user", "agent"] * 3
    pages: list[list[dict[str, Any]]] = []
    before = None
    while True:
        page = api.get(path, params={"limit": 4} | ({"before": before} if before is not None else {})).json()
        assert 1 <= len(page["messages"]) <= 4
        pages.insert(0, page["messages"])
        before = page["next_before"]
        if before is None:
            break
        assert before == page["messages"][0]["seq"]
    assert [len(p) for p in pages] == [2, 4]
    assert [m for p in pages for m in p] == everything["messages"]
    assert api.get(path, params={"limit": 1}).json()["messages"][0]["parts"][0]["text"].startswith("You said 'three'")


def test_with_accept_event_stream_the_reply_streams_as_deltas_then_the_reply(web: Platform) -> None:
    api = web.user("stream@example.com")
    trader = new_agent(api)
    path = f"/api/agents/daytrader/{trader['id']}/messages"
    chat = api.post(path, json={"prompt": "hello there"}, headers={"Accept": "text/event-stream"})
    assert chat.status_code == 200 and chat.headers["content-type"].startswith("text/event-stream")
    events = sse_events(chat)
    names = [name for name, _ in events]
    assert names[-1] == "reply" and names.count("delta") >= 2 and set(names) == {"delta", "reply"}, names
    reply = events[-1][1]
    assert "".join(data["text"] for name, data in events if name == "delta") == reply["reply"]
    assert reply["reply"] == "You said 'hello there'; nothing to trade." and reply["status"] == "done"
    buy = api.post(path, json={"prompt": "buy 2 MSFT"}, headers={"Accept": "text/event-stream"})
    events = sse_events(buy)
    names = [name for name, _ in events]
    assert names.index("tool_call") < names.index("tool_result") < names.index("reply"), names
    call = dict(events[names.index("tool_call")][1])
    assert call["tool"] == "order_entry" and call["args"]["symbol"] == "MSFT"
    assert events[names.index("tool_result")][1]["result"]["status"] == "filled"
    assert events[-1][1]["reply"] == "Done: buy 2 MSFT."


def test_a_failing_provider_is_502_as_json_and_as_an_sse_error(web: Platform) -> None:
    api = web.user("broken@example.com")
    agent = new_agent(api, provider="llamacpp")
    failed = talk(api, agent, "hello")
    assert error_of(failed, 502).startswith("The turn failed"), failed.text
    assert len(web.broken.requests) >= 1 and "500" in error_of(failed, 502)
    streamed = api.post(
        f"/api/agents/daytrader/{agent['id']}/messages",
        json={"prompt": "again"},
        headers={"Accept": "text/event-stream"},
    )
    events = sse_events(streamed)
    assert events[-1][0] == "error" and events[-1][1]["error"].startswith("The turn failed"), events


# -- approvals ---------------------------------------------------------------------------------------


def test_a_held_order_is_listed_approved_once_and_a_second_decision_is_409(web: Platform) -> None:
    api = web.user("approvals@example.com")
    trader = new_agent(api)
    held = talk(api, trader, "buy 100 AAPL")  # over the $10,000 approval threshold
    assert held.status_code == 200, held.text
    doc = held.json()
    assert doc["status"] == "waiting_approval"
    (pending,) = doc["pending"]
    assert pending["tool"] == "order_entry" and pending["args"]["quantity"] == 100
    (listed,) = api.get("/api/approvals").json()
    assert listed["call_id"] == pending["call_id"] and listed["agent"] == trader["agent"]
    assert float(listed["notional"]) > 10_000 and listed["requested_at"]
    assert api.get(f"/api/agents/daytrader/{trader['id']}").json()["status"] == "waiting_approval"
    assert "waiting for your decision" in error_of(talk(api, trader, "buy 1 AAPL"), 409)
    approved = api.post(f"/api/approvals/{pending['call_id']}/approve")
    assert approved.status_code == 200, approved.text
    decision = approved.json()  # the resumed turn's reply, as a message's
    assert decision["decision"] == "approved" and decision["call_id"] == pending["call_id"]
    assert decision["job"] == doc["job"] and decision["status"] == "done"
    assert decision["reply"] == "Done: buy 100 AAPL." and decision["pending"] == []
    (used,) = decision["tool_calls"]
    assert used["tool"] == "order_entry" and used["result"]["status"] == "filled"
    assert decision["usage"]["total_tokens"] > 0 and "cost" in decision
    assert [(o["quantity"], o["status"]) for o in api.get("/api/orders").json()] == [(100, "filled")]  # at once
    again = api.post(f"/api/approvals/{pending['call_id']}/approve")
    message = error_of(again, 409)
    assert (
        message
        == f"Tool call {pending['call_id']} on Daytrader id={trader['id']} was already approved; a decision is final."
    )

    error_of(api.post(f"/api/approvals/{pending['call_id']}/deny", json={"reason": "changed my mind"}), 409)
    assert [(o["quantity"], o["status"]) for o in api.get("/api/orders").json()] == [(100, "filled")]
    assert api.get("/api/approvals").json() == []


def test_a_denied_call_carries_the_reason_and_cannot_be_decided_again(web: Platform) -> None:
    api = web.user("deny@example.com")
    trader = new_agent(api)
    doc = talk(api, trader, "buy 200 MSFT").json()
    (pending,) = doc["pending"]
    denied = api.post(f"/api/approvals/{pending['call_id']}/deny", json={"reason": "too big"})
    assert denied.status_code == 200, denied.text
    answer = denied.json()
    assert answer["decision"] == "denied" and answer["status"] == "done" and answer["job"] == doc["job"]
    assert answer["reply"] == "Not done (too big): buy 200 MSFT."
    assert api.get("/api/orders").json() == []
    error_of(api.post(f"/api/approvals/{pending['call_id']}/approve"), 409)
    error_of(api.post(f"/api/approvals/{pending['call_id']}/deny", json={"reason": "again"}), 409)
    assert error_of(api.post(f"/api/approvals/{pending['call_id']}/deny", json={"reason": 5}), 422)
    messages = api.get(f"/api/agents/daytrader/{trader['id']}/messages").json()["messages"]
    results = [p for m in messages for p in m["parts"] if p["type"] == "tool_result"]
    assert results and "too big" in json.dumps(results[0]["result"])


def test_a_decision_with_wait_false_answers_its_job_at_once_and_with_sse_streams_the_resumed_turn(
    web: Platform,
) -> None:
    api = web.user("approve-later@example.com")
    trader = new_agent(api)
    first = talk(api, trader, "buy 150 AAPL").json()
    (pending,) = first["pending"]
    quick = api.post(f"/api/approvals/{pending['call_id']}/approve", params={"wait": "false"})
    assert quick.status_code == 200, quick.text
    doc = quick.json()
    assert set(doc) == {"call_id", "decision", "agent", "call", "job", "reply", "still_pending"}
    assert (doc["job"], doc["decision"], doc["reply"]) == (first["job"], "approved", None)
    assert job_settles(api, first["job"])["status"] == "done"
    second = talk(api, trader, "buy 120 MSFT").json()
    (held,) = second["pending"]
    path = f"/api/approvals/{held['call_id']}/deny"
    streamed = api.post(path, json={"reason": "not now"}, headers={"Accept": "text/event-stream"})
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    events = sse_events(streamed)
    names = [name for name, _ in events]
    assert names[-1] == "reply" and "tool_result" in names, names
    assert events[-1][1]["reply"] == "Not done (not now): buy 120 MSFT." and events[-1][1]["job"] == second["job"]
    assert [o["symbol"] for o in api.get("/api/orders").json()] == ["AAPL"]


def test_approving_a_turn_that_was_not_a_job_resumes_it_in_the_request_and_answers_its_reply(
    web: Platform,
) -> None:
    api = web.user("in-process@example.com")
    trader = new_agent(api)
    engine = agentrecord.create_engine(web.url)
    try:
        with Session(engine) as session:  # a turn run in a process of its own (as `tradedesk talk` runs it)
            agent = session.get(Daytrader, trader["id"])
            assert agent is not None
            (held,) = agent.talk("buy 300 KO").pending
    finally:
        engine.dispose()
    approved = api.post(f"/api/approvals/{held.call_id}/approve")
    assert approved.status_code == 200, approved.text
    doc = approved.json()
    assert (doc["status"], doc["job"], doc["decision"]) == ("done", None, "approved")
    assert doc["reply"] == "Done: buy 300 KO." and doc["usage"]["total_tokens"] > 0
    assert [(o["symbol"], o["status"], o["reason"]) for o in api.get("/api/orders").json()] == [("KO", "filled", None)]


# -- schedules ---------------------------------------------------------------------------------------


def test_schedules_are_added_listed_and_deleted(web: Platform, tmp_path: Path) -> None:
    api = web.user("schedules@example.com")
    trader = new_agent(api)
    path = f"/api/agents/daytrader/{trader['id']}/schedules"
    assert api.get(path).json() == []
    made = api.post(path, json={"prompt": "check the market", "cron": "30 10 * * 1-5", "tz": "America/New_York"})
    assert made.status_code == 201, made.text
    schedule = made.json()
    assert schedule["prompt"] == "check the market" and schedule["cron"].endswith("30 10 * * 1-5")
    assert [s["id"] for s in api.get(path).json()] == [schedule["id"]]
    assert api.get(f"/api/agents/daytrader/{trader['id']}").json()["next_run"] is not None
    assert "exactly one of" in error_of(api.post(path, json={"prompt": "x"}), 422)
    assert error_of(api.post(path, json={"prompt": "x", "cron": "not a cron"}), 422)
    assert error_of(api.post(path, json={"prompt": "x", "every": "7s"}), 422)
    assert error_of(api.post(path, json={"prompt": "", "every": "1h"}), 422)
    deleted = api.delete(f"/api/schedules/{schedule['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"id": schedule["id"], "status": "removed"}
    assert api.get(path).json() == []
    assert error_of(api.delete(f"/api/schedules/{schedule['id']}"), 404) == f"No schedule {schedule['id']}."


def test_ids_beyond_what_a_database_stores_are_404_not_a_server_error(web: Platform) -> None:
    huge, past = 10**30, 2**63
    api = web.user("huge@example.com")
    trader = new_agent(api)
    assert error_of(api.get(f"/api/agents/daytrader/{huge}"), 404) == f"No agent daytrader/{huge}."
    assert error_of(api.get(f"/api/agents/daytrader/{past}/messages"), 404)
    assert error_of(api.post(f"/api/orders/{huge}/cancel"), 404) == f"No order {huge}."
    for before in (huge, -huge, past):
        page = api.get(f"/api/agents/daytrader/{trader['id']}/messages", params={"before": before})
        assert page.status_code == 200 and page.json()["next_before"] is None, page.text
    browser = signed_up(web.base, "huge-pages@example.com")
    assert browser.get(f"/agents/daytrader/{huge}").status_code == 404
    assert browser.form(f"/settings/tokens/{huge}/revoke").status_code == 404
    assert browser.form(f"/orders/{past}/cancel").status_code == 404
    browser.close()
