"""The order page (/orders/{id}): an order's audit trail, linked from the orders list; another user's is 404."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from agentrecord.testing import ScriptedModel, call, scripted
from tradedesk.agents.models import Daytrader
from tradedesk.brokerage.accounts import Order
from tradedesk.users import User

from .conftest import api_token, signed_up

pytestmark = pytest.mark.usefixtures("frozen_market")


def agent_order(url: str, email: str, prompt: str) -> tuple[int, str, int]:
    """A day trader of `email` places a market order in a scripted turn: (order id, call id, agent id)."""
    engine = create_engine(url)
    buy = call("order_entry", symbol="KO", side="buy", quantity=7)
    with Session(engine) as session:
        user = session.scalars(select(User).where(User.email == email)).one()
        trader = Daytrader(user=user, provider="openai")
        session.add(trader)
        session.commit()
        with scripted(Daytrader, ScriptedModel([buy, "Bought <7> KO."])):
            trader.talk(prompt)
        order_id = session.scalars(select(Order.id).where(Order.tool_call_id == buy.id)).one()
        agent_id = trader.id
    engine.dispose()
    return order_id, buy.id, agent_id


def test_the_order_page_shows_the_audit_trail_and_the_list_links_to_it(live: str, web_db: str) -> None:
    alice = signed_up(live, "alice@example.com")
    order_id, call_id, agent_id = agent_order(web_db, "alice@example.com", "buy <b>7</b> KO")
    assert f'href="/orders/{order_id}"' in alice.page("/orders").text
    response = alice.page(f"/orders/{order_id}")
    assert response.status_code == 200
    page = response.text
    for section in ("<h2>Prompt", "<h2>Model</h2>", "<h2>Tool call", "<h2>Approval</h2>", "<h2>Fills</h2>"):
        assert section in page
    assert "buy &lt;b&gt;7&lt;/b&gt; KO" in page and "Bought &lt;7&gt; KO." in page  # the model's words, escaped
    assert call_id in page and "order_entry(" in page and f'href="/agents/daytrader/{agent_id}"' in page
    assert "not needed" in page and 'id="fills"' in page


def test_another_users_order_page_is_404(live: str, web_db: str) -> None:
    signed_up(live, "alice@example.com").close()
    bob = signed_up(live, "bob@example.com")
    order_id, call_id, _ = agent_order(web_db, "alice@example.com", "buy 7 KO")
    response = bob.get(f"/orders/{order_id}")
    assert response.status_code == 404 and call_id not in response.text
    assert f"No order {order_id}" in response.text


def test_the_api_answers_an_orders_audit_trail_as_json_and_another_users_as_404(live: str, web_db: str) -> None:
    alice = httpx.Client(base_url=live, headers={"Authorization": f"Bearer {api_token(live, 'alice@example.com')}"})
    bob = httpx.Client(base_url=live, headers={"Authorization": f"Bearer {api_token(live, 'bob@example.com')}"})
    order_id, call_id, _ = agent_order(web_db, "alice@example.com", "buy 7 KO")
    doc = alice.get(f"/api/orders/{order_id}").json()
    assert doc["order"]["id"] == order_id and doc["call"]["call_id"] == call_id and doc["call"]["tool"] == "order_entry"
    assert doc["prompt"] == "buy 7 KO" and doc["placed_by"].startswith("daytrader/")
    assert [f["quantity"] for f in doc["fills"]] == [7] and doc["approval"].startswith("not needed")
    theirs = bob.get(f"/api/orders/{order_id}")
    assert theirs.status_code == 404 and set(theirs.json()) == {"error"} and call_id not in theirs.text
