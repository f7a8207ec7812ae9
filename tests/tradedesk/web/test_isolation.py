"""Isolation at the HTTP boundary: on every route, another user's ids answer exactly like ids that do not exist.

Alice probes Bob's agent, held call, order, schedule, job and API token on every route the app has (the
route table comes from the app, so a new route fails `test_the_probe_table_covers_every_route` until it
is listed here), through the pages (cookie + CSRF) and the API (bearer). Each probe answers 404 with the
body an id that does not exist gets, and afterwards the database holds the same rows as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import agentrecord
from agentrecord.testing import ScriptedModel, call, scripted
from tradedesk.agents.models import StockInvestor
from tradedesk.brokerage.accounts import Order
from tradedesk.web import create_app

from .world import Account, changes, furnish, market_env, routes, sign_up, snapshot

MISSING = 987654
"""An id of every numeric kind that exists for nobody."""


@dataclass(frozen=True)
class World:
    base: str
    url: str
    alice: Account
    bob: Account


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, web_db: str, live: str) -> Iterator[World]:
    market_env(monkeypatch, None)
    alice, bob = sign_up(live, web_db, "alice@example.com"), sign_up(live, web_db, "bob@example.com")
    furnish(web_db, alice)
    furnish(web_db, bob)
    yield World(live, web_db, alice, bob)
    alice.browser.close()
    bob.browser.close()


# -- the probe table -------------------------------------------------------------------------------


@dataclass
class Probe:
    """One request on `template`: with the other user's ids (`theirs`) and with ids nobody has (`missing`)."""

    method: str
    template: str
    theirs: dict[str, str]
    missing: dict[str, str]
    json: dict[str, Any] | None = None
    form: dict[str, str] = field(default_factory=dict)

    def path(self, params: dict[str, str]) -> str:
        return self.template.format(**params)

    @property
    def api(self) -> bool:
        return self.template.startswith("/api/")


PUBLIC = {
    ("GET", "/openapi.json"): "the schema: no account data",
    ("GET", "/api/docs"): "the schema viewer: no account data",
    ("GET", "/docs/oauth2-redirect"): "the schema viewer's OAuth helper: no account data",
    ("*", "/static"): "vendored assets",
    ("GET", "/login"): "the login form",
    ("POST", "/login"): "signing in",
    ("GET", "/signup"): "the sign-up form",
    ("POST", "/signup"): "signing up",
    ("POST", "/api/signup"): "signing up",
    ("POST", "/api/login"): "signing in",
}
"""Routes that need no sign-in, and why."""

OWN: dict[tuple[str, str], tuple[dict[str, str], dict[str, Any]]] = {
    ("GET", "/api/agents"): ({}, {}),
    ("POST", "/api/agents"): ({}, {"kind": "daytrader", "provider": "openai"}),
    ("GET", "/api/approvals"): ({}, {}),
    ("GET", "/api/portfolio"): ({}, {}),
    ("GET", "/api/orders"): ({}, {}),
    ("GET", "/"): ({}, {}),
    ("POST", "/agents"): ({}, {"kind": "stock_investor", "provider": "openai"}),
    ("GET", "/approvals"): ({}, {}),
    ("GET", "/portfolio"): ({}, {}),
    ("GET", "/orders"): ({}, {}),
    ("GET", "/quote"): ({}, {}),
    ("GET", "/settings"): ({}, {}),
    ("POST", "/settings/keys"): ({}, {"provider": "openai", "key": "sk-alice-second-key"}),
    ("POST", "/settings/keys/{provider}/remove"): ({"provider": "openai"}, {}),
    ("POST", "/settings/tokens"): ({}, {"name": "laptop"}),
    ("POST", "/logout"): ({}, {}),
}
"""Routes that name no other record: they act on, or show, the caller's own account (checked to show nothing
of Bob's and leave Bob's rows alone; they carry no id to probe). Values: path parameters, body."""


