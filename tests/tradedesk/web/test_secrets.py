"""A user's provider key: stored encrypted from settings, used by their agents before the server's key, shown nowhere.

The key goes in through the settings form; a real worker process runs the turns against a model server
that records each request's Authorization header.
"""

from __future__ import annotations

import glob
from typing import Any

import httpx
import pytest

from .conftest import signed_up
from .world import Platform

pytestmark = pytest.mark.timeout(180)
KEY = "sk-carol-own-key-5f1d9a3c77e2"


def model(body: dict[str, Any]) -> str:  # the model of `web` (conftest.py)
    return "Nothing to trade today."


def test_a_stored_key_is_used_before_the_environments_and_appears_in_no_response_file_or_log(web: Platform) -> None:
    carol = signed_up(web.base, "carol@example.com")
    seen: list[httpx.Response] = []
    saved = carol.form("/settings/keys", {"provider": "openai", "key": KEY})
    seen.append(saved)
    assert saved.status_code == 200 and "Saved your openai key" in saved.text
    made = carol.post(
        "/api/agents", json={"kind": "daytrader", "provider": "openai"}, headers={"X-CSRF-Token": carol.csrf}
    )
    assert made.status_code == 201, made.text
    agent = made.json()
    reply = carol.post(
        f"/api/agents/daytrader/{agent['id']}/messages",
        json={"prompt": "anything?"},
        headers={"X-CSRF-Token": carol.csrf},
    )
    assert reply.status_code == 200 and reply.json()["reply"] == "Nothing to trade today.", reply.text
    assert web.model.authorizations == [f"Bearer {KEY}"]  # the user's key, not the environment's

    dave = web.user("dave@example.com")  # no key of his own: the environment's
    theirs = dave.post("/api/agents", json={"kind": "daytrader"}).json()
    assert dave.post(f"/api/agents/daytrader/{theirs['id']}/messages", json={"prompt": "hi"}).status_code == 200
    assert web.model.authorizations[1:] == ["Bearer sk-env-key"]

    for path in (
        "/",
        "/settings",
        f"/agents/daytrader/{agent['id']}",
        "/approvals",
        "/portfolio",
        "/orders",
        "/api/agents",
        f"/api/agents/daytrader/{agent['id']}",
        f"/api/agents/daytrader/{agent['id']}/messages",
        "/openapi.json",
    ):
        seen.append(carol.get(path))
    seen += [made, reply, carol.form("/settings/keys", {"provider": "openai", "key": KEY})]
    for response in seen:
        assert response.status_code == 200 or response.status_code == 201, (response.url, response.status_code)
        assert KEY not in response.text and KEY[3:] not in response.text, response.url
        assert KEY not in str(response.headers)
    assert "openai" in carol.page("/settings").text  # the provider is listed, the key is not
    web.worker.stop()
    assert KEY not in (web.worker.stderr or "")
    files = glob.glob(web.url.removeprefix("sqlite:///") + "*")
    assert files
    for name in files:
        with open(name, "rb") as db:
            data = db.read()
        assert KEY.encode() not in data and KEY[3:].encode() not in data, name
    carol.close()
