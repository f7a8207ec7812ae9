"""Who is signed in: passwords (Argon2), database sessions, API tokens, login throttling, provider keys.

Secrets are stored only as hashes (session ids, tokens: SHA-256; passwords: Argon2) or encrypted
(provider keys: Fernet under `TRADEDESK_SECRET_KEY`), so a copy of the database signs nobody in and
reveals no key. Every lookup returns the owner's `User`; callers scope everything else to it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, Index, LargeBinary, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tradedesk.brokerage.db import Base
from tradedesk.users.users import User

SESSION_TTL = timedelta(days=14)
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_LIMIT = 5
"""Failed logins for one email within the window before further attempts are refused."""
MIN_PASSWORD = 8
SECRET_ENV = "TRADEDESK_SECRET_KEY"


class IdentityError(ValueError):
    """A sign-in or credential problem the person can fix; the message says how."""


class Throttled(IdentityError):
    """Too many failed logins for this email recently."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins: try again in {retry_after} s.")
        self.retry_after = retry_after


class WebSession(Base):
    """A browser session: anonymous (before login, carrying the CSRF token) or signed in."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A bearer token for `/api`, shown once when created; only its hash is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Password(Base):
    """A user's Argon2 password hash (users added by the CLI may have none until `user password`)."""

    __tablename__ = "passwords"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    hash: Mapped[str] = mapped_column(String(255))


class LoginFailure(Base):
    """One failed login, for throttling across every server process."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_email_at", "email", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProviderKey(Base):
    """A user's own key for one provider, encrypted at rest; never shown back."""

    __tablename__ = "provider_keys"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- passwords -------------------------------------------------------------------------------------


def _hasher() -> object:
    from pwdlib import PasswordHash

    return PasswordHash.recommended()


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise IdentityError(f"A password needs at least {MIN_PASSWORD} characters.")
    if len(password) > 1024:
        raise IdentityError("A password can have at most 1,024 characters.")


def set_password(session: Session, user: User, password: str) -> None:
    """Store (or replace) `user`'s password, Argon2-hashed."""
    check_new_password(password)
    hashed = _hasher().hash(password)  # type: ignore[attr-defined]
    row = session.get(Password, user.id)
    if row is None:
        session.add(Password(user_id=user.id, hash=hashed))
    else:
        row.hash = hashed


def authenticate(session: Session, email: str, password: str) -> User:
    """The user with this email and password, else IdentityError (or Throttled after repeated failures).

    Commits the failure record, so throttling counts attempts from every process.
    """
    address = email.strip().lower()
    since = now() - THROTTLE_WINDOW
    recent = session.scalar(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.email == address, LoginFailure.at >= since)
    )
    if (recent or 0) >= THROTTLE_LIMIT:
        oldest = session.scalar(
            select(func.min(LoginFailure.at)).where(LoginFailure.email == address, LoginFailure.at >= since)
        )
        wait = (_aware(oldest) + THROTTLE_WINDOW - now()).total_seconds() if oldest else 60
        raise Throttled(max(1, int(wait) + 1))
    user = session.scalar(select(User).where(User.email == address))
    stored = session.get(Password, user.id) if user is not None else None
    hasher = _hasher()
    if user is None or stored is None:
        hasher.hash(password)  # type: ignore[attr-defined]  # same work whether or not the email exists
        ok = False
    else:
        ok = bool(hasher.verify(password, stored.hash))  # type: ignore[attr-defined]
    if not ok or user is None:
        session.add(LoginFailure(email=address, at=now()))
        session.commit()
        raise IdentityError("Wrong email or password.")
    session.execute(delete(LoginFailure).where(LoginFailure.email == address))
    return user


# -- sessions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """A new session: the cookie value (shown only now) and its CSRF token."""

    sid: str
    csrf: str


