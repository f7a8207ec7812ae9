"""Skills: SKILL.md directories loaded at declaration, run as sub-agents whose usage counts for the parent."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo
from pydantic_ai.usage import RequestUsage
from sqlalchemy import Engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from agentrecord import AgentRecord, DeclarationError, RequestLimitExceeded, Tool
from agentrecord.skills import Skill, load_skill
from agentrecord.testing import Say, ScriptedModel, call, scripted
from tests.agentrecord.declare import declare

HERE = Path(__file__).resolve().parents[1]
"""tests/agentrecord: where the shared skills/ are, and declare.py, which declares `_declare`'s classes."""
PRICED = "gpt-4o-mini"  # a model name with a known price, so the scripted turns have a cost


class SkillBase(DeclarativeBase):
    pass


class Quote(Tool):
    """Get the latest price of a ticker symbol."""

    name = "quote_feed"

    def call(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol, "last": 190.0, "for_user": self.record.user_id}  # type: ignore[attr-defined]


class Positions(Tool):
    """List the user's open positions."""

    name = "position_book"

    def call(self) -> list[dict[str, Any]]:
        return [{"symbol": "AAPL", "quantity": 10, "for_user": self.record.user_id}]  # type: ignore[attr-defined]


class Orders(Tool):
    """Place a market order."""

    name = "order_entry"

    def call(self, symbol: str, quantity: int) -> str:
        return "filled"


class Analyst(AgentRecord, SkillBase):
    __tablename__ = "analysts"
    user_id: Mapped[int] = mapped_column(default=7)

    class Agent:
        model = PRICED
        instructions = "You are an analyst."
        tools = [Quote, Positions, Orders]
        confirm = [Orders]
        skills = [str(HERE / "skills" / "find-trade"), str(HERE / "skills" / "review_book")]


class TightAnalyst(AgentRecord, SkillBase):
    __tablename__ = "tight_analysts"
    user_id: Mapped[int] = mapped_column(default=7)

    class Agent:
        model = PRICED
        tools = [Quote]
        skills = [str(HERE / "skills" / "find-trade")]
        max_requests = 3


TABLES = SkillBase.metadata  # the tables `db` makes (conftest.py)


def new_agent(engine: Engine, cls: type[AgentRecord] = Analyst) -> int:
    with Session(engine) as session:
        agent = cls(provider="openai")
        session.add(agent)
        session.commit()
        return int(agent.id)


