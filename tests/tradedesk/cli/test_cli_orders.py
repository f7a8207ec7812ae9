"""`tradedesk cancel-order` and `tradedesk replace`: end or change an open order, on a real SQLite database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentrecord.testing import ScriptedModel, call
from tests.tradedesk.cli.test_cli import ALICE, error, run, run_json, talk
from tests.tradedesk.cli.test_cli import alice as alice
from tests.tradedesk.cli.test_cli import no_secrets as no_secrets
from tests.tradedesk.cli.test_cli import url as url

pytestmark = pytest.mark.usefixtures("frozen_market")  # the market stopped at a time the exchange is open


def resting_limit_buy(alice: str, quantity: int = 10, limit: float = 1.0) -> int:
    """A daytrader's gtc limit buy far below the market, so it rests; its order id."""
    steps = [
        call(
            "order_entry", symbol="KO", side="buy", quantity=quantity, order_type="limit", limit_price=limit,
            time_in_force="gtc",
        ),
        "ok",
    ]  # fmt: skip
    talk(alice, ScriptedModel(steps), "daytrader", "bid for KO")
    (order,) = run_json(alice, "orders", ALICE)
    assert order["status"] == "new"
    return int(order["id"])


def test_replace_changes_an_open_order_in_one_step_and_keeps_its_agent(alice: str) -> None:
    order_id = resting_limit_buy(alice)
    out = run(alice, "replace", ALICE, str(order_id), "--quantity", "20", "--limit-price", "1.25").stdout
    new, old = run_json(alice, "orders", ALICE)
    assert out.startswith(f"Order {order_id} was replaced by order {new['id']}, which is new")
    assert (new["quantity"], Decimal(new["limit_price"]), new["agent"], new["time_in_force"]) == (
        20,
        Decimal("1.25"),
        "daytrader/1",
        "gtc",
    )
    assert (old["status"], old["reason"]) == ("cancelled", f"replaced by order {new['id']}")


def test_replace_refuses_in_one_line_and_leaves_the_order_open(alice: str) -> None:
    order_id = resting_limit_buy(alice)
    assert error(alice, "replace", ALICE, str(order_id)) == (
        "Error: Say what to change: a quantity, limit price, stop price, trail or time in force."
    )
    assert error(alice, "replace", ALICE, str(order_id), "--limit-price", "cheap") == (
        "Error: --limit-price must be a number above 0 (got 'cheap')"
    )
    too_big = error(alice, "replace", ALICE, str(order_id), "--quantity", "100000000")
    assert too_big.startswith(f"Error: order {order_id} was not replaced (it stays open): the new order would be")
    assert "rejected: risk limit exceeded" in too_big and "maximum of $25,000.00" in too_big
    assert "time_in_force must be one of" in error(alice, "replace", ALICE, str(order_id), "--tif", "forever")
    assert error(alice, "replace", ALICE, "999", "--quantity", "5") == "Error: No order 999."
    (order,) = run_json(alice, "orders", ALICE)
    assert (order["id"], order["status"], order["quantity"]) == (order_id, "new", 10)


def test_cancel_ends_an_open_order_and_a_second_cancel_says_why_not(alice: str) -> None:
    order_id = resting_limit_buy(alice)
    assert run(alice, "cancel-order", ALICE, str(order_id)).stdout.strip() == (
        f"Order {order_id} is cancelled (cancelled by the account owner)."
    )
    assert error(alice, "cancel-order", ALICE, str(order_id)) == (
        f"Error: order {order_id} is cancelled; only open orders can be cancelled"
    )
    assert run_json(alice, "orders", ALICE)[0]["status"] == "cancelled"
    assert error(alice, "cancel-order", "bob@example.com", str(order_id)).startswith("Error: No user bob@example.com")


def test_orders_show_filled_shares_and_commission_and_hide_columns_no_order_uses(alice: str) -> None:
    talk(alice, ScriptedModel([call("order_entry", symbol="KO", side="buy", quantity=10), "ok"]), "daytrader", "buy")
    plain = run(alice, "orders", ALICE).stdout
    assert "filled" in plain and "commission" not in plain and "stop" not in plain and "trail" not in plain
    run(alice, "account", "costs", ALICE, "--commission-min", "1")
    talk(alice, ScriptedModel([call("order_entry", symbol="KO", side="buy", quantity=5), "ok"]), "daytrader", "buy")
    table = run(alice, "orders", ALICE).stdout
    assert "commission" in table and "1.00" in table
    newest = run_json(alice, "orders", ALICE)[0]
    assert (newest["filled_quantity"], Decimal(newest["commission"])) == (5, Decimal("1"))
