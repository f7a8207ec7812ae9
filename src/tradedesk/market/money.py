"""Money: Decimal amounts in cents, for prices and messages (the column type storing them is `columns.Money`).

Plain Decimal arithmetic, no database: the market and the CLI's quote use it without loading SQLAlchemy.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")
SCALE = Decimal("0.0001")  # what a Money column (columns.Money) holds


def cents(value: Decimal | float | int | str, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """`value` rounded to the cent (half-even unless told); floats go through their shortest repr."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return amount.quantize(CENT, rounding=rounding)


def cents_down(value: Decimal | float) -> Decimal:
    return cents(value, ROUND_FLOOR)


def cents_up(value: Decimal | float) -> Decimal:
    return cents(value, ROUND_CEILING)


def dollars(value: Decimal) -> str:
    """`$1,234.50`, for messages people and agents read."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"
