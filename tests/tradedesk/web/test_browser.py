"""The platform in a real browser: Debian's Chromium (Playwright) against `tradedesk serve` as a real process
with its in-process worker, and a scripted model that answers "buy N SYM" with an order, then a sentence.

Sign up, create a day trader, watch its reply stream in; an order above the approval threshold waits,
is approved on the approvals page and fills; the portfolio shows the position and the equity curve; a
second user sees none of another's account.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.agentrecord.jobs.fleet import buyer

from .conftest import Browserish, signed_up
from .real_platform import Platform, chromium, platform

pytestmark = pytest.mark.timeout(120)
WAIT = 30_000
"""Milliseconds any one thing may take to show (a turn is two model calls on a worker)."""
PASSWORD = "correct horse"
expect.set_options(timeout=WAIT)


@pytest.fixture(scope="module")
def served() -> Iterator[Platform]:
    # Chunks of 4 characters, 50 ms apart: the reply visibly arrives in pieces.
    with platform(buyer("order_entry", side="buy"), chunk_delay=0.05) as running:
        yield running


@pytest.fixture(scope="module")
def chrome() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def context(chrome: Browser, served: Platform) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) on the platform."""
    made = chrome.new_context(base_url=served.base)
    made.set_default_timeout(WAIT)
    yield made
    made.close()


def sign_up(page: Page, email: str) -> None:
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("header .who")).to_have_text(email)


def create_day_trader(page: Page) -> str:
    """Create a day trader on openai / gpt-5.4-mini from the dashboard; its page's path."""
    page.goto("/")
    form = page.locator("#new-agent")
    form.get_by_label("Kind").select_option("daytrader")
    form.get_by_label("Provider").fill("openai")
    form.get_by_label("Model").fill("gpt-5.4-mini")
    form.get_by_role("button", name="Create agent").click()
    expect(page).to_have_url(re.compile(r"/agents/daytrader/\d+$"))
    expect(page.locator("main")).to_contain_text("openai · gpt-5.4-mini")
    return re.sub(r"^https?://[^/]+", "", page.url)


def send(page: Page, prompt: str) -> None:
    page.get_by_placeholder(re.compile("^Message ")).fill(prompt)
    page.locator("#talk").get_by_role("button", name="Send").click()


def watch_without_reload(page: Page) -> None:
    """Mark the page (a reload clears the mark) and record every text the status badge takes from now on."""
    page.evaluate(
        """() => { window.unreloaded = true; window.statuses = [];
             new MutationObserver(() => {
               const badge = document.getElementById('agent-status');
               const now = badge ? badge.textContent : '';
               if (window.statuses[window.statuses.length - 1] !== now) window.statuses.push(now);
             }).observe(document.querySelector('main'), {subtree: true, childList: true, characterData: true}); }"""
    )


def test_a_new_user_creates_a_day_trader_and_watches_its_reply_stream_in(context: BrowserContext) -> None:
    page = context.new_page()
    sign_up(page, "alice@example.com")
    expect(page.locator("main")).to_contain_text("You have no agents yet")
    path = create_day_trader(page)
    expect(page.locator("#no-messages")).to_be_visible()
    # Every value the agent's text box takes, as the page changes it (streaming shows more than the final one).
    page.evaluate(
        """() => { window.seen = []; new MutationObserver(() => {
             const box = document.querySelector('#messages .msg.agent .text');
             const now = box ? box.textContent : '';
             if (now && window.seen[window.seen.length - 1] !== now) window.seen.push(now);
           }).observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true}); }"""
    )
    send(page, "buy 2 AAPL")

    reply = page.locator("#messages .msg.agent").last
    expect(page.locator("#messages .msg.user").last).to_have_text(re.compile("buy 2 AAPL"))
    expect(reply.locator(".tool.call")).to_contain_text('order_entry(symbol="AAPL", quantity=2, side="buy")')
    expect(reply.locator(".tool.result")).to_contain_text(re.compile(r'"status": ?"filled"'))
    expect(reply.locator(".text")).to_have_text("Done: buy 2 AAPL.")
    expect(reply.locator(".meta")).to_contain_text("tokens")
    expect(page.locator("#no-messages")).to_have_count(0)
    seen: list[str] = page.evaluate("window.seen")
    partial = [s for s in seen if s != "Done: buy 2 AAPL."]
    assert partial and all("Done: buy 2 AAPL.".startswith(s) for s in partial), seen

    page.goto(path)  # the conversation was stored: the page renders it from the database
    history = page.locator("#messages")
    expect(history).to_contain_text("buy 2 AAPL")
    expect(history.locator(".tool.call")).to_contain_text('order_entry(symbol="AAPL"')
    expect(history).to_contain_text("Done: buy 2 AAPL.")
    expect(page.locator("#agent-status")).to_have_text("idle")