def calling(name: str, usage: tuple[int, int] = (0, 0), **args: Any) -> Callable[..., ModelResponse]:
    """A scripted step calling tool `name` that reports `usage` (input, output tokens)."""

    def step(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(
            parts=[ToolCallPart(name, args)], usage=RequestUsage(input_tokens=usage[0], output_tokens=usage[1])
        )

    return step


def watching(seen: list[AgentInfo], then: Callable[..., ModelResponse]) -> Callable[..., ModelResponse]:
    """A scripted step that records what the agent offered the model (tools, instructions), then plays `then`."""

    def step(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(info)
        return then(messages, info)

    return step


def price(input_tokens: int, output_tokens: int) -> Decimal:
    usage = RequestUsage(input_tokens=input_tokens, output_tokens=output_tokens)
    return Decimal(ModelResponse(parts=[TextPart("x")], usage=usage, model_name=PRICED).cost().total_price)


# -- declaration ---------------------------------------------------------------------------------


def test_skills_are_loaded_when_the_class_is_declared() -> None:
    find, review = Analyst.agent_spec().skills
    assert isinstance(find, Skill)
    assert (find.name, find.tool_name) == ("find-trade", "find_trade")
    assert find.description.startswith("Find one trade worth making today")
    assert find.tools == ("quote_feed",)
    assert find.instructions.startswith("# Find a trade")
    assert find.path == HERE / "skills" / "find-trade"
    assert sorted(find.references) == ["limits/risk.md", "playbook.md"]
    assert (find.allowed_tools, find.license, dict(find.metadata)) == (
        ("quote_feed",),
        "MIT",
        {"author": "tradedesk", "version": "1.0"},
    )
    assert len(find.sha256) == 64 and find.sha256 != review.sha256
    assert review.tools == "inherit"
    assert review.references == {}


def _declare(agent_body: dict[str, Any], name: str = "Broken") -> type:
    return declare(type("Agent", (), {"tools": [Quote, Positions, Orders], "confirm": [Orders], **agent_body}), name)


def _skill(root: Path, text: str | None, references: dict[str, str] | None = None) -> Path:
    skill = root / "a_skill"
    skill.mkdir(parents=True)
    if text is not None:
        (skill / "SKILL.md").write_text(textwrap.dedent(text).lstrip())
    for name, content in (references or {}).items():
        (skill / "references" / name).parent.mkdir(parents=True, exist_ok=True)
        (skill / "references" / name).write_text(content)
    return skill


GOOD_FRONT = "---\nname: helper\ndescription: Helps.\n---\n"

MALFORMED = {
    "no front matter": ("# Helper\n\nJust instructions.\n", "no YAML front matter"),
    "unclosed front matter": ("---\nname: helper\ndescription: Helps.\nDo things.\n", "never closed"),
    "bad YAML": ("---\nname: helper\ndescription: [unclosed\n---\nDo things.\n", "not valid YAML: .*line"),
    "front matter not a mapping": ("---\n- name\n- description\n---\nDo things.\n", "must be a mapping"),
    "missing name": ("---\ndescription: Helps.\n---\nDo things.\n", "has no `name`"),
    "empty name": ("---\nname:\ndescription: Helps.\n---\nDo things.\n", "has no `name`"),
    "bad name": ("---\nname: help me\ndescription: Helps.\n---\nDo things.\n", "name 'help me' must be"),
    "missing description": ("---\nname: helper\n---\nDo things.\n", "has no `description`"),
    "unknown tool name": (
        "---\nname: helper\ndescription: Helps.\ntools: [quote_feed, crystal_ball]\n---\nDo things.\n",
        "unknown tool\\(s\\) crystal_ball; Broken's tools are quote_feed, position_book, order_entry",
    ),
    "tool needing approval": (
        "---\nname: helper\ndescription: Helps.\ntools: [order_entry]\n---\nDo things.\n",
        "order_entry, which needs the owner's approval",
    ),
    "tools not a list": (
        "---\nname: helper\ndescription: Helps.\ntools: quote_feed\n---\nDo things.\n",
        "`tools` must be a list of Broken's tool names or 'inherit'",
    ),
    "name of a tool": ("---\nname: quote-feed\ndescription: Helps.\n---\nDo things.\n", "name of Broken's tool"),
    "unknown key": ("---\nname: helper\ndescripton: Helps.\n---\nDo things.\n", "unknown front matter key"),
    "no instructions": (GOOD_FRONT, "no instructions"),
}


@pytest.mark.parametrize(("text", "problem"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_skill_fails_at_declaration_naming_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    skill = _skill(tmp_path, text)
    with pytest.raises(DeclarationError, match=problem) as err:
        _declare({"skills": [str(skill)]})
    assert f"Broken.Agent.skills: {skill / 'SKILL.md'}: " in str(err.value)


def test_a_missing_skill_directory_or_skill_file_fails_at_declaration(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="does not exist") as err:
        _declare({"skills": [str(tmp_path / "nowhere")]})
    assert str(tmp_path / "nowhere" / "SKILL.md") in str(err.value)
    empty = _skill(tmp_path, None)
    with pytest.raises(DeclarationError, match=r"has no SKILL\.md") as err:
        _declare({"skills": [str(empty)]})
    assert str(empty / "SKILL.md") in str(err.value)


def test_two_skills_with_one_name_fail_at_declaration(tmp_path: Path) -> None:
    first = _skill(tmp_path / "1", GOOD_FRONT + "Do things.\n")
    second = _skill(tmp_path / "2", GOOD_FRONT + "Do other things.\n")
    with pytest.raises(DeclarationError, match="two skills named helper"):
        _declare({"skills": [str(first), str(second)]})


def test_skill_paths_resolve_against_the_declaring_module_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "skills" / "review_book").mkdir(parents=True)
    (elsewhere / "skills" / "review_book" / "SKILL.md").write_text(
        "---\nname: review_book\ndescription: The cwd's impostor.\n---\nDo things.\n"
    )
    monkeypatch.chdir(elsewhere)
    cls = _declare({"skills": ["skills/review_book"]}, "FromTests")  # declared in this module
    [skill] = cls.agent_spec().skills  # type: ignore[attr-defined]
    assert skill.path == HERE / "skills" / "review_book"
    assert skill.description.startswith("Review the user's open positions")
    with pytest.raises(DeclarationError, match="does not exist") as err:
        _declare({"skills": ["skills/only_in_cwd"]}, "Lost")
    assert str(HERE / "skills" / "only_in_cwd" / "SKILL.md") in str(err.value)


def test_a_module_imported_from_another_directory_finds_its_own_skills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "app"
    _skill(package / "skills", GOOD_FRONT.replace("Helps.", "The module's own skill.") + "Do things.\n")
    (package / "agents.py").write_text(
        textwrap.dedent(
            """
            from sqlalchemy.orm import DeclarativeBase
            from agentrecord import AgentRecord

            class Base(DeclarativeBase):
                pass

            class Helper(AgentRecord, Base):
                __tablename__ = "helpers"

                class Agent:
                    skills = ["skills/a_skill"]
            """
        )
    )
    cwd = tmp_path / "cwd"
    _skill(cwd / "skills", GOOD_FRONT.replace("Helps.", "The cwd's impostor.") + "Do things.\n")
    monkeypatch.chdir(cwd)
    name = "agentrecord_test_skill_module"
    spec = importlib.util.spec_from_file_location(name, package / "agents.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    [skill] = module.Helper.agent_spec().skills
    assert skill.description == "The module's own skill."
    assert skill.path == package / "skills" / "a_skill"


# -- content hash and references ------------------------------------------------------------------


def test_the_content_hash_covers_skill_md_and_references(tmp_path: Path) -> None:
    skill = tmp_path / "find-trade"
    shutil.copytree(HERE / "skills" / "find-trade", skill)

    def load() -> Skill:
        return load_skill(skill, owner="Analyst", tool_names=["quote_feed"])

    original = load().sha256
    assert original == Analyst.agent_spec().skills[0].sha256  # same bytes, same hash
    md = skill / "SKILL.md"
    text = md.read_text()
    md.write_text(text.replace("one trade", "two trades"))
    assert load().sha256 != original
    md.write_text(text)
    assert load().sha256 == original
    (skill / "references" / "playbook.md").write_text("Risk 5%.\n")
    assert load().sha256 != original


def test_references_read_only_files_inside_references(tmp_path: Path) -> None:
    find = Analyst.agent_spec().skills[0]
    assert find.read_reference("playbook.md").startswith("Never risk more than 2%")
    assert find.read_reference("references/limits/risk.md") == "Maximum position: 100 shares.\n"
    for outside in ("../SKILL.md", "limits/../../SKILL.md", "/etc/passwd", "..\\SKILL.md"):
        with pytest.raises(PermissionError, match="outside"):
            find.read_reference(outside)
    with pytest.raises(FileNotFoundError, match=r"has: limits/risk\.md, playbook\.md"):
        find.read_reference("secrets.md")


def test_a_reference_symlinked_outside_references_is_refused(tmp_path: Path) -> None:
    skill = _skill(tmp_path, GOOD_FRONT + "Do things.\n", {"ok.md": "fine"})
    (tmp_path / "secret.txt").write_text("password")
    (skill / "references" / "leak.md").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(DeclarationError, match=r"references/leak\.md resolves outside references/"):
        load_skill(skill, owner="Broken", tool_names=[])


# -- running skills -------------------------------------------------------------------------------


def test_a_skill_runs_a_sub_agent_whose_usage_and_cost_count_for_the_parent(db: Engine) -> None:
    agent_id = new_agent(db)
    sub_seen: list[AgentInfo] = []
    parent_seen: list[AgentInfo] = []
    model = ScriptedModel(
        [
            watching(parent_seen, calling("find_trade", (100, 10), task="Find a trade in AAPL")),
            watching(sub_seen, calling("quote_feed", (200, 20), symbol="AAPL")),
            Say("Buy 10 AAPL at 190.", 300, 30),
            Say("The skill suggests buying 10 AAPL at 190.", 400, 40),
        ],
        model_name=PRICED,
    )
    with scripted(Analyst, model), Session(db) as session:
        agent = session.get(Analyst, agent_id)
        assert agent is not None
        reply = agent.talk("Find me a trade in AAPL")
    find = Analyst.agent_spec().skills[0]
    # the parent saw the skills by name and description, with one `task` parameter
    offered = {t.name: t for t in parent_seen[0].function_tools}
    assert set(offered) == {"quote_feed", "position_book", "order_entry", "find_trade", "review_book"}
    assert offered["find_trade"].description == find.description
    assert list(offered["find_trade"].parameters_json_schema["properties"]) == ["task"]
    # the sub-agent got only the skill's tools and the skill's instructions
    assert sorted(t.name for t in sub_seen[0].function_tools) == ["quote_feed", "read_reference"]
    assert sub_seen[0].instructions is not None
    assert sub_seen[0].instructions.startswith(find.instructions)
    assert "- playbook.md" in sub_seen[0].instructions and "You are an analyst" not in sub_seen[0].instructions
    # its tool acted for the record's owner, and its answer went back to the parent
    returned = [p for p in model.requests[2][-1].parts if isinstance(p, ToolReturnPart)]
    assert returned[0].content["for_user"] == 7
    skill_return = next(p for p in model.requests[3][-1].parts if isinstance(p, ToolReturnPart))
    assert skill_return.content == "Buy 10 AAPL at 190."
    # usage and cost of all four requests count for the parent: the reply and the persisted row
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.requests) == (1000, 100, 4)
    expected_cost = price(100, 10) + price(200, 20) + price(300, 30) + price(400, 40)
    assert reply.cost == expected_cost
    assert reply.skills == [("find-trade", find.sha256)]
    with Session(db) as session:
        row = session.execute(
            select(Analyst.input_tokens, Analyst.output_tokens, Analyst.total_tokens, Analyst.cost).where(
                Analyst.id == agent_id
            )
        ).one()
        assert tuple(row) == (1000, 100, 1100, expected_cost)
        agent = session.get(Analyst, agent_id)
        assert agent is not None
        recorded = [
            p.metadata
            for m in agent.messages
            if isinstance(m, ModelRequest)
            for p in m.parts
            if isinstance(p, ToolReturnPart) and p.tool_name == "find_trade"
        ]
    assert recorded == [
        {
            "skill": "find-trade",
            "sha256": find.sha256,
            "input_tokens": 500,
            "output_tokens": 50,
            "requests": 2,
            "cost": str(price(200, 20) + price(300, 30)),
        }
    ]
    # the ledger: the parent's two requests, and the skill's sub-agent as one row of two requests
    usage = Analyst._store().usage
    with db.connect() as conn:
        rows = conn.execute(
            select(usage.c.source, usage.c.requests, usage.c.input_tokens, usage.c.output_tokens, usage.c.cost)
            .where(usage.c.agent_id == agent_id)
            .order_by(usage.c.id)
        ).all()
    assert sorted(tuple(r) for r in rows) == sorted(
        [
            ("model", 1, 100, 10, price(100, 10)),
            ("skill:find-trade", 2, 500, 50, price(200, 20) + price(300, 30)),
            ("model", 1, 400, 40, price(400, 40)),
        ]
    )


def test_an_inherit_skill_gets_the_parents_tools_but_no_skills_and_no_approval_tools(db: Engine) -> None:
    agent_id = new_agent(db)
    sub_seen: list[AgentInfo] = []
    model = ScriptedModel(
        [
            call("review_book", task="Review my book"),
            watching(sub_seen, calling("position_book")),
            "AAPL needs attention.",
            "AAPL needs attention first.",
        ]
    )
    with scripted(Analyst, model), Session(db) as session:
        agent = session.get(Analyst, agent_id)
        assert agent is not None
        reply = agent.talk("Which position needs attention?")
    assert [t.name for t in sub_seen[0].function_tools] == ["quote_feed", "position_book"]
    assert reply.text == "AAPL needs attention first."
    assert reply.skills == [("review_book", Analyst.agent_spec().skills[1].sha256)]


def _texts(message: ModelMessage) -> list[tuple[str, str]]:
    out = []
    for part in message.parts:
        if isinstance(part, UserPromptPart):
            out.append(("user", str(part.content)))
        elif isinstance(part, TextPart):
            out.append(("assistant", part.content))
        else:
            out.append((part.part_kind, ""))
    return out


def test_the_sub_agent_sees_the_last_8_user_and_assistant_messages_as_plain_text(db: Engine) -> None:
    agent_id = new_agent(db)
    with Session(db) as session:
        agent = session.get(Analyst, agent_id)
        assert agent is not None
        for i in range(5):
            with scripted(Analyst, ScriptedModel([f"answer {i}"])):
                agent.talk(f"question {i}")
        with scripted(Analyst, ScriptedModel([call("quote_feed", symbol="AAPL"), "AAPL is at 190."])):
            agent.talk("price of AAPL?")
        model = ScriptedModel([call("find_trade", task="Find a trade in AAPL"), "Buy 10.", "Buy 10 AAPL."])
        with scripted(Analyst, model):
            agent.talk("find me a trade")
    sub_request = model.requests[1]
    seen = [text for message in sub_request for text in _texts(message)]
    assert seen == [
        ("assistant", "answer 2"),
        ("user", "question 3"),
        ("assistant", "answer 3"),
        ("user", "question 4"),
        ("assistant", "answer 4"),
        ("user", "price of AAPL?"),
        ("assistant", "AAPL is at 190."),
        ("user", "find me a trade"),
        ("user", "Find a trade in AAPL"),  # the task, sent after the history
    ]
    assert not any(isinstance(p, SystemPromptPart) for m in sub_request for p in m.parts)


def test_the_sub_agent_reads_references_and_is_refused_outside_them(db: Engine) -> None:
    agent_id = new_agent(db)
    model = ScriptedModel(
        [
            call("find_trade", task="Find a trade in AAPL"),
            call("read_reference", name="playbook.md"),
            call("read_reference", name="../SKILL.md"),
            "Buy 10, risking under 2%.",
            "Buy 10 AAPL.",
        ]
    )
    with scripted(Analyst, model), Session(db) as session:
        agent = session.get(Analyst, agent_id)
        assert agent is not None
        agent.talk("find me a trade")
    read = [p for p in model.requests[2][-1].parts if isinstance(p, ToolReturnPart)]
    assert read[0].content == "Never risk more than 2% of the account on one trade.\n"
    [refused] = model.requests[3][-1].parts  # a tool error goes back to the model, nothing was read
    assert isinstance(refused, RetryPromptPart) or getattr(refused, "outcome", None) == "retried"
    assert str(refused.content) == "'../SKILL.md' is outside this skill's references/ directory; not read."


def test_the_turns_request_cap_covers_the_sub_agent(db: Engine) -> None:
    agent_id = new_agent(db, TightAnalyst)
    model = ScriptedModel(
        [
            call("find_trade", task="Find a trade"),
            call("quote_feed", symbol="AAPL"),
            call("quote_feed", symbol="MSFT"),
            call("quote_feed", symbol="NVDA"),
        ]
    )
    with scripted(TightAnalyst, model), Session(db) as session:
        agent = session.get(TightAnalyst, agent_id)
        assert agent is not None
        with pytest.raises(RequestLimitExceeded):
            agent.talk("find me a trade")
    assert len(model.requests) == 3  # the fourth request was never made


def test_a_turn_without_skills_lists_none(db: Engine) -> None:
    agent_id = new_agent(db)
    with scripted(Analyst, ScriptedModel(["hello"])), Session(db) as session:
        agent = session.get(Analyst, agent_id)
        assert agent is not None
        assert agent.talk("hi").skills == []