def open_session(session: Session, user: User | None) -> Opened:
    """A new session id for `user` (None: anonymous); the caller sets it as the cookie."""
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    started = now()
    row = WebSession(id_hash=digest(sid), user_id=None if user is None else user.id, csrf=csrf)
    row.created_at, row.expires_at = started, started + SESSION_TTL
    session.add(row)
    return Opened(sid, csrf)


def find_session(session: Session, sid: str | None) -> WebSession | None:
    """The live session with this cookie value, or None."""
    if not sid or len(sid) > 200:
        return None
    row = session.get(WebSession, digest(sid))
    if row is None or _aware(row.expires_at) < now():
        return None
    return row


def rotate(session: Session, old_sid: str | None, user: User) -> Opened:
    """Sign `user` in on a fresh session id; the previous id (anonymous or not) stops working."""
    if old_sid:
        session.execute(delete(WebSession).where(WebSession.id_hash == digest(old_sid)))
    return open_session(session, user)


def close_session(session: Session, sid: str | None) -> None:
    if sid:
        session.execute(delete(WebSession).where(WebSession.id_hash == digest(sid)))


# -- API tokens ------------------------------------------------------------------------------------

TOKEN_PREFIX = "tdk_"


def create_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token row and its secret value (shown once)."""
    label = " ".join(name.split())[:100] or "token"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=label, token_hash=digest(secret), created_at=now())
    session.add(row)
    session.flush()
    return row, secret


def token_user(session: Session, secret: str) -> User | None:
    """The owner of a live (not revoked) token, or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if row is None or row.revoked_at is not None:
        return None
    return session.get(User, row.user_id)


def tokens(session: Session, user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    return list(session.scalars(query.order_by(ApiToken.id)))


def revoke_token(session: Session, user: User, token_id: int) -> bool:
    """Revoke one of `user`'s tokens; False if it is not theirs (or already revoked)."""
    row = session.get(ApiToken, token_id) if 0 < token_id < 2**63 else None  # SQLite's INTEGER range
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        return False
    row.revoked_at = now()
    return True


# -- provider keys ---------------------------------------------------------------------------------


def _fernet() -> object:
    from cryptography.fernet import Fernet

    secret = os.environ.get(SECRET_ENV, "")
    if len(secret) < 16:
        raise IdentityError(
            f"Storing provider keys needs a server secret: set {SECRET_ENV} (at least 16 characters) "
            "in the server's environment."
        )
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def store_key(session: Session, user: User, provider: str, key: str) -> None:
    """Encrypt and store `user`'s key for `provider` (replacing any earlier one)."""
    value = key.strip()
    if not value or len(value) > 4096 or any(c.isspace() for c in value):
        raise IdentityError("A provider key is one word of at most 4,096 characters.")
    token = _fernet().encrypt(value.encode())  # type: ignore[attr-defined]
    row = session.get(ProviderKey, (user.id, provider))
    if row is None:
        session.add(ProviderKey(user_id=user.id, provider=provider, ciphertext=token, updated_at=now()))
    else:
        row.ciphertext, row.updated_at = token, now()


def stored_providers(session: Session, user: User) -> list[str]:
    """The providers `user` has stored a key for (the keys themselves are never shown)."""
    query = select(ProviderKey.provider).where(ProviderKey.user_id == user.id).order_by(ProviderKey.provider)
    return list(session.scalars(query))


def remove_key(session: Session, user: User, provider: str) -> bool:
    result = session.execute(
        delete(ProviderKey).where(ProviderKey.user_id == user.id, ProviderKey.provider == provider)
    )
    return bool(getattr(result, "rowcount", 0))


def user_key(session: Session, user_id: int, provider: str) -> str | None:
    """`user_id`'s decrypted key for `provider`, or None (none stored, or no server secret to read it)."""
    row = session.get(ProviderKey, (user_id, provider))
    if row is None:
        return None
    try:
        return str(_fernet().decrypt(row.ciphertext).decode())  # type: ignore[attr-defined]
    except Exception:  # no or another server secret: fall back to the environment's key
        return None
