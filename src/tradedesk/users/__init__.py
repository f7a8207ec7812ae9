"""The users layer: users and their identity (passwords, web sessions, API tokens, provider keys)."""

from tradedesk.users.users import User

__all__ = ["User"]
