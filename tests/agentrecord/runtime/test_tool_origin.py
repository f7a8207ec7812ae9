"""A tool call knows where it comes from: its turn, the stored response asking for it, and its approval."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo
from sqlalchemy import Engine, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from agentrecord import AgentRecord, Tool
from agentrecord.testing import ScriptedModel, call, scripted


class OriginBase(DeclarativeBase):
    pass


class Noted(OriginBase):
    """What each call of `Note` saw in its ToolContext."""

    __tablename__ = "origin_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(100))
    turn: Mapped[int | None]
    seq: Mapped[int | None]
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[str | None] = mapped_column(String(40))


class Note(Tool):
    """Write a note."""

    def call(self, text: str) -> str:
        ctx = self.context
        approval = ctx.approval
        with self.session() as session:
            session.add(
                Noted(
                    call_id=ctx.call_id,
                    turn=ctx.turn,
                    seq=ctx.seq,
                    approved_by=None if approval is None else approval.by or "(nobody said)",
                    approved_at=None if approval is None else approval.at.isoformat(),
                )
            )
        return "noted"


class Scribe(AgentRecord, OriginBase):
    __tablename__ = "scribes"

    class Agent:
        model = "scripted"
        tools = [Note]
        confirm = {Note: "needs_approval"}

    def needs_approval(self, args: dict[str, Any]) -> bool:
        return str(args.get("text", "")).startswith("big")


TABLES = OriginBase.metadata  # the tables `db` makes (conftest.py)


def scribe(engine: Engine) -> int:
    with Session(engine) as session:
        record = Scribe(provider="openai")
        session.add(record)
        session.commit()
        return record.id


def noted(engine: Engine) -> list[Noted]:
    with Session(engine) as session:
        return list(session.scalars(select(Noted).order_by(Noted.id)))


def said_and_called(text: str, *calls: Any) -> Any:
    """A response with text and tool calls at once."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        parts: list[Any] = [TextPart(text)]
        parts += [ToolCallPart(c.name, c.args, tool_call_id=c.id) for c in calls]
        return ModelResponse(parts=parts)

    return respond


def stored(engine: Engine, record_id: int) -> list[tuple[int, ModelMessage]]:
    with Session(engine) as session:
        record = session.get(Scribe, record_id)
        assert record is not None
        return record.history(limit=100)


def calls_at(history: list[tuple[int, ModelMessage]], seq: int | None) -> list[str]:
    found = [m for s, m in history if s == seq]
    assert len(found) == 1 and isinstance(found[0], ModelResponse)
    return [c.tool_call_id for c in found[0].tool_calls]


def test_a_tool_call_sees_its_turn_and_the_seq_of_the_response_that_asked_for_it(db: Engine) -> None:
    record_id = scribe(db)
    first, second, third = call("note", text="a"), call("note", text="b"), call("note", text="c")
    steps: list[Any] = [said_and_called("Noting two.", first, second), "done", third, "done again"]
    with scripted(Scribe, ScriptedModel(steps)), Session(db) as session:
        record = session.get(Scribe, record_id)
        assert record is not None
        record.talk("note a and b")
        record.talk("note c")
    rows = {n.call_id: n for n in noted(db)}
    history = stored(db, record_id)
    assert [rows[c.id].turn for c in (first, second, third)] == [1, 1, 2]
    assert rows[first.id].seq == rows[second.id].seq == 1  # the prompt is 0, the response asking for both is 1
    for c in (first, second, third):
        assert c.id in calls_at(history, rows[c.id].seq)
        assert rows[c.id].approved_by is None and rows[c.id].approved_at is None


def test_an_approved_call_sees_who_approved_it_and_when_in_the_turn_that_held_it(db: Engine) -> None:
    record_id = scribe(db)
    held = call("note", text="big one")
    with scripted(Scribe, ScriptedModel([held])), Session(db) as session:
        record = session.get(Scribe, record_id)
        assert record is not None
        assert [p.call_id for p in record.talk("note a big one").pending] == [held.id]
    assert noted(db) == []
    before = datetime.now(UTC)
    with scripted(Scribe, ScriptedModel(["noted it"])), Session(db) as session:
        record = session.get(Scribe, record_id)
        assert record is not None
        record.approve(held.id, by="alice@example.com")
    [row] = noted(db)
    assert row.call_id == held.id and row.turn == 1 and row.approved_by == "alice@example.com"
    assert row.approved_at is not None and before <= datetime.fromisoformat(row.approved_at) <= datetime.now(UTC)
    assert held.id in calls_at(stored(db, record_id), row.seq)


def test_an_approval_without_an_approver_still_says_when(db: Engine) -> None:
    record_id = scribe(db)
    held = call("note", text="big two")
    with scripted(Scribe, ScriptedModel(["first", held, "noted"])), Session(db) as session:
        record = session.get(Scribe, record_id)
        assert record is not None
        record.talk("hello")
        record.talk("note a big two")
        record.approve(held.id)
    [row] = noted(db)
    assert row.turn == 2 and row.approved_by == "(nobody said)" and row.approved_at is not None
    assert held.id in calls_at(stored(db, record_id), row.seq)


def test_a_denied_call_does_not_run(db: Engine) -> None:
    record_id = scribe(db)
    held = call("note", text="big three")
    with scripted(Scribe, ScriptedModel([held, "ok, not noted"])), Session(db) as session:
        record = session.get(Scribe, record_id)
        assert record is not None
        record.talk("note a big three")
        reply = record.deny(held.id, "no", by="alice@example.com")
        assert reply is not None and reply.text == "ok, not noted"
    assert noted(db) == []
