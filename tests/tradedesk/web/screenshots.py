"""Screenshots of every page of the web platform, into docs/screenshots/ (`make screenshots`).

Starts `tradedesk serve` (with its worker) on a fresh database behind a scripted model, builds a realistic
account the way a user would in Chromium (two agents, conversations with tool calls, a filled order, a
resting one, a held approval, a schedule, an API token), and saves a full-page PNG of each page.

    python -m tests.tradedesk.web.screenshots [OUTPUT_DIR]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, ViewportSize, expect, sync_playwright

from tests.agentrecord.openai_server import Step, ToolCall

from .real_platform import ROOT, chromium, platform

OUT = ROOT / "docs" / "screenshots"
EMAIL, PASSWORD = "dana@example.com", "correct horse"
VIEWPORT: ViewportSize = {"width": 1280, "height": 860}
_SYMBOL = re.compile(r"\b([A-Z]{1,5})\b")
_BUY = re.compile(r"\b(buy|sell) (\d+) ([A-Z]{1,5})(?: at (\d+(?:\.\d+)?))?")


def model(body: dict[str, Any]) -> Step:
    """A plausible trader: quotes, fundamentals, orders and positions by the prompt's words, then a sentence
    about what the tool answered."""
    messages = body["messages"]
    last = messages[-1]
    if last["role"] == "tool":
        calls = next(m for m in reversed(messages) if m["role"] == "assistant" and m.get("tool_calls"))
        return _summary(calls["tool_calls"][0]["function"]["name"], json.loads(last["content"]))
    prompt = str(last.get("content") or "")
    if order := _BUY.search(prompt):
        side, quantity, symbol, limit = order.groups()
        args: dict[str, Any] = {"symbol": symbol, "side": side, "quantity": int(quantity)}
        if limit:
            args |= {"order_type": "limit", "limit_price": float(limit), "time_in_force": "gtc"}
        return ToolCall("order_entry", args)
    symbol = next((s for s in _SYMBOL.findall(prompt) if s not in ("I", "A")), "AAPL")
    if "fundamental" in prompt.lower():
        return ToolCall("fundamentals_feed", {"symbol": symbol})
    if "position" in prompt.lower():
        return ToolCall("position_book", {})
    if "quote" in prompt.lower():
        return ToolCall("quote_feed", {"symbol": symbol})
    return "I can look up quotes and fundamentals, place orders within your limits, and review your positions."


def _summary(tool: str, result: Any) -> str:
    if tool == "quote_feed":
        last, bid, ask = (float(result[k]) for k in ("last", "bid", "ask"))
        return (
            f"{result['symbol']} last traded at ${last:,.2f} (bid ${bid:,.2f}, ask ${ask:,.2f}). "
            "The spread is tight; a market order would fill near the ask."
        )
    if tool == "fundamentals_feed":
        pe = "no" if result["pe_ratio"] is None else f"{float(result['pe_ratio']):.1f}"
        return (
            f"{result['name']} trades at a P/E of {pe} with a dividend yield of "
            f"{float(result['dividend_yield']):.1%}. Steady, but not cheap."
        )
    if tool == "position_book":
        held = ", ".join(f"{p['quantity']} {p['symbol']}" for p in result) or "nothing"
        return f"You hold {held}."
    if tool == "order_entry":
        if result.get("status") == "filled":
            return f"Bought {result['quantity']} {result['symbol']} at ${float(result['fill_price']):,.2f}."
        if result.get("status") in ("new", "accepted"):
            return f"Your limit order for {result['quantity']} {result['symbol']} rests until the price comes down."
        return f"The broker answered: {result.get('status')} ({result.get('reason')})."
    return "Done."


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print(f"  {name}.png", file=sys.stderr)


def talk(page: Page, prompt: str, *, held: bool = False) -> None:
    """Send `prompt` on the agent page and wait for the streamed reply to end."""
    streamed = page.locator("#messages .msg.agent.streaming, #messages .msg.agent[data-events]")
    before = streamed.count()
    page.get_by_placeholder(re.compile("^Message ")).fill(prompt)
    page.locator("#talk").get_by_role("button", name="Send").click()
    expect(streamed).to_have_count(before + 1)
    expect(streamed.last.locator(".meta")).to_contain_text("waiting for your approval" if held else "tokens")


def new_agent(page: Page, kind: str, model_name: str) -> str:
    page.goto("/")
    form = page.locator("#new-agent")
    form.get_by_label("Kind").select_option(kind)
    form.get_by_label("Provider").fill("openai")
    form.get_by_label("Model").fill(model_name)
    form.get_by_role("button", name="Create agent").click()
    expect(page).to_have_url(re.compile(r"/agents/\w+/\d+$"))
    return re.sub(r"^https?://[^/]+", "", page.url)


def account(context: BrowserContext, out: Path) -> None:
    page = context.new_page()
    page.goto("/login")
    shoot(page, out, "login")
    page.goto("/signup")
    shoot(page, out, "signup")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/$"))
    shoot(page, out, "dashboard-empty")

    trader = new_agent(page, "daytrader", "gpt-5.4-mini")
    talk(page, "What's the quote on NVDA?")
    talk(page, "buy 20 AAPL")
    talk(page, "Show my positions")
    page.locator("#new-schedule").get_by_label("Prompt").fill("Check my positions and trim losers")
    page.locator("#new-schedule").get_by_label("Every").fill("15m")
    page.locator("#new-schedule").get_by_label("Only while the market is open").check()
    page.locator("#new-schedule").get_by_role("button", name="Add schedule").click()
    page.wait_for_url(re.compile(re.escape(trader) + "$"))
    page.goto(trader)
    talk(page, "buy 150 NVDA", held=True)  # about $17,000: over the $10,000 threshold, so it waits

    investor = new_agent(page, "stock_investor", "gpt-5.4")
    talk(page, "What are the fundamentals of KO?")
    talk(page, "buy 40 KO")
    talk(page, "buy 10 MSFT at 300")  # a limit far below the market: it rests, open
    page.goto("/")  # a later equity snapshot than the first visit: the curve has two points at least

    page.goto("/settings")
    page.locator("form[action='/settings/keys']").get_by_label("Provider").select_option("anthropic")
    page.locator("form[action='/settings/keys']").get_by_label("Key").fill("sk-ant-example-not-a-real-key")
    page.locator("form[action='/settings/keys']").get_by_role("button", name="Save key").click()
    page.locator("form[action='/settings/tokens']").get_by_label("Name").fill("my notebook")
    page.locator("form[action='/settings/tokens']").get_by_role("button", name="Create token").click()
    shoot(page, out, "settings")

    page.goto("/")
    shoot(page, out, "dashboard")
    page.goto(trader)
    shoot(page, out, "agent-daytrader")
    page.goto(investor)
    shoot(page, out, "agent-stock-investor")
    page.goto("/approvals")
    shoot(page, out, "approvals")
    page.goto("/portfolio")
    shoot(page, out, "portfolio")
    page.goto("/orders")
    shoot(page, out, "orders")
    page.goto("/quote")
    shoot(page, out, "quote-empty")
    page.goto("/quote?symbol=NVDA")
    shoot(page, out, "quote")
    page.goto("/agents/daytrader/999")
    shoot(page, out, "not-found")


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    out.mkdir(parents=True, exist_ok=True)
    secret = {"TRADEDESK_SECRET_KEY": "screenshots-server-secret-0123456789"}
    with platform(model, chunk_delay=0.01, env=secret) as served, sync_playwright() as playwright:
        print(f"tradedesk serve on {served.base}; screenshots into {out}", file=sys.stderr)
        browser = chromium(playwright)
        try:
            context = browser.new_context(base_url=served.base, viewport=VIEWPORT)
            context.set_default_timeout(30_000)
            expect.set_options(timeout=30_000)
            account(context, out)
            context.close()
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
