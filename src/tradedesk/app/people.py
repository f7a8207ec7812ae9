"""The platform's users as the application sees them: checked emails, lookup by email, signing up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradedesk.app.errors import Conflict, Invalid, NotFound
from tradedesk.brokerage import services
from tradedesk.users import User, identity

if TYPE_CHECKING:
    pass


def normal_email(email: str) -> str:
    return email.strip().lower()


def checked_email(email: str) -> str:
    address = normal_email(email)
    local, at, domain = address.partition("@")
    if not at or not local or not domain or " " in address or len(address) > 320:
        raise Invalid(f"Not an email address: {email!r}.")
    return address


def find_user(session: Session, email: str) -> User | None:
    """The user with this email (in any case), or None; a backtest's book owner is no user to find."""
    return session.scalar(select(User).where(User.email == normal_email(email), User.backtest_of.is_(None)))


def user_by_email(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"No user {email}: add one with `tradedesk user add {email}`.")
    return user


def add_user(session: Session, email: str, password: str | None = None) -> User:
    """A new user with a paper brokerage account (and a password, for signing in on the web)."""
    address = checked_email(email)
    if password is not None:
        try:
            identity.check_new_password(password)
        except identity.IdentityError as error:
            raise Invalid(str(error)) from None
    if session.scalar(select(User).where(User.email == address)) is not None:
        raise Conflict(f"User {address} already exists.")
    user = User(email=address)
    session.add(user)
    session.flush()
    services.broker().open_account(session, user.id)
    if password is not None:
        identity.set_password(session, user, password)
    return user
