"""Money columns: Decimal amounts stored exactly on every database (NUMERIC, or text on SQLite)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

from tradedesk.market.money import SCALE


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
