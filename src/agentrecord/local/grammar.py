"""GBNF grammars for the embedded model: tool arguments from a JSON schema, and answers whose numbers are given.

Every generation under these grammars is bounded: strings have a maximum length even when the schema
gives none, arrays a maximum number of items, objects a maximum depth, numbers a maximum number of
digits. So a generation cannot run on to the token cap (a cut-off argument was a crash), and its
length is known before it starts.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from llama_cpp.llama_grammar import SchemaConverter

STRING_MAX = 48
"""Longest string argument when the schema sets no maxLength."""
ITEMS_MAX = 5
"""Most items of an array when the schema sets no maxItems."""
DEPTH_MAX = 3
"""Deepest nesting of objects and arrays in arguments."""
DIGITS_MAX = 9
"""Most integer digits of a number when the schema sets no bounds."""
ENUMERATE_MAX = 200
"""An integer range at most this wide is written out value by value, so its bounds hold exactly."""

NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
"""A number as the answers grammar and the faithfulness check see one: digits, maybe a decimal part."""


@dataclass(frozen=True)
class Bounds:
    """How much freedom a grammar leaves; the retry after a failed generation uses `tight()`."""

    string_max: int = STRING_MAX
    items_max: int = ITEMS_MAX
    depth_max: int = DEPTH_MAX

    def tight(self) -> Bounds:
        return Bounds(string_max=min(self.string_max, 24), items_max=min(self.items_max, 2), depth_max=2)


@dataclass
class _Rules:
    rules: dict[str, str] = field(default_factory=dict)
    by_body: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, body: str) -> str:
        found = self.by_body.get(body)
        if found is not None:
            return found
        name = re.sub(r"[^a-zA-Z0-9-]", "-", name) or "r"
        base, n = name, 1
        while name in self.rules:
            n += 1
            name = f"{base}{n}"
        self.rules[name] = body
        self.by_body[body] = name
        return name

    def fresh(self, name: str) -> str:
        """A new rule name (never shared), reserved with an empty body."""
        name = re.sub(r"[^a-zA-Z0-9-]", "-", name) or "r"
        base, n = name, 1
        while name in self.rules:
            n += 1
            name = f"{base}{n}"
        self.rules[name] = '""'
        return name

    def text(self, root: str) -> str:
        lines = [f"root ::= {root}"] if root != "root" else []
        lines += [f"{name} ::= {body}" for name, body in self.rules.items()]
        return "\n".join(lines) + "\n"


def literal(value: Any) -> str:
    """A GBNF literal matching the JSON encoding of `value`."""
    return json.dumps(json.dumps(value))


_CHAR = r'[^"\\\x00-\x1F\x7F]'


def _repeat(item: str, low: int, high: int) -> str:
    if high <= 0:
        return '""'
    return f"{item}{{{low},{high}}}"


def _digits_for(bound: float | None) -> int:
    if bound is None:
        return DIGITS_MAX
    return max(1, len(str(int(abs(bound)))))


def integer_rule(schema: dict[str, Any]) -> str:
    """Integers within the schema's bounds: listed one by one for a small range, else by digit count."""
    low, high = _int_bounds(schema)
    if low is not None and high is not None and 0 <= high - low <= ENUMERATE_MAX:
        return " | ".join(literal(v) for v in range(low, high + 1)) if high >= low else '"0"'
    digits = max(_digits_for(low), _digits_for(high)) if low is not None and high is not None else DIGITS_MAX
    body = f'("0" | [1-9] [0-9]{{0,{digits - 1}}})' if digits > 1 else "[0-9]"
    if low is None or low < 0:
        return f'"-"? {body}'
    return body


def _int_bounds(schema: dict[str, Any]) -> tuple[int | None, int | None]:
    low = schema.get("minimum")
    high = schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = int(schema["exclusiveMinimum"]) + 1
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = int(schema["exclusiveMaximum"]) - 1
    return (None if low is None else int(low)), (None if high is None else int(high))


