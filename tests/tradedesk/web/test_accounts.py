"""Signing up, in and out over real HTTP: sessions rotate, CSRF is required, failed logins are throttled."""

from __future__ import annotations

import httpx

from tradedesk.web.auth import COOKIE

from .conftest import browser, signed_up


def test_signing_up_signs_in_and_the_dashboard_shows_an_empty_account(live: str) -> None:
    client = signed_up(live, "alice@example.com")
    page = client.page("/")
    assert "alice@example.com" in page.text
    assert "You have no agents yet" in page.text
    assert "$100,000.00" in page.text


def test_a_session_id_set_before_login_is_dead_after_it(live: str) -> None:
    signed_up(live, "alice@example.com").close()
    client = browser(live)
    client.page("/login")
    before = client.cookies[COOKIE]
    client.form("/login", {"email": "alice@example.com", "password": "correct horse"})
    after = client.cookies[COOKIE]
    assert after != before
    fixated = httpx.get(f"{live}/", cookies={COOKIE: before}, follow_redirects=False)
    assert fixated.status_code == 303 and fixated.headers["location"] == "/login"
    assert httpx.get(f"{live}/", cookies={COOKIE: after}).status_code == 200


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(live: str) -> None:
    client = signed_up(live, "alice@example.com")
    refused = client.post("/agents", data={"kind": "daytrader"})
    assert refused.status_code == 403
    assert "reload the page" in refused.text
    forged = client.post("/agents", data={"kind": "daytrader", "csrf_token": "forged"})
    assert forged.status_code == 403
    assert "You have no agents yet" in client.page("/").text
    htmx = client.post(
        "/agents", data={"kind": "daytrader"}, headers={"HX-Request": "true", "X-CSRF-Token": client.csrf}
    )
    assert htmx.status_code in (200, 204)
    assert "daytrader/1" in client.page("/").text


def test_repeated_failed_logins_are_throttled_even_with_the_right_password(live: str) -> None:
    signed_up(live, "alice@example.com").close()
    client = browser(live)
    for _ in range(5):
        client.page("/login")
        wrong = client.form("/login", {"email": "alice@example.com", "password": "wrong password"})
        assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    client.page("/login")
    throttled = client.form("/login", {"email": "alice@example.com", "password": "correct horse"})
    assert throttled.status_code == 429 and "Too many failed logins" in throttled.text
    api = httpx.post(f"{live}/api/login", json={"email": "alice@example.com", "password": "correct horse"})
    assert api.status_code == 429 and "Too many failed logins" in api.json()["error"]
    assert int(api.headers["retry-after"]) > 0


def test_logging_out_ends_the_session(live: str) -> None:
    client = signed_up(live, "alice@example.com")
    cookie = client.cookies[COOKIE]
    client.form("/logout")
    assert httpx.get(f"{live}/", cookies={COOKIE: cookie}, follow_redirects=False).status_code == 303


def test_signup_refuses_a_taken_email_and_a_short_password_in_one_line(live: str) -> None:
    signed_up(live, "alice@example.com").close()
    client = browser(live)
    client.page("/signup")
    taken = client.form("/signup", {"email": "ALICE@example.com", "password": "another one"})
    assert taken.status_code == 409 and "User alice@example.com already exists." in taken.text
    client.page("/signup")
    short = client.form("/signup", {"email": "bob@example.com", "password": "short"})
    assert short.status_code == 422 and "at least 8 characters" in short.text
    assert "Traceback" not in short.text
