"""A user's account: signing in and out (by password, browser session or API token), provider keys, API tokens
and the password, as the CLI and the web both do it.

The credentials themselves (hashes, encrypted keys, token digests) live in `tradedesk.users.identity`; this is
the application's door to them, so neither interface decides, for example, how a provider is named. The web
keeps only the cookie: its name, and setting and reading it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentrecord import providers as agent_providers
from tradedesk.app.errors import NotFound
from tradedesk.users import User, identity
from tradedesk.users.identity import IdentityError, Throttled

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "SESSION_SECONDS",
    "IdentityError",
    "Settings",
    "Throttled",
    "browser_sign_in",
    "issue_token",
    "open_anonymous",
    "remove_key",
    "revoke_token",
    "save_key",
    "session_csrf",
    "session_user",
    "set_password",
    "settings",
    "sign_in",
    "sign_out",
    "token_user",
]

SESSION_SECONDS = int(identity.SESSION_TTL.total_seconds())
"""How long a browser session lasts (the cookie's max age)."""


@dataclass(frozen=True)
class Settings:
    """What the settings page shows: the providers with a stored key (never the key), tokens, and the choices."""

    keys: list[str]
    tokens: list[identity.ApiToken]
    providers: list[str]


def settings(session: Session, user: User) -> Settings:
    names = [p for p in agent_providers.provider_names() if p != "local"]  # the embedded model needs no key
    return Settings(identity.stored_providers(session, user), identity.tokens(session, user), names)


def save_key(session: Session, user: User, provider: str, key: str) -> str:
    """Store `key` encrypted under the provider's canonical name, which is returned."""
    name = agent_providers.canonical(provider)
    identity.store_key(session, user, name, key)
    return name


def remove_key(session: Session, user: User, provider: str) -> bool:
    return identity.remove_key(session, user, provider)


def issue_token(session: Session, user: User, name: str) -> str:
    """A new API token's secret (shown once; only its digest is kept)."""
    _, secret = identity.create_token(session, user, name or "token")
    return secret


def revoke_token(session: Session, user: User, token_id: int) -> None:
    if not identity.revoke_token(session, user, token_id):
        raise NotFound(f"No token {token_id}.")


def sign_in(session: Session, email: str, password: str) -> User:
    """The user these credentials name; `Throttled` after repeated failures, `IdentityError` for wrong ones."""
    return identity.authenticate(session, email, password)


def set_password(session: Session, user: User, password: str) -> None:
    identity.set_password(session, user, password)


def token_user(session: Session, token: str) -> User | None:
    """The owner of a live API token, or None (revoked, mistyped, or not a token)."""
    return identity.token_user(session, token)


def session_csrf(session: Session, sid: str | None) -> str | None:
    """The CSRF token of the live browser session `sid` (signed in or not), or None when there is none."""
    found = identity.find_session(session, sid)
    return None if found is None else found.csrf


def session_user(session: Session, sid: str | None) -> tuple[User, str] | None:
    """The user signed in on browser session `sid`, and its CSRF token; None when anonymous, expired or unknown."""
    found = identity.find_session(session, sid)
    if found is None or found.user_id is None:
        return None
    user = session.get(User, found.user_id)
    return None if user is None else (user, found.csrf)


def open_anonymous(session: Session) -> identity.Opened:
    """A new browser session with no one signed in (it carries the login and signup forms' CSRF token)."""
    return identity.open_session(session, None)


def browser_sign_in(session: Session, old_sid: str | None, user: User) -> identity.Opened:
    """Sign `user` in on a fresh browser session; the previous one (anonymous or not) stops working."""
    return identity.rotate(session, old_sid, user)


def sign_out(session: Session, sid: str | None) -> None:
    identity.close_session(session, sid)
