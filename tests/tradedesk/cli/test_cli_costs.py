"""`tradedesk account costs`: show and set an account's commission and size impact, on a real SQLite database."""

from __future__ import annotations

from decimal import Decimal

from tests.tradedesk.cli.test_cli import ALICE, error, run, run_json
from tests.tradedesk.cli.test_cli import alice as alice
from tests.tradedesk.cli.test_cli import url as url


def test_account_costs_start_at_zero_and_set_only_what_is_given(alice: str) -> None:
    shown = run_json(alice, "account", "costs", ALICE)
    assert shown.pop("user") == ALICE
    assert {k: Decimal(v) for k, v in shown.items()} == {
        "commission_per_share": 0,
        "commission_min": 0,
        "impact_bps": 0,
    }
    run(alice, "account", "costs", ALICE, "--commission-per-share", "0.005", "--commission-min", "1")
    after = run_json(alice, "account", "costs", ALICE, "--impact-bps", "12.5")
    assert {k: Decimal(v) for k, v in after.items() if k != "user"} == {
        "commission_per_share": Decimal("0.005"),
        "commission_min": Decimal("1"),
        "impact_bps": Decimal("12.5"),
    }
    table = run(alice, "account", "costs", ALICE).stdout
    assert "Trading costs" in table and "impact bps" in table and "12.50" in table
    assert Decimal(run_json(alice, "portfolio", ALICE)["commissions"]) == 0


def test_account_costs_refuse_bad_numbers_in_one_line(alice: str) -> None:
    assert error(alice, "account", "costs", ALICE, "--commission-min", "lots") == (
        "Error: --commission-min must be a number (got 'lots')"
    )
    assert "commission_per_share must be between 0 and 1000" in error(
        alice, "account", "costs", ALICE, "--commission-per-share", "-1"
    )
    assert error(alice, "account", "costs", "nobody@example.com").startswith("Error: ")
    assert Decimal(run_json(alice, "account", "costs", ALICE)["commission_per_share"]) == 0
