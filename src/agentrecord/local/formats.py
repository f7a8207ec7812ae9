"""Prompt formats that let a small local model pick a tool: what the system prompt says and what the grammar allows.

Each format lists the tools in the system prompt and constrains the model's first reply, by a
grammar, to one call of one listed tool with arguments matching its JSON schema (or to the choice
of answering in words), so a tool call is always well-formed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from llama_cpp.llama_grammar import json_schema_to_gbnf
from pydantic_ai.tools import ToolDefinition

FormatName = Literal["channel", "json", "hermes"]
FORMATS: tuple[FormatName, ...] = ("channel", "json", "hermes")

HINT = (
    "Call a tool only when the request needs data or an action that the tool provides. "
    "For greetings, thanks and general questions, answer in words without a tool."
)


@dataclass(frozen=True)
class Choice:
    """What the model chose: a tool with arguments, or (tool None) to answer in words."""

    tool: str | None
    args: dict[str, Any]


def reply_name(tools: list[ToolDefinition]) -> str:
    """The pseudo-tool name meaning 'answer in words', chosen not to collide with a real tool."""
    names = {t.name for t in tools}
    return next(n for n in ("reply", "reply_in_words", "answer_in_words_") if n not in names)


def _params(tool: ToolDefinition) -> dict[str, Any]:
    schema = dict(tool.parameters_json_schema or {"type": "object", "properties": {}})
    schema.pop("title", None)
    schema.pop("description", None)
    schema.setdefault("properties", {})
    return schema


def _required_params(tool: ToolDefinition) -> dict[str, Any]:
    """The tool's schema cut down to its required arguments (all of them when none is required)."""
    schema = _params(tool)
    required = [name for name in schema.get("required", []) if name in schema["properties"]]
    if required:
        schema["properties"] = {name: schema["properties"][name] for name in required}
        schema["additionalProperties"] = False
    return schema


def _signature(tool: ToolDefinition) -> str:
    props = _params(tool).get("properties", {})
    args = ", ".join(f"{name}: {spec.get('type', 'any')}" for name, spec in props.items())
    return f"{tool.name}({args})"


class PromptFormat:
    """Base of the formats: system prompt text, grammar, parsing, and how an earlier call is shown."""

    name: FormatName

    def system(self, tools: list[ToolDefinition], allow_text: bool, hint: bool) -> str:
        raise NotImplementedError

    def grammar(self, tools: list[ToolDefinition], allow_text: bool) -> str:
        raise NotImplementedError

    def parse(self, text: str, tools: list[ToolDefinition]) -> Choice | None:
        """The choice in the model's constrained output; None if it is cut off or unreadable."""
        raise NotImplementedError

    def show_call(self, tool: str, args: dict[str, Any]) -> str:
        """How an earlier call of `tool` appears in the conversation, so the model sees its own format."""
        raise NotImplementedError


class JsonFormat(PromptFormat):
    """Tools listed as signatures; the model answers `{"tool": name, "arguments": {...}}`."""

    name: FormatName = "json"

    def system(self, tools: list[ToolDefinition], allow_text: bool, hint: bool) -> str:
        lines = [f"- {_signature(t)}: {t.description or ''}".rstrip() for t in tools]
        if allow_text:
            lines.append(f"- {reply_name(tools)}(): answer the user in words, without a tool.")
        text = "You can use these tools:\n" + "\n".join(lines)
        text += '\n\nRespond with JSON: {"tool": "<tool name>", "arguments": {<arguments>}}.'
        return text + (f"\n{HINT}" if hint else "")

    def grammar(self, tools: list[ToolDefinition], allow_text: bool) -> str:
        options: list[dict[str, Any]] = [
            {
                "type": "object",
                "properties": {"tool": {"const": t.name}, "arguments": _params(t)},
                "required": ["tool", "arguments"],
            }
            for t in tools
        ]
        if allow_text:
            reply = {"type": "object", "properties": {}, "additionalProperties": False}
            options.append(
                {
                    "type": "object",
                    "properties": {"tool": {"const": reply_name(tools)}, "arguments": reply},
                    "required": ["tool", "arguments"],
                }
            )
        return str(json_schema_to_gbnf(json.dumps({"anyOf": options})))

    def parse(self, text: str, tools: list[ToolDefinition]) -> Choice | None:
        try:
            data = json.loads(text)
        except ValueError:
            return None
        name = data.get("tool") if isinstance(data, dict) else None
        args = data.get("arguments") if isinstance(data, dict) else None
        if not isinstance(name, str) or not isinstance(args, dict):
            return None
        return Choice(None if name == reply_name(tools) else name, args)

    def show_call(self, tool: str, args: dict[str, Any]) -> str:
        return json.dumps({"tool": tool, "arguments": args})


