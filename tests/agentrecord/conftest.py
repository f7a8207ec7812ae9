"""Fixtures the agentrecord tests share across runtime/, sqlalchemy/ and local/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agentrecord.openai_server import OpenAIServer, served


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIServer]:
    """A fresh local OpenAI-compatible server (fresh port, so a fresh pooled provider) the env points at.

    A test module whose server answers with a responder of its own defines its own `server`.
    """
    with served(monkeypatch) as srv:
        yield srv