def number_rule(schema: dict[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    digits = max(_digits_for(low), _digits_for(high)) if low is not None and high is not None else DIGITS_MAX
    body = f'("0" | [1-9] [0-9]{{0,{digits - 1}}}) ("." [0-9]{{1,4}})?'
    if low is None or low < 0:
        return f'"-"? {body}'
    return body


class ArgumentsGrammar:
    """Compiles a tool's parameters schema (required and chosen optional properties) to GBNF.

    `fixed` maps top-level properties to values already decided (copied from the request or chosen
    by likelihood): the grammar writes them as constants. `choices` maps a property to the only
    strings it may take (spans of the request, say).
    """

    def __init__(self, schema: dict[str, Any], bounds: Bounds = Bounds()) -> None:
        self.schema, self.bounds = schema, bounds
        self.defs: dict[str, Any] = {**schema.get("$defs", {}), **schema.get("definitions", {})}
        self.r = _Rules()

    def compile(
        self,
        properties: list[str],
        fixed: dict[str, Any] | None = None,
        choices: dict[str, list[Any]] | None = None,
    ) -> str:
        fixed, choices = fixed or {}, choices or {}
        props = self.schema.get("properties", {})
        parts: list[str] = []
        for i, name in enumerate(properties):
            key = literal(name) + ' ":" space '
            if name in fixed:
                value = literal(fixed[name])
            elif name in choices:
                value = " | ".join(literal(c) for c in choices[name]) or '""'
                value = f"({value})"
            else:
                value = self.visit(props.get(name, {}), name, 1)
            parts.append(('"," space ' if i else "") + key + value)
        self.r.add("space", '" "?')
        body = '"{" space ' + " ".join(parts) + (' space "}"' if parts else ' "}"')
        root = self.r.add("root", body)
        return self.r.text(root)

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in schema and seen < 8:
            name = str(schema["$ref"]).rsplit("/", 1)[-1]
            schema = {**self.defs.get(name, {}), **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        return schema

    def visit(self, schema: dict[str, Any], name: str, depth: int) -> str:
        schema = self._resolve(schema)
        if "const" in schema:
            return self.r.add(name, literal(schema["const"]))
        if "enum" in schema:
            return self.r.add(name, " | ".join(literal(v) for v in schema["enum"]) or '"null"')
        variants = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(variants, list) and variants:
            # a value over a null: a small model given the choice writes null for what it was asked for
            real = [v for v in variants if self._resolve(v).get("type") != "null"] or variants
            return self.r.add(name, " | ".join(self.visit(v, f"{name}-{i}", depth) for i, v in enumerate(real)))
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or kind
            return self.r.add(name, " | ".join(self.visit({**schema, "type": k}, f"{name}-{k}", depth) for k in kinds))
        if kind == "string" or (kind is None and ("pattern" in schema or "maxLength" in schema)):
            return self.string(schema, name)
        if kind == "integer":
            return self.r.add(name, integer_rule(schema))
        if kind == "number":
            return self.r.add(name, number_rule(schema))
        if kind == "boolean":
            return self.r.add(name, '"true" | "false"')
        if kind == "null":
            return self.r.add(name, '"null"')
        if kind == "array":
            return self.array(schema, name, depth)
        return self.object(schema, name, depth)

    def string(self, schema: dict[str, Any], name: str) -> str:
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            return self.pattern(pattern, name)
        if schema.get("format") == "date":
            return self.r.add(name, r'"\"" [0-9]{4} "-" [0-1] [0-9] "-" [0-3] [0-9] "\""')
        high = min(int(schema.get("maxLength", self.bounds.string_max)), self.bounds.string_max)
        low = min(int(schema.get("minLength", 1)), high)
        char = self.r.add("char", _CHAR)
        return self.r.add(name, r'"\"" ' + _repeat(char, low, high) + r' "\""')

    def pattern(self, pattern: str, name: str) -> str:
        """A string matching a regular expression (anchored), through llama.cpp's own pattern compiler."""
        anchored = ("" if pattern.startswith("^") else "^") + pattern + ("" if pattern.endswith("$") else "$")
        converter = SchemaConverter(  # type: ignore[no-untyped-call]
            prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
        )
        try:
            rule = str(converter._visit_pattern(anchored, "pat"))  # type: ignore[no-untyped-call]
        except (AssertionError, ValueError, IndexError, KeyError):
            return self.string({"type": "string"}, name)
        names = {n: self.r.fresh(f"{name}-{n}") for n in converter._rules}
        for n, body in converter._rules.items():
            self.r.rules[names[n]] = _rename(str(body), names)
        return names[rule]

    def array(self, schema: dict[str, Any], name: str, depth: int) -> str:
        items = schema.get("items", {})
        high = min(int(schema.get("maxItems", self.bounds.items_max)), self.bounds.items_max)
        low = min(int(schema.get("minItems", 0)), high)
        if depth >= self.bounds.depth_max or not isinstance(items, dict):
            return self.r.add(name, '"[" "]"') if low == 0 else self.r.add(name, self.visit({}, f"{name}-x", depth))
        item = self.visit(items, f"{name}-item", depth + 1)
        if high == 0:
            return self.r.add(name, '"[" "]"')
        tail = _repeat(f'("," space {item})', max(low - 1, 0), high - 1)
        body = f'"[" space {item} {tail} space "]"'
        return self.r.add(name, body if low > 0 else f'"[" space "]" | {body}')

    def object(self, schema: dict[str, Any], name: str, depth: int) -> str:
        props: dict[str, Any] = schema.get("properties") or {}
        required = [p for p in schema.get("required", []) if p in props] or list(props)
        if not props or depth >= self.bounds.depth_max:
            return self.r.add(name, '"{" "}"')
        parts = []
        for i, prop in enumerate(required):
            value = self.visit(props[prop], f"{name}-{prop}", depth + 1)
            parts.append(('"," space ' if i else "") + literal(prop) + f' ":" space {value}')
        return self.r.add(name, '"{" space ' + " ".join(parts) + ' space "}"')


def _rename(body: str, names: dict[str, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        return names.get(word, word)

    # rule references are bare words outside literals and character classes
    def outside(text: str) -> str:
        text = re.sub(r"[a-zA-Z][a-zA-Z0-9-]*", swap, text)
        # unbounded repetitions (+, *) get the string bound: a pattern cannot run on to the token cap
        return text.replace("+", f"{{1,{STRING_MAX}}}").replace("*", f"{{0,{STRING_MAX}}}")

    out, i = [], 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]', body):
        out.append(outside(body[i : m.start()]))
        found = m.group(0)
        if found.startswith('"'):  # a regex escape copied into a literal ("\.") is not a GBNF escape
            found = re.sub(r'\\([^"\\nrtxu])', r"\1", found)
        out.append(found)
        i = m.end()
    out.append(outside(body[i:]))
    return "".join(out)


def numbers_in(texts: Iterable[str]) -> set[str]:
    """Every number written in `texts`, as written and without trailing decimal zeros (190.0 also as 190)."""
    found: set[str] = set()
    for text in texts:
        for number in NUMBER.findall(text):
            found.add(number)
            if "." in number:
                trimmed = number.rstrip("0").rstrip(".")
                found.add(trimmed)
    return found


def same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return False


class NumbersFrom:
    """The lazy constraint of answers: every number written is one of `numbers`, copied whole; one line.

    A number being written must be the start of an allowed one; a finished one must be allowed, so
    "33" and "12" cannot be glued into "33.12", nor "190" grow into "1900".
    """

    def __init__(self, numbers: Iterable[str]) -> None:
        self.allowed = {n for n in numbers if n}
        self.prefixes = {n[:i] for n in self.allowed for i in range(1, len(n) + 1)}

    def __call__(self, text: str, final: bool) -> bool:
        if "\n" in text.lstrip("\n") or any(
            c not in _ASCII_DIGITS and unicodedata.numeric(c, None) is not None for c in text
        ):
            return False  # one line; no digits but ASCII ones (no ⅛, no ², no ٣)
        tail = None if final else _TAIL.search(text)
        body = text[: tail.start()] if tail else text
        if any(m.group(0) not in self.allowed for m in NUMBER.finditer(body)):
            return False
        return tail is None or tail.group(0) in self.prefixes


_ASCII_DIGITS = frozenset("0123456789")
_TAIL = re.compile(r"(?<![0-9.])[0-9]+(?:\.[0-9]*)?$")
