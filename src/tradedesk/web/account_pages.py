"""Signing up, in and out, and settings: provider keys (encrypted, never shown back) and API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from tradedesk.app import User, account, desk
from tradedesk.web import live
from tradedesk.web.auth import COOKIE, Viewer, anonymous_csrf, check_csrf, current, db, set_cookie

router = APIRouter(include_in_schema=False)
Db = Annotated[Session, Depends(db)]
Me = Annotated[Viewer, Depends(current)]
Field = Annotated[str, Form(max_length=4096)]
Csrf = Annotated[str, Form(max_length=200)]


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    templates = request.app.state.templates
    if "waiting" not in context:  # the navigation's approvals badge, on every page of a signed-in user
        context = {**context, "waiting": live.waiting(context.get("viewer"))}
    response: HTMLResponse = templates.TemplateResponse(request, name, context, status_code=status)
    return response


def _credentials_page(request: Request, session: Session, name: str, error: str | None, status: int) -> Response:
    carrier = Response()
    csrf = anonymous_csrf(request, carrier, session)
    return render_with(request, name, {"viewer": None, "error": error, "csrf": csrf}, status, carrier)


def render_with(request: Request, name: str, context: dict[str, Any], status: int, carrier: Response) -> HTMLResponse:
    """Render `name`, keeping the cookies `carrier` set."""
    page = render(request, name, context, status)
    for key, value in carrier.headers.items():
        if key.lower() == "set-cookie":
            page.headers.append("set-cookie", value)
    return page


@router.get("/login")
def login_page(request: Request, session: Db) -> Response:
    return _credentials_page(request, session, "login.html", None, 200)


@router.get("/signup")
def signup_page(request: Request, session: Db) -> Response:
    return _credentials_page(request, session, "signup.html", None, 200)


def _signed_in(request: Request, session: Session, user: User) -> Response:
    opened = account.browser_sign_in(session, request.cookies.get(COOKIE), user)
    session.commit()
    response = RedirectResponse("/", status_code=303)
    set_cookie(request, response, opened.sid)
    return response


def _anonymous_check(request: Request, session: Session, token: str) -> None:
    check_csrf(request, account.session_csrf(session, request.cookies.get(COOKIE)) or "", token)


@router.post("/login")
def login(request: Request, session: Db, email: Field, password: Field, csrf_token: Csrf = "") -> Response:
    _anonymous_check(request, session, csrf_token)
    try:
        user = account.sign_in(session, email, password)
    except account.Throttled as error:
        return _credentials_page(request, session, "login.html", str(error), 429)
    except account.IdentityError as error:
        return _credentials_page(request, session, "login.html", str(error), 401)
    return _signed_in(request, session, user)


@router.post("/signup")
def signup(request: Request, session: Db, email: Field, password: Field, csrf_token: Csrf = "") -> Response:
    _anonymous_check(request, session, csrf_token)
    try:
        user = desk.add_user(session, email, password)
    except desk.DeskError as error:
        session.rollback()
        return _credentials_page(request, session, "signup.html", str(error), error.status)
    return _signed_in(request, session, user)


@router.post("/logout")
def logout(request: Request, session: Db, me: Me) -> Response:
    account.sign_out(session, request.cookies.get(COOKIE))
    session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _settings(request: Request, session: Session, me: Viewer, **extra: Any) -> HTMLResponse:
    shown = account.settings(session, me.user)
    context = {
        "viewer": me,
        "keys": shown.keys,
        "tokens": shown.tokens,
        "providers": shown.providers,
        "new_token": None,
        "error": None,
        "notice": None,
    }
    return render(request, "settings.html", context | extra, 422 if extra.get("error") else 200)


@router.get("/settings")
def settings(request: Request, session: Db, me: Me) -> Response:
    return _settings(request, session, me)


@router.post("/settings/keys")
def store_key(request: Request, session: Db, me: Me, provider: Field, key: Field) -> Response:
    try:
        name = account.save_key(session, me.user, provider, key)
    except Exception as error:  # an unknown provider, a malformed key, or no server secret
        session.rollback()
        return _settings(request, session, me, error=" ".join(str(error).split()))
    session.commit()
    return _settings(request, session, me, notice=f"Saved your {name} key (it is stored encrypted).")


@router.post("/settings/keys/{provider}/remove")
def remove_key(request: Request, provider: str, session: Db, me: Me) -> Response:
    account.remove_key(session, me.user, provider)
    session.commit()
    return _settings(request, session, me, notice=f"Removed your {provider} key.")


@router.post("/settings/tokens")
async def create_token(request: Request, session: Db, me: Me, name: Annotated[str, Form(max_length=100)] = "") -> Any:
    def make() -> str:
        secret = account.issue_token(session, me.user, name)
        session.commit()
        return secret

    secret = await run_in_threadpool(make)
    return await run_in_threadpool(lambda: _settings(request, session, me, new_token=secret))


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, session: Db, me: Me) -> Response:
    account.revoke_token(session, me.user, token_id)
    session.commit()
    return _settings(request, session, me, notice="Revoked the token: it no longer works.")
