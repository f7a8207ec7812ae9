"""Money: Decimal amounts in cents, and a column type that stores them exactly on every database."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

CENT = Decimal("0.01")
SCALE = Decimal("0.0001")  # what a Money column holds


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


class Money(TypeDecorator[Decimal]):
    """An exact Decimal with 4 decimal places: NUMERIC(18, 4) where the database has it, text on SQLite.

    SQLite's NUMERIC is a float underneath (SQLAlchemy converts through `float`), which loses digits
    beyond about 15 significant ones, so on SQLite the canonical string is stored instead. A value with
    more than 4 decimal places is refused rather than silently rounded.
    """

    impl = Numeric(18, 4, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(24))
        return dialect.type_descriptor(Numeric(18, 4, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        stored = amount.quantize(SCALE)
        if stored != amount:
            raise ValueError(f"{amount} has more than 4 decimal places; round it before storing")
        return str(stored) if dialect.name == "sqlite" else stored

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value)).quantize(SCALE)