class HermesFormat(PromptFormat):
    """SmolLM2's function-calling format: tools as JSON in `<tools>`, calls as `<tool_call>[...]</tool_call>`."""

    name: FormatName = "hermes"

    def system(self, tools: list[ToolDefinition], allow_text: bool, hint: bool) -> str:
        specs = [{"name": t.name, "description": t.description or "", "parameters": _params(t)} for t in tools]
        text = (
            "You are an expert in composing functions. You are given a question and a set of possible functions. "
            "Based on the question, you will need to make a function/tool call to achieve the purpose.\n\n"
            f"You have access to the following tools:\n<tools>{json.dumps(specs)}</tools>\n\n"
            "The output MUST strictly adhere to the following format:\n"
            '<tool_call>[{"name": "func_name", "arguments": {"argument1": "value1"}}]</tool_call>'
        )
        if allow_text:
            text += "\nIf no function call is needed, make the tool calls an empty list '[]'."
        return text + (f"\n{HINT}" if hint else "")

    def grammar(self, tools: list[ToolDefinition], allow_text: bool) -> str:
        options = [
            {
                "type": "object",
                "properties": {"name": {"const": t.name}, "arguments": _params(t)},
                "required": ["name", "arguments"],
            }
            for t in tools
        ]
        schema = {"type": "array", "items": {"anyOf": options}, "minItems": 0 if allow_text else 1, "maxItems": 1}
        body = str(json_schema_to_gbnf(json.dumps(schema))).replace("root ::=", "tool-calls ::=", 1)
        return body + '\nroot ::= "<tool_call>" tool-calls "</tool_call>"\n'

    def parse(self, text: str, tools: list[ToolDefinition]) -> Choice | None:
        inner = text.strip().removeprefix("<tool_call>").removesuffix("</tool_call>")
        try:
            calls = json.loads(inner)
        except ValueError:
            return None
        if not isinstance(calls, list):
            return None
        if not calls:
            return Choice(None, {})
        first = calls[0]
        if not isinstance(first, dict) or not isinstance(first.get("name"), str):
            return None
        args = first.get("arguments")
        return Choice(first["name"], args if isinstance(args, dict) else {})

    def show_call(self, tool: str, args: dict[str, Any]) -> str:
        return "<tool_call>" + json.dumps([{"name": tool, "arguments": args}]) + "</tool_call>"


class ChannelFormat(PromptFormat):
    """Choose the tool by likelihood, then write its arguments under the tool's schema grammar.

    Each option (a tool, or answering in words) is scored by how likely the model finds the user's
    message after that option's description ("noisy channel" classification), which small models
    do far better than naming the tool themselves; the arguments are then generated under the
    chosen tool's JSON-schema grammar.
    """

    name: FormatName = "channel"
    REPLY = (
        "Talk with the user: greetings, thanks, or explaining what a term or concept means, in words, "
        "without looking anything up."
    )

    def options(self, tools: list[ToolDefinition], allow_text: bool) -> list[tuple[str | None, str]]:
        """(tool name or None for words, the text the user's message is scored after)."""
        found: list[tuple[str | None, str]] = [(t.name, t.description or t.name.replace("_", " ")) for t in tools]
        if allow_text:
            found.append((None, self.REPLY))
        return [(name, f"The user asks for this: {text}\nThe user's message: ") for name, text in found]

    def args_prompt(self, request: str, tool: ToolDefinition) -> str:
        """The user turn asking for `tool`'s arguments, drawn from the request."""
        names = ", ".join(_required_params(tool).get("properties", {}))
        return (
            f"Request: {request}\n\nCall {tool.name}: {tool.description or ''}\n"
            f"Write its arguments ({names}) as JSON, taken from the request."
        )

    def system(self, tools: list[ToolDefinition], allow_text: bool, hint: bool) -> str:
        return ""

    def grammar(self, tools: list[ToolDefinition], allow_text: bool) -> str:
        """The grammar of the required arguments of the one tool in `tools` (optional ones keep their defaults:
        a small model fills every field it is offered, and its guesses for options are worse than the defaults)."""
        return self.args_grammar(tools[0], {})

    def args_grammar(self, tool: ToolDefinition, fixed: dict[str, str]) -> str:
        """The arguments grammar with the `fixed` enum arguments already decided."""
        schema = _required_params(tool)
        for name, value in fixed.items():
            schema["properties"][name] = {"const": value}
        return str(json_schema_to_gbnf(json.dumps(schema)))

    def enum_choices(self, tool: ToolDefinition) -> dict[str, list[str]]:
        """Required arguments with a few string values (like an order's side), decided by likelihood too:
        generated greedily, the first value wins far too often (every sell became a buy)."""
        props = _required_params(tool)["properties"]
        found: dict[str, list[str]] = {}
        for name, spec in props.items():
            values = spec.get("enum") if isinstance(spec, dict) else None
            if isinstance(values, list) and 2 <= len(values) <= 8 and all(isinstance(v, str) for v in values):
                found[name] = list(values)
        return found

    @staticmethod
    def enum_option(name: str, value: str) -> str:
        """The text the user's message is scored after, for argument `name` taking `value`."""
        return f"The {name.replace('_', ' ')} is {value}.\nThe user's message: "

    def parse(self, text: str, tools: list[ToolDefinition]) -> Choice | None:
        try:
            args = json.loads(text)
        except ValueError:
            return None
        return Choice(tools[0].name, args) if isinstance(args, dict) else None

    def show_call(self, tool: str, args: dict[str, Any]) -> str:
        return f"(I called {tool} with {json.dumps(args)}.)"


def has_arguments(tool: ToolDefinition) -> bool:
    """True when the tool takes any argument."""
    return bool(_params(tool).get("properties"))


def format_named(name: str) -> PromptFormat:
    """The format called `name` (one of FORMATS)."""
    if name == "channel":
        return ChannelFormat()
    if name == "json":
        return JsonFormat()
    if name == "hermes":
        return HermesFormat()
    raise ValueError(f"Unknown prompt format {name!r}; choose one of: {', '.join(FORMATS)}.")
