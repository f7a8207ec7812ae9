"""Who is asking: the session cookie (pages, and the API from a browser) or a bearer token (the API).

Every state-changing request made with the cookie must carry the session's CSRF token, as the form
field `csrf_token` or the `X-CSRF-Token` header (HTMX sends the header from the page's <body>).
Bearer-token requests carry no cookie, so they need no CSRF token.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from tradedesk.app import User, account

COOKIE = "tdsid"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Unauthenticated(Exception):
    """No valid session or token; pages redirect to the login page, the API answers 401."""


class CsrfRefused(Exception):
    """A state change made with the session cookie without the session's CSRF token (403)."""


@dataclass
class Viewer:
    """The signed-in user of this request, and how they signed in."""

    user: User
    via: str  # "session" or "token"
    csrf: str = ""


def db(request: Request) -> Iterator[Session]:
    """One database session per request, on the app's engine."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


def set_cookie(request: Request, response: Response, sid: str) -> None:
    response.set_cookie(
        COOKIE,
        sid,
        max_age=account.SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def anonymous_csrf(request: Request, response: Response, session: Session) -> str:
    """The CSRF token of this browser's session, opening an anonymous one (for the login and signup forms)."""
    csrf = account.session_csrf(session, request.cookies.get(COOKIE))
    if csrf is not None:
        return csrf
    opened = account.open_anonymous(session)
    session.commit()
    set_cookie(request, response, opened.sid)
    return opened.csrf


def check_csrf(request: Request, expected: str, form_token: str | None = None) -> None:
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get("x-csrf-token") or form_token or ""
    if not expected or not secrets.compare_digest(given.encode(), expected.encode()):
        raise CsrfRefused("This form has expired or did not come from this site: reload the page and try again.")


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def _form_token(request: Request) -> str | None:
    content_type = request.headers.get("content-type", "")
    if "form" not in content_type:
        return None
    form = await request.form()
    value = form.get("csrf_token")
    return value if isinstance(value, str) else None


async def current(request: Request, session: Session = Depends(db)) -> Viewer:  # noqa: B008 (FastAPI's idiom)
    """FastAPI dependency: the signed-in user; the form is read here (async) and the rest runs off the loop."""
    form_token = await _form_token(request)
    return await run_in_threadpool(_resolved, request, session, form_token)


def _resolved(request: Request, session: Session, form_token: str | None) -> Viewer:
    """`resolve`, then end its read transaction: between here and the route the request holds no pooled connection."""
    viewer = resolve(request, session, form_token)
    session.commit()
    return viewer


def resolve(request: Request, session: Session, form_token: str | None) -> Viewer:
    """The signed-in user (token first, then the cookie), CSRF checked for cookie-borne state changes."""
    token = bearer(request)
    if token is not None:
        user = account.token_user(session, token)
        if user is None:
            raise Unauthenticated("This API token is not valid (revoked or mistyped): create one in settings.")
        return Viewer(user, "token")
    signed_in = account.session_user(session, request.cookies.get(COOKIE))
    if signed_in is None:
        raise Unauthenticated("Sign in first.")
    user, csrf = signed_in
    check_csrf(request, csrf, form_token)
    return Viewer(user, "session", csrf)
