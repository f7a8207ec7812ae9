"""Trading costs, per account: a commission per share with a minimum, and a size impact on the fill price.

The spread is already paid (buys fill at the ask, sells at the bid). On top of it an order moves the
price against itself by `impact_bps` basis points per 1,000 shares (pro rata: 500 shares at 10 bps move
it 5 bps), rounded to the cent against the trader. The commission is `commission_per_share` times the
shares, at least `commission_min`, at most the trade's notional (so a sale never costs more than it
raises), rounded up to the cent. All three default to zero: no costs, fills at the quote.

Commissions come out of cash and out of realized P&L (on buys and sells alike), so realized P&L is net
of commissions and cash + market value == starting cash + realized + unrealized P&L still holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradedesk.brokerage.accounts import Account
from tradedesk.market.money import cents, cents_down, cents_up

PER_SHARES = 1000
"""The impact is quoted in basis points per this many shares."""
MAX_COMMISSION = Decimal("1000")
MAX_IMPACT_BPS = Decimal("1000")


@dataclass(frozen=True)
class Costs:
    commission_per_share: Decimal = Decimal(0)
    commission_min: Decimal = Decimal(0)
    impact_bps: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        for name, value, most in (
            ("commission_per_share", self.commission_per_share, MAX_COMMISSION),
            ("commission_min", self.commission_min, MAX_COMMISSION),
            ("impact_bps", self.impact_bps, MAX_IMPACT_BPS),
        ):
            if not value.is_finite() or not 0 <= value <= most or value != value.quantize(Decimal("0.0001")):
                raise ValueError(f"{name} must be between 0 and {most} with at most 4 decimal places (got {value})")

    def commission(self, quantity: int, price: Decimal) -> Decimal:
        """What filling `quantity` shares at `price` costs in commission."""
        return self.commission_on(quantity, price * quantity)

    def commission_on(self, quantity: int, value: Decimal) -> Decimal:
        """The commission of an order whose fills so far are `quantity` shares worth `value` in all.

        An order pays its minimum once, however many fills it takes: each fill pays what this total grew by.
        """
        if not (self.commission_per_share or self.commission_min):
            return Decimal(0)
        fee = max(self.commission_per_share * quantity, self.commission_min)
        return min(cents_up(fee), cents(value))

    def fill_price(self, touch: Decimal, side: str, quantity: int) -> Decimal:
        """The quote's ask (buy) or bid (sell), moved against the trader by the size impact."""
        if not self.impact_bps:
            return touch
        move = touch * self.impact_bps / 10_000 * quantity / PER_SHARES
        return cents_up(touch + move) if side == "buy" else max(cents_down(touch - move), Decimal("0.01"))


def of(account: Account) -> Costs:
    """The account's configured costs."""
    return Costs(account.commission_per_share, account.commission_min, account.impact_bps)
