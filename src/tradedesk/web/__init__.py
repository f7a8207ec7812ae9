"""The platform in a browser: each user signs in and works with their own agents (and a JSON API)."""

from tradedesk.web.app import create_app

__all__ = ["create_app"]