def test_an_order_above_the_threshold_waits_is_approved_and_shows_in_the_portfolio_and_equity_curve(
    context: BrowserContext,
) -> None:
    page = context.new_page()
    sign_up(page, "bob@example.com")  # lands on the dashboard: the first equity snapshot
    expect(page.locator("main")).to_contain_text("The curve starts once")
    path = create_day_trader(page)
    send(page, "buy 150 NVDA")  # about $17,000: over the default $10,000 threshold

    reply = page.locator("#messages .msg.agent").last
    expect(reply.locator(".tool.call")).to_contain_text('order_entry(symbol="NVDA", quantity=150, side="buy")')
    expect(reply.locator(".meta")).to_contain_text("waiting for your approval")
    expect(reply.locator(".tool.result")).to_have_count(0)  # nothing was placed
    page.goto("/")
    expect(page.locator("#pending-badge")).to_have_text("1")
    expect(page.locator("#agents")).to_contain_text("waiting for approval")
    page.goto("/orders")
    expect(page.locator("main")).not_to_contain_text("NVDA")

    page.get_by_role("link", name="Approvals").click()
    held = page.locator("#approvals tbody tr")
    expect(held).to_have_count(1)
    expect(held).to_contain_text("order_entry")
    expect(held).to_contain_text('quantity=150, side="buy"')
    expect(held.locator("td.num")).to_have_text(re.compile(r"^\$1\d,\d{3}\.\d\d$"))  # the notional
    held.get_by_role("button", name="Approve").click()
    expect(held).to_contain_text("The turn resumes on a worker")
    held.get_by_role("link", name="follow it on the agent's page").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))

    expect(page.locator("#agent-status")).to_have_text(re.compile("^(running|idle)$"))  # decided: not held
    watch_without_reload(page)  # the page follows the resumed turn until it lands
    expect(page.locator("#messages").get_by_text("Done: buy 150 NVDA.")).to_be_visible()
    expect(page.locator("#messages .tool.result").last).to_contain_text(re.compile(r'"status": ?"filled"'))
    expect(page.locator("#messages .tool.call", has_text="NVDA")).to_have_count(1)  # the held call, once
    expect(page.locator("#agent-status")).to_have_text("idle")
    assert page.evaluate("window.unreloaded") is True
    assert "waiting for approval" not in page.evaluate("window.statuses")  # decided: it runs, then idles
    expect(page.locator("aside .status.done").first).to_be_visible()  # the job, in "Recent jobs"
    page.goto("/approvals")
    expect(page.locator("main")).to_contain_text("Nothing is waiting for you")

    page.get_by_role("link", name="Portfolio").click()
    position = page.locator("#positions tbody tr", has_text="NVDA")
    expect(position).to_have_count(1)
    expect(position.locator("td").nth(1)).to_have_text("150")
    curve = page.locator("svg.chart polyline")
    expect(curve).to_have_count(1)  # two snapshots at least: the first dashboard visit and this page
    points = (curve.get_attribute("points") or "").split()
    assert len(points) >= 2, points
    page.get_by_role("link", name="Orders").click()
    expect(page.locator("main")).to_contain_text("NVDA")
    expect(page.locator("main .status.filled").first).to_be_visible()


def test_the_agent_page_shows_a_finished_turns_tokens_status_and_job_without_a_reload(context: BrowserContext) -> None:
    page = context.new_page()
    sign_up(page, "dave@example.com")
    create_day_trader(page)
    usage, status, recent = page.locator("#agent-usage"), page.locator("#agent-status"), page.locator("#recent-jobs")
    expect(usage).to_contain_text("· 0 tokens (0 in, 0 out) · cost n/a")
    expect(status).to_have_text("idle")
    expect(recent).to_have_text("No jobs yet.")
    expect(page.locator("#capital")).not_to_contain_text("holds")
    watch_without_reload(page)
    send(page, "buy 2 AAPL")

    expect(page.locator("#messages .msg.agent .text").last).to_have_text("Done: buy 2 AAPL.")
    expect(usage).to_have_text(re.compile(r"· [1-9][\d,]* tokens \([1-9][\d,]* in, [1-9][\d,]* out\) · cost \$0\.\d+$"))
    expect(recent.locator("li")).to_have_count(1)
    expect(recent.locator("li")).to_contain_text("buy 2 AAPL")
    expect(recent.locator("li .status")).to_have_text("done")
    expect(status).to_have_text("idle")
    expect(page.locator("#capital")).to_contain_text("holds 2 AAPL")
    assert page.evaluate("window.unreloaded") is True
    statuses: list[str] = page.evaluate("window.statuses")
    assert "running" in statuses and statuses[-1] == "idle", statuses  # it showed the turn running, then idle


