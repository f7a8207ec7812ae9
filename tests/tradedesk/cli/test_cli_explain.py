"""`tradedesk orders EMAIL --explain ORDER_ID`: an order's audit trail in sections, as JSON, and its errors."""

from __future__ import annotations

import pytest

from agentrecord.testing import ScriptedModel, call, scripted
from tests.tradedesk.cli.test_cli import ALICE, error, run, run_json, talk
from tests.tradedesk.cli.test_cli import alice as alice
from tests.tradedesk.cli.test_cli import no_secrets as no_secrets  # autouse
from tests.tradedesk.cli.test_cli import url as url
from tradedesk.agents.models import Daytrader

pytestmark = pytest.mark.usefixtures("frozen_market")  # the market stopped at a time the exchange is open

SECTIONS = ("Prompt", "Model", "Tool call", "Approval", "Fills")


def placed(url: str, steps: list[object], prompt: str) -> int:
    talk(url, ScriptedModel(steps), "daytrader", prompt)  # type: ignore[arg-type]
    return int(run_json(url, "orders", ALICE)[0]["id"])


def test_explain_shows_the_prompt_the_model_the_tool_call_the_approval_and_the_fills(alice: str) -> None:
    buy = call("order_entry", symbol="KO", side="buy", quantity=10)
    order_id = placed(alice, [buy, "Bought 10 KO for you."], "buy 10 KO please")
    shown = run(alice, "orders", ALICE, "--explain", str(order_id)).stdout
    lines = shown.splitlines()
    starts = [next(i for i, line in enumerate(lines) if line.startswith(title)) for title in SECTIONS]
    assert starts == sorted(starts), shown  # the sections, in this order
    assert f"Order {order_id} (placed by daytrader/1, turn 1)" in shown
    assert "  buy 10 KO please" in lines[starts[0] + 1]
    assert "Bought 10 KO for you." in "\n".join(lines[starts[1] : starts[2]])
    tool_call = "\n".join(lines[starts[2] : starts[3]])
    assert f"order_entry(symbol='KO', side='buy', quantity=10)  id {buy.id}" in tool_call
    assert "Tool call  (message 1)" in tool_call and "status=filled" in tool_call
    assert "not needed" in lines[starts[3] + 1]
    assert "│ 10 " in "\n".join(lines[starts[4] :])


def test_explain_json_is_the_whole_audit_trail(alice: str) -> None:
    buy = call("order_entry", symbol="KO", side="buy", quantity=3)
    order_id = placed(alice, [buy, "done"], "buy 3 KO")
    doc = run_json(alice, "orders", ALICE, "--explain", str(order_id))
    assert doc["order"]["id"] == order_id and doc["placed_by"] == "daytrader/1" and doc["turn"] == 1
    assert doc["prompt"] == "buy 3 KO" and [s["text"] for s in doc["said"]] == ["done"]
    assert doc["call"]["call_id"] == buy.id and doc["call"]["args"] == {"symbol": "KO", "side": "buy", "quantity": 3}
    assert doc["call"]["seq"] == 1 and doc["call"]["result"]["status"] == "filled"
    assert [f["quantity"] for f in doc["fills"]] == [3] and doc["fills"][0]["price"] == doc["order"]["fill_price"]
    assert doc["notes"] == []


def test_explain_shows_who_approved_a_held_order(alice: str) -> None:
    big = call("order_entry", symbol="AAPL", side="buy", quantity=100)
    talk(alice, ScriptedModel([big]), "daytrader", "buy 100 AAPL")
    with scripted(Daytrader, ScriptedModel(["Bought them."])):
        run(alice, "approve", big.id)
    order_id = int(run_json(alice, "orders", ALICE)[0]["id"])
    shown = run(alice, "orders", ALICE, "--explain", str(order_id)).stdout
    assert f"approved by {ALICE} at " in shown
    assert run_json(alice, "orders", ALICE, "--explain", str(order_id))["approved_by"] == ALICE


def test_explaining_an_unknown_or_another_users_order_is_one_line_and_exit_1(alice: str) -> None:
    order_id = placed(alice, [call("order_entry", symbol="KO", side="buy", quantity=1), "ok"], "buy 1 KO")
    assert error(alice, "orders", ALICE, "--explain", "999") == f"Error: No order 999 in the account of {ALICE}."
    run(alice, "user", "add", "bob@example.com")
    assert error(alice, "orders", "bob@example.com", "--explain", str(order_id)) == (
        f"Error: No order {order_id} in the account of bob@example.com."
    )
    assert error(alice, "orders", "nobody@example.com", "--explain", "1").startswith("Error: No user nobody@")
    assert error(alice, "orders", ALICE, "--explain", "abc") == (
        "Error: --explain takes an order id, a whole number like 12 (got 'abc')."
    )
    assert error(alice, "orders", ALICE, "--explain", "-3").startswith("Error: --explain takes an order id")
    assert run_json(alice, "orders", ALICE, "--explain", f"#{order_id}")["order"]["id"] == order_id


def test_explain_shows_a_brackets_class_and_a_childs_parent_and_the_call_that_placed_both(alice: str) -> None:
    quote = run_json(None, "quote", "KO")
    ask = float(quote["ask"])
    bracket = call(
        "order_entry", symbol="KO", side="buy", quantity=5, take_profit=round(ask * 1.05, 2),
        stop_loss=round(ask * 0.95, 2),
    )  # fmt: skip
    talk(alice, ScriptedModel([bracket, "Entered with a bracket."]), "daytrader", "enter KO with a bracket")
    loss, profit, entry = run_json(alice, "orders", ALICE)
    assert (entry["order_class"], profit["parent_id"], loss["parent_id"]) == ("bracket", entry["id"], entry["id"])
    shown = run(alice, "orders", ALICE, "--explain", str(entry["id"])).stdout
    assert "order class" in shown and "bracket" in shown and f"id {bracket.id}" in shown
    child = run(alice, "orders", ALICE, "--explain", str(loss["id"])).stdout
    assert "parent id" in child and str(entry["id"]) in child
    assert "enter KO with a bracket" in child and f"id {bracket.id}" in child  # the same call placed every leg
