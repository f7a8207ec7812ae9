"""What the CLI and the web reach the lower layers through: the names `tradedesk.app` re-exports, and the app
functions that took over the interfaces' own calls (browser sessions, the quote lookup, the demo's user and agents).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import tradedesk.app
from tradedesk import market, users
from tradedesk.app import account, desk, quotes
from tradedesk.brokerage import accounts, equity_report

PUBLIC = [
    "Bar",
    "BrokerError",
    "Conflict",
    "Desk",
    "DeskError",
    "Invalid",
    "MAX_EQUITY_DAYS",
    "NotFound",
    "OPEN_ORDER_STATUSES",
    "ORDER_STATUSES",
    "TradingAgent",
    "UnknownSymbol",
    "User",
]


def test_the_root_names_few_things_each_the_lower_layers_own_object() -> None:
    assert sorted(tradedesk.app.__all__) == sorted(PUBLIC)
    from tradedesk.agents.models import TradingAgent
    from tradedesk.brokerage.broker import BrokerError

    assert tradedesk.app.TradingAgent is TradingAgent and tradedesk.app.User is users.User
    assert tradedesk.app.Bar is market.Bar and tradedesk.app.UnknownSymbol is market.UnknownSymbol
    assert tradedesk.app.BrokerError is BrokerError
    assert tradedesk.app.ORDER_STATUSES == accounts.STATUSES
    assert tradedesk.app.OPEN_ORDER_STATUSES == accounts.OPEN_STATUSES
    assert tradedesk.app.MAX_EQUITY_DAYS == equity_report.MAX_DAYS
    assert tradedesk.app.Desk is desk.Desk and tradedesk.app.DeskError is desk.DeskError
    with pytest.raises(AttributeError, match="no attribute 'identity'"):
        tradedesk.app.identity  # noqa: B018


def test_a_browser_session_opens_anonymous_signs_in_on_a_fresh_id_and_signs_out(db: Engine) -> None:
    with Session(db, expire_on_commit=False) as session:
        alice = desk.add_user(session, "alice@example.com")
        anonymous = account.open_anonymous(session)
        session.commit()
        assert account.session_csrf(session, anonymous.sid) == anonymous.csrf
        assert account.session_user(session, anonymous.sid) is None  # no one signed in yet
        signed_in = account.browser_sign_in(session, anonymous.sid, alice)
        session.commit()
        assert account.session_csrf(session, anonymous.sid) is None  # the anonymous id stops working
        assert account.session_user(session, signed_in.sid) == (alice, signed_in.csrf)
        account.sign_out(session, signed_in.sid)
        session.commit()
        assert account.session_user(session, signed_in.sid) is None
        assert account.session_csrf(session, None) is None and account.session_user(session, "x" * 300) is None
        assert account.SESSION_SECONDS == 14 * 24 * 3600


def test_an_api_token_names_its_owner_until_revoked(db: Engine) -> None:
    with Session(db, expire_on_commit=False) as session:
        alice = desk.add_user(session, "alice@example.com")
        secret = account.issue_token(session, alice, "laptop")
        session.commit()
        assert account.token_user(session, secret) == alice
        assert account.token_user(session, "tdk_mistyped") is None
        token = account.settings(session, alice).tokens[0]
        account.revoke_token(session, alice, token.id)
        session.commit()
        assert account.token_user(session, secret) is None


def test_the_demo_finds_its_user_and_adds_only_the_kinds_it_lacks(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_SECRET", "sk-env")
    with Session(db, expire_on_commit=False) as session:
        assert desk.find_user(session, "demo@example.com") is None
        user = desk.add_user(session, "demo@example.com")
        session.commit()
        assert desk.find_user(session, "  DEMO@example.com ") == user
        d = desk.Desk(session, user)
        assert d.missing_kinds() == list(desk.KINDS) == ["daytrader", "stock_investor"]
        d.new_agent("stock_investor", "openai")
        assert d.missing_kinds() == ["daytrader"]


@pytest.mark.usefixtures("frozen_market")
def test_the_quote_page_lookup_reads_the_symbol_as_typed_and_refuses_an_unknown_one() -> None:
    found, bars = quotes.quote_and_bars("  aapl ")
    assert found.symbol == "AAPL" and len(bars) == 48 and bars[-1].time <= found.time
    assert "AAPL" in quotes.symbols()
    with pytest.raises(market.UnknownSymbol) as unknown:
        quotes.quote_and_bars("z" * 20)
    assert unknown.value.symbol == "Z" * 16  # what is typed beyond 16 characters is cut, as the page always did
