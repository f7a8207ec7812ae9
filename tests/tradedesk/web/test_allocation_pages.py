"""Capital per agent on the web: the agent page shows and sets the allocation, the portfolio page breaks the
account down by agent, and the API's portfolio carries the same rows; another user's agent is not found."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from tradedesk.agents.models import Daytrader
from tradedesk.brokerage import services
from tradedesk.users import User

from .conftest import api_token, signed_up

pytestmark = pytest.mark.usefixtures("frozen_market")


def _agent_buys(url: str, email: str, quantity: int) -> str:
    """daytrader/ID of `email` buys `quantity` AAPL through the broker, with its limits; returns the status."""
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        user = session.scalars(select(User).where(User.email == email)).one()
        agent = session.scalars(select(Daytrader).where(Daytrader.user_id == user.id)).one()
        order = services.broker().place_order(
            session, user.id, symbol="AAPL", side="buy", quantity=quantity,
            agent_kind=agent.kind, agent_id=agent.id, limits=agent.limits,
        )  # fmt: skip
        status = order.status
    engine.dispose()
    return status


def test_the_agent_page_sets_the_allocation_and_the_portfolio_shows_it_by_agent(live: str, web_db: str) -> None:
    alice = signed_up(live, "alice@example.com")
    page = alice.form("/agents", {"kind": "daytrader"})
    path = str(page.url).removeprefix(live)
    assert "No allocation: this agent may use the whole account" in page.text
    shown = alice.form(f"{path}/allocation", {"allocation": "1000"})
    assert shown.status_code == 200 and "Allocation $1,000.00 · in use $0.00" in shown.text
    assert _agent_buys(web_db, "alice@example.com", 1) == "filled"
    assert _agent_buys(web_db, "alice@example.com", 100) == "rejected"
    portfolio = alice.page("/portfolio").text
    assert 'id="by-agent"' in portfolio and "daytrader/1" in portfolio and "1 AAPL" in portfolio
    assert "$1,000.00" in portfolio
    refused = alice.form(f"{path}/allocation", {"allocation": "1000000"})
    assert refused.status_code == 422 and "so at most $99,999.99 is available" in refused.text
    assert "Allocation $1,000.00" in alice.page(path).text
    cleared = alice.form(f"{path}/allocation", {"allocation": ""})
    assert "No allocation" in cleared.text
    mallory = signed_up(live, "mallory@example.com")
    assert mallory.form(f"{path}/allocation", {"allocation": "5"}).status_code == 404


def test_the_api_portfolio_breaks_the_account_down_by_agent(live: str, web_db: str) -> None:
    token = api_token(live, "carol@example.com")
    carol = httpx.Client(base_url=live, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    made = carol.post("/api/agents", json={"kind": "daytrader"})
    assert made.status_code == 201, made.text
    assert _agent_buys(web_db, "carol@example.com", 3) == "filled"
    (row,) = carol.get("/api/portfolio").json()["by_agent"]
    assert row["agent"] == f"daytrader/{made.json()['id']}" and row["allocation"] is None
    assert [(p["symbol"], p["quantity"]) for p in row["positions"]] == [("AAPL", 3)]
    assert Decimal(row["in_use"]) == Decimal(row["positions"][0]["cost_basis"]) > 0
