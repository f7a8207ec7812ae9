"""The units budgets count in: USD as whole micro-dollars (integers add exactly in SQL), per UTC day."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

MICRO = Decimal("0.000001")


def today() -> str:
    """The UTC day spending is counted in, as YYYY-MM-DD."""
    return datetime.now(UTC).date().isoformat()


def micros(amount: Decimal | None) -> int:
    """`amount` USD in micro-dollars, rounded up (a budget errs on the side of spending less)."""
    return 0 if amount is None else int((amount / MICRO).to_integral_value(ROUND_CEILING))
