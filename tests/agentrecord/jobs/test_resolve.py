"""A job names its agent class by import path; the path it stored still finds the class after the class moved."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import DeclarativeBase

from agentrecord import AgentRecord
from agentrecord.jobs.runner import UnknownAgent, resolve


class Base(DeclarativeBase):
    pass


class RelocatedTrader(AgentRecord, Base):
    __tablename__ = "relocated_traders"

    class Agent:
        model = "test-model"


def twin(module: str, table: str) -> type[AgentRecord]:
    """An agent class called `Twin`, as if declared in `module`."""
    attrs = {"__tablename__": table, "__module__": module, "__qualname__": "Twin", "Agent": RelocatedTrader.Agent}
    return type("Twin", (AgentRecord, Base), attrs)


def test_the_stored_path_finds_the_class_where_it_is_now() -> None:
    assert resolve(f"{__name__}:RelocatedTrader") is RelocatedTrader
    assert resolve("tests.agentrecord.models_before_the_move:RelocatedTrader") is RelocatedTrader


def test_a_moved_class_is_looked_for_only_in_its_own_package() -> None:
    with pytest.raises(UnknownAgent, match=re.escape("cannot import the agent class otherapp.models:RelocatedTrader")):
        resolve("otherapp.models:RelocatedTrader")


def test_two_loaded_classes_of_the_name_leave_the_moved_path_unknown() -> None:
    first, second = twin("tests.one", "twins_one"), twin("tests.two", "twins_two")
    assert first is not second
    with pytest.raises(UnknownAgent, match=re.escape("tests.gone:Twin")):
        resolve("tests.gone:Twin")