def probes(w: World) -> list[Probe]:
    """Every route that takes an id, probed with Bob's ids (and Alice's agent with Bob's job, for the events)."""
    bob, alice = w.bob, w.alice
    agents = [
        ({"kind": "daytrader", "agent_id": str(bob.daytrader)}, {"kind": "daytrader", "agent_id": str(MISSING)}),
        (
            {"kind": "stock_investor", "agent_id": str(bob.investor)},
            {"kind": "stock_investor", "agent_id": str(MISSING)},
        ),
    ]
    found: list[Probe] = []
    for theirs, missing in agents:
        found += [
            Probe("GET", "/api/agents/{kind}/{agent_id}", theirs, missing),
            Probe("GET", "/api/agents/{kind}/{agent_id}/messages", theirs, missing),
            Probe("POST", "/api/agents/{kind}/{agent_id}/messages", theirs, missing, json={"prompt": "sell it all"}),
            Probe("GET", "/api/agents/{kind}/{agent_id}/schedules", theirs, missing),
            Probe(
                "POST",
                "/api/agents/{kind}/{agent_id}/schedules",
                theirs,
                missing,
                json={"prompt": "sell it all", "cron": "0 10 * * *"},
            ),
            Probe("GET", "/agents/{kind}/{agent_id}", theirs, missing),
            Probe("GET", "/agents/{kind}/{agent_id}/live", theirs, missing),
            Probe("POST", "/agents/{kind}/{agent_id}/messages", theirs, missing, form={"prompt": "sell it all"}),
            Probe("POST", "/agents/{kind}/{agent_id}/pause", theirs, missing),
            Probe("POST", "/agents/{kind}/{agent_id}/resume", theirs, missing),
            Probe(
                "POST",
                "/agents/{kind}/{agent_id}/limits",
                theirs,
                missing,
                form={"approval_threshold": "0", "max_order_notional": ""},
            ),
            Probe("POST", "/agents/{kind}/{agent_id}/allocation", theirs, missing, form={"allocation": "1"}),
            Probe(
                "POST",
                "/agents/{kind}/{agent_id}/schedules",
                theirs,
                missing,
                form={"prompt": "sell it all", "cron": "0 10 * * *"},
            ),
            Probe(
                "GET",
                "/agents/{kind}/{agent_id}/jobs/{job_id}/events",
                theirs | {"job_id": bob.job_id},
                missing | {"job_id": f"stock_investors.{MISSING}.1"},
            ),
        ]
    own_agent = {"kind": "stock_investor", "agent_id": str(alice.investor)}
    found.append(
        Probe(
            "GET",
            "/agents/{kind}/{agent_id}/jobs/{job_id}/events",
            own_agent | {"job_id": bob.job_id},
            own_agent | {"job_id": f"stock_investors.{MISSING}.1"},
        ),
    )
    call_ids = ({"call_id": bob.call_id}, {"call_id": "call_that_nobody_made"})
    found += [
        Probe("POST", "/api/approvals/{call_id}/approve", *call_ids),
        Probe("POST", "/api/approvals/{call_id}/deny", *call_ids, json={"reason": "not yours"}),
        Probe(
            "POST",
            "/approvals/{call_id}/{verdict}",
            call_ids[0] | {"verdict": "approve"},
            call_ids[1] | {"verdict": "approve"},
        ),
        Probe(
            "POST",
            "/approvals/{call_id}/{verdict}",
            call_ids[0] | {"verdict": "deny"},
            call_ids[1] | {"verdict": "deny"},
            form={"reason": "not yours"},
        ),
    ]
    orders = ({"order_id": str(bob.order_id)}, {"order_id": str(MISSING)})
    found += [
        Probe("GET", "/api/orders/{order_id}", *orders),
        Probe("POST", "/api/orders/{order_id}/cancel", *orders),
        Probe("POST", "/api/orders/{order_id}/replace", *orders, json={"quantity": 1}),
        Probe("POST", "/orders/{order_id}/cancel", *orders),
        Probe("GET", "/orders/{order_id}", *orders),
    ]
    schedules = ({"schedule_id": bob.schedule_id}, {"schedule_id": f"stock_investors.{MISSING}.1"})
    found.append(Probe("DELETE", "/api/schedules/{schedule_id}", *schedules))
    for action in ("pause", "resume", "remove"):
        found.append(
            Probe(
                "POST",
                "/schedules/{schedule_id}/{action}",
                schedules[0] | {"action": action},
                schedules[1] | {"action": action},
            ),
        )
    found.append(Probe("GET", "/api/jobs/{job_id}", {"job_id": bob.job_id}, {"job_id": f"stock_investors.{MISSING}.1"}))
    found.append(
        Probe("POST", "/settings/tokens/{token_id}/revoke", {"token_id": str(bob.token_id)}, {"token_id": str(MISSING)})
    )
    return found


