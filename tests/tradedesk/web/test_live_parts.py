"""The agent page's live parts over real HTTP (no worker: a queued turn stays queued): the response that
queues a turn and `GET …/live` carry the status, usage, recent jobs and the approvals badge as HTMX
out-of-band swaps. The browser tests (test_browser.py) watch them change on the page.
"""

from __future__ import annotations

import re

from .conftest import Browserish, signed_up

OOB = re.compile(r'<(\w+)[^>]*\bid="([\w-]+)"[^>]*\bhx-swap-oob="true"[^>]*>(.*?)</\1>', re.S)


def parts(html: str) -> dict[str, str]:
    """The out-of-band elements of a response: id → their text, tags stripped and spaces squeezed."""
    return {key: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for _, key, body in OOB.findall(html)}


def day_trader(client: Browserish) -> str:
    made = client.form("/agents", {"kind": "daytrader", "provider": "local"})
    assert made.status_code == 200 and made.url.path.startswith("/agents/daytrader/"), made.text[:300]
    client.page(made.url.path)
    return made.url.path


def test_the_live_parts_of_a_new_agent_say_idle_no_tokens_no_jobs_and_nothing_waiting(live: str) -> None:
    client = signed_up(live, "ann@example.com")
    path = day_trader(client)
    found = parts(client.get(f"{path}/live").text)
    assert set(found) == {"agent-status", "agent-usage", "agent-pending", "capital", "recent-jobs", "nav-approvals"}
    assert found["agent-status"] == "idle"
    assert "0 tokens (0 in, 0 out)" in found["agent-usage"]
    assert found["recent-jobs"] == "No jobs yet."
    assert found["agent-pending"] == "" and found["nav-approvals"] == "0"
    client.close()


def test_the_htmx_answer_that_queues_a_turn_shows_it_running_in_the_status_and_recent_jobs(live: str) -> None:
    client = signed_up(live, "ben@example.com")
    path = day_trader(client)
    answer = client.post(f"{path}/messages", data={"prompt": "quote AAPL"}, headers={"HX-Request": "true",
                         "X-CSRF-Token": client.csrf})  # fmt: skip
    assert answer.status_code == 200, answer.text[:300]
    assert f'data-live="{path}/live"' in answer.text  # where the page fetches the parts once the stream ends
    found = parts(answer.text)
    assert found["agent-status"] == "running"  # queued: no worker has taken it yet, and it is not idle
    assert found["recent-jobs"].startswith("queued quote AAPL")
    assert parts(client.get(f"{path}/live").text)["agent-status"] == "running"
    client.close()


def test_every_page_of_a_signed_in_user_carries_the_approvals_badge_and_no_live_parts(live: str) -> None:
    client = signed_up(live, "cy@example.com")
    path = day_trader(client)
    for page in ("/", path, "/approvals", "/orders", "/settings"):
        html = client.get(page).text
        assert re.search(r'<span id="nav-approvals" class="badge"[^>]*hidden>0</span>', html), page
        assert "hx-swap-oob" not in html, page  # whole pages render the parts in place
    client.close()


def test_the_agent_page_follows_a_turn_under_way_when_it_loads(live: str) -> None:
    client = signed_up(live, "dee@example.com")
    path = day_trader(client)
    assert "data-events" not in client.get(path).text  # nothing under way: no box to fill
    queued = client.post(f"{path}/messages", data={"prompt": "quote MSFT"},
                         headers={"HX-Request": "true", "X-CSRF-Token": client.csrf})  # fmt: skip
    job = re.search(r'data-job="([^"]+)"', queued.text)
    assert job is not None, queued.text[:300]
    page = client.get(path).text  # as after a reload, or after approving a held call elsewhere
    assert f'data-events="{path}/jobs/{job.group(1)}/events"' in page and f'data-live="{path}/live"' in page
    assert "data-events" not in client.get(f"{path}?before=1").text  # an older page of the history follows nothing
    client.close()
