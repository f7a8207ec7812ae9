"""Declaring agents: the seed's columns, class options, validation errors, instance overrides."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from agentrecord import DeclarationError, Tool
from agentrecord.testing import ScriptedModel, scripted
from tests.agentrecord.declare import declare
from tests.agentrecord.seed import Base, Daytrader, QuoteFeed, StockInvestor, User

SEED_COLUMNS = {
    "provider",
    "model",
    "data",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "created_at",
    "updated_at",
}


def test_agent_tables_have_the_seed_columns_and_a_messages_table(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in ("daytraders", "stock_investors"):
        columns = {c["name"]: c for c in inspector.get_columns(table)}
        assert set(columns) >= SEED_COLUMNS
        assert columns["provider"]["nullable"] is False
        assert {"user_id", "cost", "lease_owner", "lease_expires_at"} <= set(columns)
        fks = inspector.get_foreign_keys(f"{table}_messages")
        assert [(fk["referred_table"], fk["constrained_columns"]) for fk in fks] == [(table, ["agent_id"])]


def test_user_agents_lists_both_kinds_and_deleting_an_agent_deletes_its_messages(engine: Engine) -> None:
    with Session(engine) as session:
        alice = User(email="alice@example.com")
        alice.daytraders.append(Daytrader(provider="openai"))
        alice.stock_investors.append(StockInvestor(provider="anthropic"))
        session.add(alice)
        session.commit()
        assert [type(a).__name__ for a in alice.agents] == ["Daytrader", "StockInvestor"]
        trader = alice.daytraders[0]
        with scripted(Daytrader, ScriptedModel(["hello"])):
            trader.talk("hi")
        session.delete(trader)
        session.commit()
        messages = Base.metadata.tables["daytraders_messages"]
        assert session.scalar(select(func.count()).select_from(messages)) == 0


def test_the_rows_model_column_beats_the_class_default(engine: Engine) -> None:
    with Session(engine) as session:
        default = Daytrader(user=User(email="a@example.com"), provider="openai")
        custom = Daytrader(user=User(email="b@example.com"), provider="openai", model="gpt-5.4")
        session.add_all([default, custom])
        session.commit()
        assert default.agent_model_name() == "gpt-5.4-mini"
        assert custom.agent_model_name() == "gpt-5.4"


def test_the_declaration_is_read_into_a_spec() -> None:
    spec = Daytrader.agent_spec()
    assert spec.model == "gpt-5.4-mini"
    assert spec.instructions.startswith("You are a day trader")
    assert [t.tool_name() for t in spec.tools] == ["quote_feed", "order_entry", "position_book"]
    assert spec.concurrency == "thread"
    assert spec.max_requests == 25


_declare = declare


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (type("Agent", (), {"modle": "gpt"}), "unknown option(s) modle"),
        (type("Agent", (), {"concurrency": "fibers"}), "concurrency is 'fibers'"),
        (type("Agent", (), {"tools": [object]}), "tools must be Tool subclasses"),
        (type("Agent", (), {"tools": QuoteFeed}), "tools must be a list"),
        (type("Agent", (), {"tools": [QuoteFeed], "confirm": ["order_entry"]}), "confirm names order_entry"),
        (type("Agent", (), {"max_requests": 0}), "max_requests must be a positive integer"),
        (type("Agent", (), {"busy_timeout": "soon"}), "busy_timeout must be a number"),
        (type("Agent", (), {"tools": [QuoteFeed, QuoteFeed]}), "two tools named quote_feed"),
    ],
)
def test_a_bad_declaration_fails_when_the_class_is_declared(body: type, message: str) -> None:
    with pytest.raises(DeclarationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _declare(body)


def test_a_tool_without_call_is_rejected() -> None:
    class Empty(Tool):
        """Does nothing."""

    with pytest.raises(DeclarationError, match="must implement call"):
        _declare(type("Agent", (), {"tools": [Empty]}), "NoCall")


def test_confirm_accepts_tool_classes_names_and_per_call_rules() -> None:
    cls = _declare(type("Agent", (), {"tools": [QuoteFeed], "confirm": [QuoteFeed]}), "Confirmed")
    assert cls.agent_spec().confirm == {"quote_feed": None}  # type: ignore[attr-defined]

    def rule(record: object, args: dict[str, object]) -> bool:
        return args.get("symbol") == "TSLA"

    cls = _declare(type("Agent", (), {"tools": [QuoteFeed], "confirm": {"quote_feed": rule}}), "RuledConfirm")
    assert cls.agent_spec().confirm == {"quote_feed": rule}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"confirm": {"quote_feed": 3}}, "must be a callable"),
        ({"confirm": [3]}, "tool classes or names"),
        ({"max_tokens_per_turn": 0}, "positive integer"),
        ({"max_cost_per_turn": "free"}, "positive amount of USD"),
        ({"max_cost_per_turn": -1}, "positive amount of USD"),
        ({"loop_guard": 1}, "0 (off) or an integer >= 2"),
    ],
)
def test_guard_and_confirm_options_are_validated(options: dict[str, object], message: str) -> None:
    with pytest.raises(DeclarationError, match=re.escape(message)):
        _declare(type("Agent", (), {"tools": [QuoteFeed], **options}), f"Bad{abs(hash(str(options)))}")


def test_create_engine_turns_on_wal_for_sqlite_files(tmp_path: object) -> None:
    from sqlalchemy import text

    from agentrecord import create_engine

    engine = create_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