def test_the_probe_table_covers_every_route(tmp_path: Any) -> None:
    app = create_app(f"sqlite:///{tmp_path}/routes.db")
    served = routes(app)
    w = World("", "", *(Account("", 1, None, "", 1, 1, 1, "c", 1, "s", "j") for _ in range(2)))  # type: ignore[arg-type]
    probed = {(p.method, p.template) for p in probes(w)}
    covered = probed | set(PUBLIC) | set(OWN)
    assert served - covered == set(), "a route nobody probes: add it to the probe table"
    assert covered - served == set(), "the table names a route the app does not serve"
    assert probed.isdisjoint(OWN) and probed.isdisjoint(PUBLIC)


# -- requests as Alice, as nobody ------------------------------------------------------------------


def send(
    client: httpx.Client, probe: Probe, params: dict[str, str], *, as_page: bool, csrf: str = ""
) -> httpx.Response:
    path = probe.path(params)
    if probe.method == "GET":
        return client.get(path)
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    if probe.json is not None or probe.api:
        return client.request(probe.method, path, json=probe.json or {}, headers=headers)
    return client.request(probe.method, path, data=probe.form, headers=headers)


def normalized(response: httpx.Response, params: dict[str, str]) -> str:
    text = response.text
    for value in sorted(params.values(), key=len, reverse=True):
        text = text.replace(value, "<ID>")
    return text


def markers(bob: Account) -> list[str]:
    """Strings only Bob's records produce."""
    return [
        bob.email,
        bob.call_id,
        bob.job_id,
        bob.schedule_id,
        f"daytrader/{bob.daytrader}",
        f"stock_investor/{bob.investor}",
        "sk-bob-own-key",
        "review my portfolio",
        "buy 1000 AAPL",
    ]


def test_another_users_ids_answer_404_like_missing_ones_on_every_route_and_change_nothing(world: World) -> None:
    alice, bob = world.alice, world.bob
    before = snapshot(world.url)
    page = httpx.Client(base_url=world.base, cookies=alice.browser.cookies, timeout=30)
    api = alice.api(world.base)
    probed = 0
    for probe in probes(world):
        for client, csrf in ((api, ""), (page, alice.browser.csrf)) if probe.api else ((page, alice.browser.csrf),):
            theirs = send(client, probe, probe.theirs, as_page=not probe.api, csrf=csrf)
            missing = send(client, probe, probe.missing, as_page=not probe.api, csrf=csrf)
            where = f"{probe.method} {probe.path(probe.theirs)} ({'cookie' if client is page else 'bearer'})"
            assert theirs.status_code == 404, (where, theirs.status_code, theirs.text[:300])
            assert missing.status_code == 404, (where, missing.status_code, missing.text[:300])
            assert normalized(theirs, probe.theirs) == normalized(missing, probe.missing), where
            if probe.api:
                assert set(theirs.json()) == {"error"}, where
            else:
                assert "Traceback" not in theirs.text
            for secret in markers(bob)[1:]:
                if secret not in probe.path(probe.theirs):  # the error may echo the id asked for, nothing else
                    assert secret not in theirs.text, (where, secret)
            probed += 1
    assert probed >= 40
    assert changes(before, snapshot(world.url)) == {}, "a probe changed the database"
    # Bob still sees and decides all of his own
    mine = bob.api(world.base)
    assert mine.get(f"/api/jobs/{bob.job_id}").json()["status"] == "queued"
    assert [a["call_id"] for a in mine.get("/api/approvals").json()] == [bob.call_id]
    assert [o["status"] for o in mine.get("/api/orders").json()] == ["new"]
    assert [s["id"] for s in mine.get(f"/api/agents/stock_investor/{bob.investor}/schedules").json()] == [
        bob.schedule_id
    ]
    assert mine.get("/api/agents").status_code == 200