def test_a_turn_held_for_approval_shows_in_the_status_and_the_approvals_badge_without_a_reload(
    context: BrowserContext,
) -> None:
    page = context.new_page()
    sign_up(page, "erin@example.com")
    create_day_trader(page)
    badge = page.locator("header nav #nav-approvals")
    expect(badge).to_be_hidden()  # nothing waits
    expect(page.locator("#agent-pending")).to_have_text("")
    watch_without_reload(page)
    send(page, "buy 150 NVDA")  # over the default $10,000 threshold: held

    expect(page.locator("#messages .msg.agent .meta").last).to_contain_text("waiting for your approval")
    expect(page.locator("#agent-status")).to_have_text("waiting for approval")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("1")
    expect(page.locator("#agent-pending")).to_contain_text("1 call waits for your decision")
    expect(page.locator("#recent-jobs li .status")).to_have_text("waiting for approval")
    assert page.evaluate("window.unreloaded") is True
    statuses: list[str] = page.evaluate("window.statuses")
    assert statuses[-1] == "waiting for approval" and "idle" not in statuses, statuses

    page.get_by_role("link", name="Orders").click()
    expect(badge).to_have_text("1")  # every page's navigation carries the count


def test_a_second_user_sees_nothing_of_the_first_users_account(served: Platform, context: BrowserContext) -> None:
    carol = signed_up(served.base, "carol@example.com", PASSWORD)
    agent_path, call_id = _carols_account(carol)

    page = context.new_page()
    sign_up(page, "mallory@example.com")
    main = page.locator("main")
    expect(main).to_contain_text("You have no agents yet")
    expect(page.locator("#agents")).to_have_count(0)
    expect(page.locator("#pending-badge")).to_have_text("0")
    expect(main).to_contain_text("$100,000.00")
    page.goto("/approvals")
    expect(main).to_contain_text("Nothing is waiting for you")
    page.goto("/portfolio")
    expect(main).to_contain_text("No positions yet")
    expect(main).not_to_contain_text("MSFT")
    page.goto("/orders")
    expect(main).not_to_contain_text("MSFT")

    response = page.goto(agent_path)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="404")).to_be_visible()
    expect(main).to_contain_text(f"No agent {agent_path.removeprefix('/agents/')}.")  # as for one that never was:
    missing = page.goto("/agents/daytrader/999")
    assert missing is not None and missing.status == 404
    expect(main).to_contain_text("No agent daytrader/999.")
    expect(main).not_to_contain_text("carol")
    page.goto("/")
    csrf = page.locator("#new-agent input[name=csrf_token]").input_value()
    approve = context.request.post(f"/approvals/{call_id}/approve", form={"csrf_token": csrf})
    assert approve.status == 404
    still = carol.get("/api/approvals").json()
    assert [a["call_id"] for a in still] == [call_id]
    carol.close()


def _carols_account(carol: Browserish) -> tuple[str, str]:
    """Give carol (over plain HTTP) a day trader, a filled order and a held one; her agent's path and held call."""
    created = carol.form("/agents", {"kind": "daytrader", "provider": "openai"})
    path = created.url.path
    assert created.status_code == 200 and path.startswith("/agents/daytrader/"), created.text[:300]
    carol.page(path)
    assert carol.form(f"{path}/messages", {"prompt": "buy 3 MSFT"}).status_code == 200  # about $1,260: fills
    orders = _eventually(carol, "/api/orders", lambda found: bool(found) and found[0]["status"] == "filled")
    assert [(o["symbol"], o["quantity"]) for o in orders] == [("MSFT", 3)], orders
    assert carol.form(f"{path}/messages", {"prompt": "buy 100 MSFT"}).status_code == 200  # about $42,000: waits
    (held,) = _eventually(carol, "/api/approvals", bool)
    return path, str(held["call_id"])


def _eventually(client: httpx.Client, path: str, ready: Callable[[Any], bool], timeout: float = WAIT / 1000) -> Any:
    """GET `path` (JSON) until `ready` says so; what it last returned."""
    deadline = time.monotonic() + timeout
    while not ready(found := client.get(path).json()):
        assert time.monotonic() < deadline, f"{path} stayed {found}"
        time.sleep(0.2)
    return found
