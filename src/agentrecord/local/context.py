"""What the embedded model sees of a conversation: the current request, its tool results as facts, and
`context_turns` earlier exchanges, as the role/content pairs a GGUF chat template accepts."""

from __future__ import annotations

import json
import re
from typing import Any

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

from . import llama
from .fields import asked_fields, focus_facts, result_fields
from .formats import Choice, PromptFormat

FACTS_CHARS = 1600
"""The most characters of tool-result facts put before the question."""


def prompt_text(part: UserPromptPart) -> str:
    content = part.content
    return content if isinstance(content, str) else " ".join(c for c in content if isinstance(c, str))


def flatten(value: Any, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{path} {k}".strip(), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for v in value:  # no item numbers: the answer may only quote numbers the tool wrote
            flatten(v, path, out)
    elif isinstance(value, list):
        out.append((path, ", ".join(str(v) for v in value) if value else "none"))
    elif value is None:
        out.append((path, "none"))
    else:
        out.append((path, str(value)))


def result_text(part: ToolReturnPart) -> str:
    """A tool's result as text; an empty list or dict stays `[]` (pydantic-ai writes it as an empty string)."""
    text = part.model_response_str()
    return text if text or not isinstance(part.content, list | dict) else json.dumps(part.content)


def lists_nothing(result: str) -> bool:
    """Whether a tool's result is an empty JSON list: nothing to report, said as a fact, never paraphrased."""
    try:
        return bool(json.loads(result) == [])
    except ValueError:
        return False


def facts_of(tool: str, result: str, question: str, description: str = "") -> str:
    """A tool result as short sentences ("The last is 190.0."), which small models quote most faithfully.

    When the question names fields of the result (see `fields`), only theirs and those without numbers are
    given; else all, those whose names share a word with the question last, nearest it.
    """
    if lists_nothing(result):
        return f"The {tool.replace('_', ' ')} lists nothing: there are none."
    try:
        data = json.loads(result)
    except ValueError:
        return f"{tool} returned: {result}."
    if not isinstance(data, dict | list):
        return f"{tool} returned: {data}."
    pairs: list[tuple[str, str]] = []
    flatten(data, "", pairs)
    named = asked_fields(question, result_fields([result], [description]))
    if named:
        pairs = focus_facts(pairs, named)
    else:
        asked = set(re.findall(r"[a-z]+", question.lower()))
        pairs.sort(key=lambda kv: bool(set(re.findall(r"[a-z]+", kv[0].lower().replace("_", " "))) & asked))
    return "\n".join(f"The {k.replace('_', ' ') or 'result'} is {v}." for k, v in pairs)


def returns_since_prompt(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    """The results of the tool calls made for the latest user prompt, in order."""
    return [
        p
        for m in messages[max(last_prompt_index(messages), 0) :]
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]


def last_prompt_index(messages: list[ModelMessage]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if isinstance(message, ModelRequest) and any(isinstance(p, UserPromptPart) for p in message.parts):
            return i
    return -1


def earlier_exchanges(messages: list[ModelMessage], turns: int) -> list[tuple[str, str]]:
    """The last `turns` finished exchanges before the current request: (user's text, assistant's final text)."""
    if turns <= 0:
        return []
    end = last_prompt_index(messages)
    found: list[tuple[str, str]] = []
    question: str | None = None
    answer = ""
    for message in messages[: max(end, 0)]:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    if question is not None and answer:
                        found.append((question, answer))
                    question, answer = prompt_text(part), ""
        else:
            text = "".join(p.content for p in message.parts if isinstance(p, TextPart))
            if text:
                answer = text
    if question is not None and answer:
        found.append((question, answer))
    return found[-turns:]


def last_prompt(messages: list[ModelMessage]) -> str:
    """The text of the latest user prompt."""
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart):
                    return prompt_text(part)
    return ""


def since_last_prompt(messages: list[ModelMessage]) -> bool:
    """True when the latest request carries tool results or retries rather than a new user prompt."""
    last = messages[-1] if messages else None
    return isinstance(last, ModelRequest) and not any(isinstance(p, UserPromptPart) for p in last.parts)


def already_answered(messages: list[ModelMessage], choice: Choice) -> bool:
    """True when the same call (tool and arguments) was already made and answered since the last user prompt."""
    for message in reversed(messages):
        if isinstance(message, ModelRequest) and any(isinstance(p, UserPromptPart) for p in message.parts):
            return False
        if isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, ToolCallPart) and (part.tool_name, part.args_as_dict()) == (
                    choice.tool,
                    choice.args,
                ):
                    return True
    return False


class Context:
    """The conversation as the embedded model is shown it (a mixin of `LocalModel`)."""

    engine: llama.Engine
    format: PromptFormat
    tool_hint: bool
    routing: str
    context_turns: int
    copy_strings: bool

    def _conversation(
        self,
        messages: list[ModelMessage],
        instructions: str | None,
        tool_system: str | None,
        described: dict[str, str] | None = None,
    ) -> list[dict[str, str]]:
        """The chat as role/content pairs the GGUF's template accepts: one system turn, then user/assistant.

        Only the current request (with its tool results) and `context_turns` earlier exchanges are
        shown: a 135M model copies its own old answers, errors and all, into new ones. For the answer
        in words (`tool_system` None) the results of this request's tool calls are written as plain
        facts right before the question, which small models ground on best (`described`: the tools'
        descriptions, which may name their fields).
        """
        described = described or {}
        request = last_prompt(messages)
        system = [instructions] if instructions else []
        start = last_prompt_index(messages)
        turns: list[tuple[str, str]] = []
        for asked, answered in earlier_exchanges(messages, self.context_turns):
            turns += [("user", asked), ("assistant", answered)]
        question, facts = -1, list[str]()
        for message in messages[start:] if start >= 0 else messages:
            if isinstance(message, ModelRequest):
                for part in message.parts:
                    if isinstance(part, SystemPromptPart):
                        system.append(part.content)
                    elif isinstance(part, UserPromptPart):
                        question, facts = len(turns), []
                        turns.append(("user", prompt_text(part)))
                    elif isinstance(part, ToolReturnPart) and not tool_system:
                        facts.append(
                            f"The {part.tool_name.replace('_', ' ')} tool answered:\n"
                            + facts_of(part.tool_name, result_text(part), request, described.get(part.tool_name, ""))
                        )
                    elif isinstance(part, ToolReturnPart):
                        turns.append(("user", f"{part.tool_name} returned: {result_text(part)}"))
                    elif isinstance(part, RetryPromptPart) and tool_system:
                        turns.append(("user", part.model_response()))
            else:
                for rpart in message.parts:
                    if isinstance(rpart, TextPart) and rpart.content and tool_system:
                        turns.append(("assistant", rpart.content))
                    elif isinstance(rpart, ToolCallPart) and tool_system:
                        turns.append(("assistant", self.format.show_call(rpart.tool_name, rpart.args_as_dict())))
        if start >= 0:
            for message in messages[:start]:
                if isinstance(message, ModelRequest):
                    system += [p.content for p in message.parts if isinstance(p, SystemPromptPart)]
        if facts and question >= 0:
            data = "\n".join(facts)[:FACTS_CHARS]
            turns[question] = (
                "user",
                f"{turns[question][1]}\n\n{data}\n\nReply to the user in one sentence using these facts.",
            )
        if tool_system:
            system.append(tool_system)
        merged: list[dict[str, str]] = [{"role": "system", "content": "\n\n".join(system)}] if system else []
        for role, content in turns:
            if merged and merged[-1]["role"] == role:
                merged[-1]["content"] += "\n\n" + content
            else:
                merged.append({"role": role, "content": content})
        return merged
