"""Trading costs on real databases: commissions per share with a minimum, and a size impact on the fill price."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, update

from tests.tradedesk.brokerage import START, act, new_user, order
from tradedesk.brokerage.accounts import Account
from tradedesk.brokerage.broker import Broker
from tradedesk.brokerage.costs import Costs
from tradedesk.market import ManualClock


def with_costs(db: Engine, broker: Broker, per_share: str = "0", minimum: str = "0", impact: str = "0") -> int:
    user = new_user(db)
    act(db, lambda s: broker.open_account(s, user))
    values = {"commission_per_share": Decimal(per_share), "commission_min": Decimal(minimum)}
    act(db, lambda s: s.execute(update(Account).where(Account.user_id == user).values(**values, impact_bps=impact)))
    return user


def test_a_fill_pays_the_commission_per_share_or_the_minimum(db: Engine, broker: Broker) -> None:
    user = with_costs(db, broker, per_share="0.01", minimum="1.00")
    ask = broker.market.quote("AAPL").ask
    small = order(db, broker, user, symbol="AAPL", side="buy", quantity=10)  # 10 x $0.01 = $0.10: the minimum
    large = order(db, broker, user, symbol="AAPL", side="buy", quantity=250)  # 250 x $0.01 = $2.50
    assert (small.fill_price, small.commission) == (ask, Decimal("1.00"))
    assert (large.fill_price, large.commission) == (ask, Decimal("2.50"))
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.commissions == Decimal("3.50")
    assert book.cash == START - 260 * ask - Decimal("3.50")
    assert book.equity == book.cash + book.market_value
    assert book.realized_pnl == Decimal("-3.50")
    assert book.realized_pnl + book.unrealized_pnl == book.equity - START


def test_realized_pnl_is_net_of_both_commissions(db: Engine, broker: Broker, clock: ManualClock) -> None:
    user = with_costs(db, broker, per_share="0.02", minimum="1.50")
    bought = order(db, broker, user, symbol="KO", side="buy", quantity=100)  # $2.00
    clock.advance(timedelta(minutes=30))
    sold = order(db, broker, user, symbol="KO", side="sell", quantity=100)
    assert (bought.commission, sold.commission) == (Decimal("2.00"), Decimal("2.00"))
    assert bought.fill_price is not None and sold.fill_price is not None
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.positions == []
    assert book.realized_pnl == 100 * (sold.fill_price - bought.fill_price) - Decimal("4.00")
    assert book.equity == book.cash == START + book.realized_pnl


def test_a_larger_order_fills_at_a_worse_price_by_the_impact(db: Engine, broker: Broker) -> None:
    user = with_costs(db, broker, impact="10")  # 10 bps per 1,000 shares
    quote = broker.market.quote("PFE")
    small = order(db, broker, user, symbol="PFE", side="buy", quantity=100)
    large = order(db, broker, user, symbol="PFE", side="buy", quantity=2000)
    sell = order(db, broker, user, symbol="PFE", side="sell", quantity=2000)
    assert small.fill_price == Costs(impact_bps=Decimal(10)).fill_price(quote.ask, "buy", 100) >= quote.ask
    assert large.fill_price == (quote.ask * (1 + Decimal("0.002"))).quantize(Decimal("0.01"), "ROUND_CEILING")
    assert large.fill_price is not None and small.fill_price is not None and large.fill_price > small.fill_price
    assert sell.fill_price == (quote.bid * (1 - Decimal("0.002"))).quantize(Decimal("0.01"), "ROUND_FLOOR")
    assert sell.fill_price is not None and sell.fill_price < quote.bid
    assert small.commission == large.commission == Decimal(0)  # impact alone: no commission
    book = act(db, lambda s: broker.portfolio(s, user))
    assert book.equity == book.cash + book.market_value
    assert book.realized_pnl + book.unrealized_pnl == book.equity - START


def test_a_limit_buy_does_not_fill_when_the_impact_takes_it_through_its_limit(db: Engine, broker: Broker) -> None:
    user = with_costs(db, broker, impact="50")
    ask = broker.market.quote("AAPL").ask
    resting = order(db, broker, user, symbol="AAPL", side="buy", quantity=400, order_type="limit", limit_price=ask)
    assert resting.status == "new" and resting.fill_price is None


def test_a_buy_needs_cash_for_its_commission_too(db: Engine, broker: Broker) -> None:
    ask = broker.market.quote("AAPL").ask
    shares = int(START // ask)
    left = START - shares * ask  # what buying every affordable share leaves
    short = with_costs(db, broker, minimum=str(left + Decimal("0.01")))
    refused = order(db, broker, short, symbol="AAPL", side="buy", quantity=shares)
    assert refused.status == "rejected" and "commission" in (refused.reason or ""), refused.reason
    exact = with_costs(db, broker, minimum=str(left))
    filled = order(db, broker, exact, symbol="AAPL", side="buy", quantity=shares)
    assert (filled.status, filled.commission) == ("filled", left)
    assert act(db, lambda s: broker.portfolio(s, exact)).cash == 0


def test_no_costs_configured_fills_at_the_quote_with_zero_commission(db: Engine, broker: Broker) -> None:
    user = new_user(db)
    ask = broker.market.quote("AAPL").ask
    bought = order(db, broker, user, symbol="AAPL", side="buy", quantity=400)
    assert (bought.fill_price, bought.commission) == (ask, Decimal(0))
    assert act(db, lambda s: broker.portfolio(s, user)).commissions == 0


@pytest.mark.parametrize(
    ("field", "value"), [("commission_per_share", "-0.01"), ("commission_min", "1e9"), ("impact_bps", "0.00001")]
)
def test_costs_refuse_negative_huge_or_too_precise_settings(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        Costs(**{field: Decimal(value)})
