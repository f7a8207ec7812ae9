"""The orders page: every order type with its stop or trail, partial fills and commissions, and a cancel button on
the orders that can still fill."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from tradedesk.agents.models import User
from tradedesk.brokerage import services
from tradedesk.brokerage.accounts import Order

from .conftest import signed_up

pytestmark = pytest.mark.usefixtures("frozen_market")


def _place(url: str, email: str, orders: list[dict[str, object]]) -> list[int]:
    """Place `orders` for the user through the platform's broker, as the account owner; their ids."""
    engine = create_engine(url)
    broker = services.broker()
    with Session(engine) as session, session.begin():
        user_id = session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        ids = [broker.place_order(session, user_id, **spec).id for spec in orders]  # type: ignore[arg-type]
    engine.dispose()
    return ids


def _row(page: str, order_id: int) -> str:
    found = re.search(rf'<tr><td><a href="/orders/{order_id}"[^>]*>{order_id}</a></td>.*?</tr>', page, re.S)
    assert found, f"no row for order {order_id}"
    return found.group(0)


def test_the_orders_page_shows_stops_trails_fills_and_cancels_an_open_order(live: str, web_db: str) -> None:
    alice = signed_up(live, "alice@example.com")
    big = services.market().quote("KO").ask_size
    assert big is not None
    bought, stop, trail, partial = _place(
        web_db,
        "alice@example.com",
        [
            {"symbol": "KO", "side": "buy", "quantity": 10},
            {"symbol": "KO", "side": "sell", "quantity": 4, "order_type": "stop", "stop_price": Decimal("1.00"),
             "time_in_force": "gtc"},
            {"symbol": "KO", "side": "sell", "quantity": 6, "order_type": "trailing_stop",
             "trail_percent": Decimal("2.5")},
            {"symbol": "KO", "side": "buy", "quantity": big + 100},
        ],
    )  # fmt: skip
    page = alice.page("/orders").text
    assert "filled" in _row(page, bought) and "Cancel" not in _row(page, bought)
    assert "$1.00" in _row(page, stop) and "stop · gtc" in _row(page, stop) and "Cancel" in _row(page, stop)
    assert "trail 2.5%" in _row(page, trail) and "trailing stop · day" in _row(page, trail)
    assert "partially filled" in _row(page, partial) and f"{big:,}" in _row(page, partial)
    assert alice.page("/orders?status=partially_filled").text.count("<tr><td><a") == 1

    assert alice.form(f"/orders/{stop}/cancel").status_code == 200
    page = alice.page("/orders").text
    assert "cancelled" in _row(page, stop) and "Cancel" not in _row(page, stop)
    engine = create_engine(web_db)
    with Session(engine) as session:
        assert session.get_one(Order, stop).status == "cancelled"
        assert session.get_one(Order, trail).status == "new"
    engine.dispose()
