"""A user's account: signing in, provider keys, API tokens and the password, as the CLI and the web both do it.

The credentials themselves (hashes, encrypted keys, token digests) live in `tradedesk.users.identity`; this is
the application's door to them, so neither interface decides, for example, how a provider is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentrecord import providers as agent_providers
from tradedesk.app.errors import NotFound
from tradedesk.users import identity
from tradedesk.users.identity import IdentityError, Throttled

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tradedesk.users import User

__all__ = [
    "IdentityError",
    "Settings",
    "Throttled",
    "issue_token",
    "remove_key",
    "revoke_token",
    "save_key",
    "set_password",
    "settings",
    "sign_in",
]


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
