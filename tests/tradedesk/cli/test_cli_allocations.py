"""`tradedesk agent allocate` and the portfolio's "By agent" table, on a real SQLite database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic_ai.messages import ModelRequest, ToolReturnPart

from agentrecord.testing import ScriptedModel, call
from tests.tradedesk.cli.test_cli import ALICE, error, run, run_json, talk
from tests.tradedesk.cli.test_cli import alice as alice
from tests.tradedesk.cli.test_cli import no_secrets as no_secrets  # autouse
from tests.tradedesk.cli.test_cli import url as url

pytestmark = pytest.mark.usefixtures("frozen_market")  # the market stopped at a time the exchange is open


def test_allocate_sets_shows_and_clears_an_agents_allocation(alice: str) -> None:
    out = run(alice, "agent", "allocate", ALICE, "daytrader/1", "5000").stdout
    assert out == f"daytrader/1 of {ALICE}: allocation $5,000.00; $0.00 in use.\n"
    doc = run_json(alice, "agent", "allocate", ALICE, "stock_investor", "1,250.50")
    assert (doc["agent"], Decimal(doc["allocation"]), Decimal(doc["in_use"])) == ("stock_investor/1", 1250.5, 0)
    by_agent = {row["agent"]: row for row in run_json(alice, "portfolio", ALICE)["by_agent"]}
    assert Decimal(by_agent["daytrader/1"]["allocation"]) == 5000
    assert (
        "none (it may use the whole account)" in run(alice, "agent", "allocate", ALICE, "daytrader", "--clear").stdout
    )
    assert run_json(alice, "agent", "allocate", ALICE, "stock_investor", "none")["allocation"] is None
    by_agent = {row["agent"]: row for row in run_json(alice, "portfolio", ALICE)["by_agent"]}
    assert by_agent["daytrader/1"]["allocation"] is None and by_agent["stock_investor/1"]["allocation"] is None


def test_over_allocating_is_refused_in_one_line_saying_what_is_available(alice: str) -> None:
    run(alice, "agent", "allocate", ALICE, "daytrader", "60000")
    assert error(alice, "agent", "allocate", ALICE, "stock_investor", "50000") == (
        "Error: cannot allocate $50,000.00 to stock_investor/1: equity is $100,000.00 and the other agents' "
        "allocations take $60,000.00 of it, so at most $40,000.00 is available"
    )
    # changing an agent's own allocation does not count its old one against it
    assert run_json(alice, "agent", "allocate", ALICE, "daytrader", "100000")["allocation"] == "100000.00"
    assert run_json(alice, "agent", "allocate", ALICE, "stock_investor", "0")["allocation"] == "0.00"


def test_bad_allocations_are_refused_in_one_line_and_change_nothing(alice: str) -> None:
    run(alice, "agent", "allocate", ALICE, "daytrader", "5000")
    for bad, says in (
        ("-1", "must be an amount of 0 or more"),
        ("lots", "must be an amount in dollars, e.g. 5000"),
        ("10.001", "must be in whole cents"),
        ("1e30", "at most $100,000.00 is available"),
        ("nan", "must be an amount of 0 or more"),
    ):
        assert says in error(alice, "agent", "allocate", ALICE, "daytrader", "--", bad)
    assert "or --clear, not both or neither" in error(alice, "agent", "allocate", ALICE, "daytrader", "5", "--clear")
    assert "or --clear, not both or neither" in error(alice, "agent", "allocate", ALICE, "daytrader")
    assert "has no agent daytrader/9" in error(alice, "agent", "allocate", ALICE, "daytrader/9", "5")
    assert error(alice, "agent", "allocate", "bob@example.com", "daytrader", "5").startswith("Error: No user bob")
    by_agent = {row["agent"]: row for row in run_json(alice, "portfolio", ALICE)["by_agent"]}
    assert Decimal(by_agent["daytrader/1"]["allocation"]) == 5000


def test_portfolio_shows_positions_and_pnl_by_agent(alice: str) -> None:
    talk(alice, ScriptedModel([call("order_entry", symbol="KO", side="buy", quantity=10), "ok"]), "daytrader", "go")
    run(alice, "agent", "allocate", ALICE, "daytrader", "5000")
    out = run(alice, "portfolio", ALICE).stdout
    assert "By agent" in out and "daytrader/1" in out and "10 KO" in out and "5,000.00" in out
    doc = run_json(alice, "portfolio", ALICE)
    rows = {row["agent"]: row for row in doc["by_agent"]}
    assert set(rows) == {"daytrader/1", "stock_investor/1"}
    mine = rows["daytrader/1"]
    assert [(p["symbol"], p["quantity"]) for p in mine["positions"]] == [("KO", 10)]
    assert Decimal(mine["in_use"]) == Decimal(doc["positions"][0]["cost_basis"])
    assert Decimal(mine["market_value"]) == Decimal(doc["market_value"])


def test_an_agent_reads_why_its_order_was_rejected_for_its_allocation(alice: str) -> None:
    run(alice, "agent", "allocate", ALICE, "daytrader", "100")
    model = ScriptedModel([call("order_entry", symbol="KO", side="buy", quantity=10), "Over my allocation."])
    talk(alice, model, "daytrader", "Buy 10 KO")
    (order,) = run_json(alice, "orders", ALICE)
    assert order["status"] == "rejected" and order["agent"] == "daytrader/1"
    assert order["reason"].startswith(
        "allocation exceeded: daytrader/1 may use $100.00; $0.00 in use, this order needs $"
    )
    returned = [
        part.content
        for message in model.requests[-1]
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]
    assert returned and returned[-1]["status"] == "rejected" and returned[-1]["reason"] == order["reason"]
    assert run_json(alice, "portfolio", ALICE)["positions"] == []


def test_lowering_an_allocation_below_what_is_in_use_blocks_buys_until_sales_free_capital(alice: str) -> None:
    talk(alice, ScriptedModel([call("order_entry", symbol="KO", side="buy", quantity=10), "ok"]), "daytrader", "go")
    lowered = run_json(alice, "agent", "allocate", ALICE, "daytrader", "100")
    assert Decimal(lowered["allocation"]) == 100 and Decimal(lowered["in_use"]) > 100
    talk(alice, ScriptedModel([call("order_entry", symbol="KO", side="buy", quantity=1), "no"]), "daytrader", "go")
    talk(alice, ScriptedModel([call("order_entry", symbol="KO", side="sell", quantity=9), "ok"]), "daytrader", "go")
    statuses = [(o["side"], o["quantity"], o["status"]) for o in run_json(alice, "orders", ALICE)]
    assert statuses == [("sell", 9, "filled"), ("buy", 1, "rejected"), ("buy", 10, "filled")]
    after = {row["agent"]: row for row in run_json(alice, "portfolio", ALICE)["by_agent"]}["daytrader/1"]
    assert Decimal(after["in_use"]) < 100 and [(p["symbol"], p["quantity"]) for p in after["positions"]] == [("KO", 1)]