def test_the_callers_own_views_and_changes_show_and_touch_nothing_of_another_user(world: World) -> None:
    alice, bob = world.alice, world.bob
    before = snapshot(world.url)
    page = httpx.Client(base_url=world.base, cookies=alice.browser.cookies, timeout=30)
    api = alice.api(world.base)
    for (method, template), (params, body) in sorted(OWN.items(), key=lambda item: item[0][1] == "/logout"):
        path = template.format(**params)
        if template.startswith("/api/"):
            response = api.request(method, path, json=body or None)
        elif method == "GET":
            response = page.get(path)
        else:
            response = page.request(method, path, data=body, headers={"X-CSRF-Token": alice.browser.csrf})
        assert response.status_code < 400, (method, path, response.status_code, response.text[:300])
        for secret in markers(bob):
            assert secret not in response.text, (method, path, secret)
    listed = api.get("/api/orders").json()
    assert all(o["id"] != bob.order_id for o in listed)
    assert [o["status"] for o in listed] == ["new"]  # Alice's own resting order only
    assert {a["call_id"] for a in api.get("/api/approvals").json()} == {alice.call_id}
    for table, (gone, new) in changes(before, snapshot(world.url)).items():
        for row in gone | new:
            text = repr(row)
            assert not any(m in text for m in markers(bob)[1:]), (table, row)
            assert f"stock_investors.{bob.investor}." not in text and f"daytraders.{bob.daytrader}." not in text
    with Session(engine := agentrecord.create_engine(world.url)) as session:
        orders = session.scalars(select(Order).where(Order.user_id == bob.user_id)).all()
        assert [(o.id, o.status) for o in orders] == [(bob.order_id, "new")]
    engine.dispose()


def test_unauthenticated_calls_get_401_json_on_the_api_and_a_redirect_to_login_on_pages(world: World) -> None:
    before = snapshot(world.url)
    anonymous = httpx.Client(base_url=world.base, timeout=30, follow_redirects=False)
    forged = httpx.Client(
        base_url=world.base,
        timeout=30,
        follow_redirects=False,
        headers={"Authorization": "Bearer tdk_not-a-real-token"},
    )
    own = [
        Probe(m, t, p, p, json=b if t.startswith("/api/") else None, form={} if t.startswith("/api/") else b)
        for (m, t), (p, b) in OWN.items()
    ]
    for probe in probes(world) + own:
        for client in (anonymous, forged):
            response = send(client, probe, probe.theirs, as_page=not probe.api)
            where = f"{probe.method} {probe.path(probe.theirs)}"
            if probe.api:
                assert response.status_code == 401, (where, response.status_code, response.text[:200])
                assert list(response.json()) == ["error"] and response.json()["error"], where
            elif client is anonymous:
                assert response.status_code == 303, (where, response.status_code, response.text[:200])
                assert response.headers["location"] == "/login", where
            else:  # a page with a bad bearer token: no session either
                assert response.status_code in (303, 401), (where, response.status_code)
    htmx = anonymous.get("/approvals", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/login"
    assert changes(before, snapshot(world.url)) == {}


def test_tool_arguments_naming_another_user_reach_only_the_agents_owner(world: World) -> None:
    """Crafted arguments (Bob's id, email, order id) in Alice's agent's order land in Alice's account, or nowhere."""
    alice, bob = world.alice, world.bob
    engine = agentrecord.create_engine(world.url)
    crafted: list[Any] = [
        call("order_entry", symbol="KO", side="buy", quantity=1, user_id=bob.user_id, account=bob.email),
        call("order_entry", symbol=f"KO user_id={bob.user_id}", side="buy", quantity=1),
        call("order_entry", symbol=bob.email, side="sell", quantity=2),
        "Done.",
    ]
    try:
        with Session(engine) as session, scripted(StockInvestor, ScriptedModel(crafted)):
            trader = session.get(StockInvestor, alice.investor)  # (her day trader waits for a decision)
            assert trader is not None
            before = snapshot(world.url)
            trader.talk("go")
        for table, (gone, new) in changes(before, snapshot(world.url)).items():
            if table == "stock_investors_messages":
                continue  # Alice's own conversation quotes the crafted arguments
            for row in gone | new:
                assert bob.email not in repr(row) and f"user_id={bob.user_id}" not in repr(row), (table, row)
        with Session(engine) as session:
            theirs = session.scalars(select(Order).where(Order.user_id == bob.user_id)).all()
            assert [(o.id, o.status, o.quantity) for o in theirs] == [(bob.order_id, "new", 2)]
            mine = session.scalars(select(Order).where(Order.user_id == alice.user_id).order_by(Order.id)).all()
            assert all(o.agent_id in (alice.daytrader, alice.investor) for o in mine)
            assert sum(o.quantity for o in mine if o.status == "filled") <= 1
    finally:
        engine.dispose()
