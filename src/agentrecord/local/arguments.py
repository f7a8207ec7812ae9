"""Tool arguments drawn from the user's request: what can be copied, what must be chosen, what is left to write.

A 135M model asked to write `{"symbol": ...}` freely wrote "NVDA trading at 1.2500000000000001…"
until the token cap. Most arguments are in the request, so they are copied from it: a value of an
enum or a pattern that the request names, a number it contains. What the request does not settle
is chosen by likelihood among the allowed values when they are few, or written under a grammar that
only admits spans and numbers of the request (then, on a retry, anything bounded by the schema).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

WORD_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "fifty": 50,
    "hundred": 100,
    "dozen": 12,
}
SPAN_WORDS = 6
"""Longest span of the request's words offered for a free string (besides the whole request)."""
ENUM_SCORED = 8
"""Enums up to this size are decided by likelihood when the request names none of their values; larger ones
(a market's tickers) are identifiers the request must name, or the model writes one under the enum grammar."""

_NUM = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w]|\.\d)")
_WORD = re.compile(r"[A-Za-z0-9][\w'&.@-]*[\w]|[A-Za-z0-9]")


class _Omit:
    """The choice of leaving an optional argument at its default."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


@dataclass
class Plan:
    """The arguments of one call: decided values, values to choose by likelihood, and the rest to generate."""

    properties: list[str]
    """The properties the call writes, in schema order."""
    fixed: dict[str, Any] = field(default_factory=dict)
    choose: dict[str, list[Any]] = field(default_factory=dict)
    """Properties to decide by likelihood among these values (each list has two or more)."""
    shared: list[list[str]] = field(default_factory=list)
    """Groups of `choose` properties that share one candidate list: assigned jointly, distinct values."""
    unsupported: list[str] = field(default_factory=list)
    """Required identifiers and numbers the request does not give (a ticker it does not name, a quantity
    it does not state): evidence that this tool is not what the request asks for."""
    supported: list[str] = field(default_factory=list)
    """Required arguments the request gives: an identifier or number it contains, a choice it names."""
    given_optional: list[str] = field(default_factory=list)
    """Optional arguments the request gives: a value it names or a number it ties to the property by name
    ("in fahrenheit", "a 5 day forecast"). Evidence for the tool, though not enough to call one it lacks
    required values for."""
    identified: list[str] = field(default_factory=list)
    """Required identifiers the request names from a long list or a pattern (a listed ticker): the
    request is about that thing, which words alone know nothing current of."""
    unchosen: list[str] = field(default_factory=list)
    """Required small choices (an order's side) the request names no value of."""
    chosen: list[str] = field(default_factory=list)
    """Required small choices the request names a value of ("Buy 10 shares"): it asks for that action."""
    free_text: bool = False
    """The tool's one required argument is a task in words (a skill's `task`, a sub-agent's request): it fits
    any request. (A plain `symbol: str` or `query: str` is not: those name a value.)"""


def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 8:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        schema = {**defs.get(name, {}), **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list):
        real = [v for v in variants if isinstance(v, dict) and resolve(v, defs).get("type") != "null"]
        if len(real) == 1:
            return {**resolve(real[0], defs), **{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}}
    return schema


SYNONYMS = "x-synonyms"
"""A schema keyword an application may put beside an `enum`: value -> words that name it in a request
(`{"buy": ["long", "add"]}`), so "Go long 15 shares" settles `side` as a copy rather than a guess."""


def named_in(text: str, value: str, spec: dict[str, Any]) -> bool:
    """True when `text` names the enum `value` of `spec`: the value itself or one of its declared synonyms."""
    synonyms = spec.get(SYNONYMS)
    words = synonyms.get(value, []) if isinstance(synonyms, dict) else []
    return mentions(text, value) or any(isinstance(w, str) and mentions(text, w) for w in words)


def _name_parts(name: str) -> set[str]:
    """The words of an identifier (`exit_trade`, `findTrade`) of three letters or more, lower-cased."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name) if len(w) >= 3}


def name_words(name: str, text: str) -> int:
    """How many words of a tool's name (`exit_trade`, `findTrade`; three letters or more) `text` uses,
    as written or with a plural ending."""
    words = _name_parts(name)
    used = {w.lower() for w in re.findall(r"[A-Za-z]+", text)}
    return sum(1 for w in words if w in used or f"{w}s" in used or f"{w}es" in used)


def tied_numbers(name: str, text: str) -> set[float]:
    """The numbers of `text` within two words of a word of the property's `name` ("5 day forecast" for
    `days`, "a 60 minute meeting" for `duration_minutes`), singular or plural."""
    words = {w.removesuffix("s") for w in _name_parts(name)}
    tokens = re.findall(r"\d+(?:\.\d+)?|[A-Za-z]+", text)
    found: set[float] = set()
    for i, token in enumerate(tokens):
        if token[0].isdigit():
            around = tokens[max(0, i - 2) : i] + tokens[i + 1 : i + 3]
            if any(w.lower().removesuffix("s") in words for w in around):
                found.add(float(token))
    return found


def spans_after_name(name: str, text: str, max_length: int | None) -> list[str]:
    """Spans of `text` right after the last word of the property's `name` ("the subject Lunch tomorrow" for
    `email_subject`): where the request names a string property, its value follows the name."""
    parts = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name)
    words = {parts[-1].lower().removesuffix("s")} if parts and len(parts[-1]) >= 3 else set()
    tokens = _WORD.findall(text)
    found: list[str] = []
    for i, token in enumerate(tokens):
        if token.lower().removesuffix("s") in words:
            for j in range(i + 2, min(len(tokens), i + 1 + SPAN_WORDS) + 1):
                span = " ".join(tokens[i + 1 : j])
                if (max_length is None or len(span) <= max_length) and span not in found:
                    found.append(span)
    return found


def in_order(values: list[str], text: str) -> bool:
    """True when `text` names every one of `values`, in this order."""
    places = []
    for value in values:
        found = re.search(rf"(?<![\w]){re.escape(value)}(?![\w])", text, re.IGNORECASE)
        if found is None:
            return False
        places.append(found.start())
    return places == sorted(places) and len(set(places)) == len(places)


def mentions(text: str, value: str) -> bool:
    """True when `text` names `value` as a word (any case for values of 3+ characters, exact case below)."""
    flags = re.IGNORECASE if len(value) >= 3 else 0
    return re.search(rf"(?<![\w]){re.escape(value)}(?![\w])", text, flags) is not None


def numbers(text: str) -> list[tuple[str, float]]:
    """The numbers of `text` in order, as written (digits) or spelled out (small numbers), with their values."""
    found: list[tuple[int, str, float]] = [(m.start(), m.group(0), float(m.group(0))) for m in _NUM.finditer(text)]
    for m in re.finditer(r"[A-Za-z]+", text):
        word = m.group(0).lower()
        if word in WORD_NUMBERS:
            found.append((m.start(), str(WORD_NUMBERS[word]), float(WORD_NUMBERS[word])))
    return [(written, value) for _, written, value in sorted(found)]


def spans(text: str, max_length: int | None) -> list[str]:
    """Runs of up to SPAN_WORDS consecutive words of `text`, and the whole text, that fit `max_length`."""
    words = _WORD.findall(text)
    found: list[str] = []
    whole = text.strip()
    if whole and (max_length is None or len(whole) <= max_length):
        found.append(whole)
    for i in range(len(words)):
        for j in range(i + 1, min(len(words), i + SPAN_WORDS) + 1):
            span = " ".join(words[i:j])
            if (max_length is None or len(span) <= max_length) and span not in found:
                found.append(span)
    return found


def _in_bounds(value: float, schema: dict[str, Any]) -> bool:
    if schema.get("type") == "integer" and value != int(value):
        return False
    if "minimum" in schema and value < schema["minimum"]:
        return False
    if "maximum" in schema and value > schema["maximum"]:
        return False
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return False
    return not ("exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"])


def _number_value(written: str, schema: dict[str, Any]) -> int | float:
    value = float(written)
    return int(value) if schema.get("type") == "integer" or value == int(value) else value


def pattern_matches(text: str, pattern: str) -> list[str]:
    """Words and short runs of words of `text` that match `pattern` in full, as written.

    Not upper-cased: "Thanks for your help!" would name the ticker FOR."""
    try:
        regex = re.compile(pattern)
    except re.error:
        return []
    found: list[str] = []
    words = [w.strip(".,;:!?'\"()") for w in text.split()]
    candidates = [*words, *(" ".join(words[i : i + 2]) for i in range(len(words) - 1))]
    for word in candidates:
        if word and regex.fullmatch(word) and word not in found:
            found.append(word)
    return found


def plan(schema: dict[str, Any], request: str) -> Plan:
    """What the request settles for each argument of a tool whose parameters are `schema`.

    Required properties are always written. An optional one is written only when the request names
    one of its enum values or ties a number to it by the property's name ("for 2 passengers");
    otherwise it keeps its default (a small model fills every field it is offered, with worse
    guesses than the defaults).
    """
    defs = {**schema.get("$defs", {}), **schema.get("definitions", {})}
    props: dict[str, Any] = schema.get("properties") or {}
    required = [p for p in schema.get("required", []) if p in props]
    result = Plan(properties=[])
    rest = request
    numeric: list[str] = []
    by_candidates: dict[tuple[Any, ...], list[str]] = {}
    for name, raw in props.items():
        spec = resolve(raw if isinstance(raw, dict) else {}, defs)
        is_required = name in required
        values = spec.get("enum")
        if "const" in spec:
            values = [spec["const"]]
        if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            named = [v for v in values if named_in(request, v, spec)]
            if is_required and len(values) > 1:
                (result.supported if named else result.unchosen if len(values) <= ENUM_SCORED else []).append(name)
                if named and len(values) <= ENUM_SCORED:
                    result.chosen.append(name)
                if named and len(values) > ENUM_SCORED:
                    result.identified.append(name)
            if named and not is_required:
                result.given_optional.append(name)
            if len(named) == 1:
                result.fixed[name] = named[0]
            elif len(named) > 1:
                result.choose[name] = named
                by_candidates.setdefault(tuple(named), []).append(name)
            elif is_required and len(values) == 1:
                result.fixed[name] = values[0]
            elif is_required and len(values) <= ENUM_SCORED:
                result.choose[name] = list(values)
            elif is_required:
                result.unsupported.append(name)
            else:
                continue
            result.properties.append(name)
            for value in named:
                rest = re.sub(rf"(?<![\w]){re.escape(value)}(?![\w])", " ", rest, flags=re.IGNORECASE)
            continue
        if spec.get("type") == "boolean":
            if is_required:
                result.choose[name] = [True, False]
                result.properties.append(name)
            continue
        if spec.get("type") == "string" and isinstance(spec.get("pattern"), str):
            found = pattern_matches(request, spec["pattern"])
            if is_required and found:
                result.supported.append(name)
                result.identified.append(name)
            if len(found) == 1:
                result.fixed[name] = found[0]
            elif len(found) > 1:
                result.choose[name] = found
                by_candidates.setdefault(tuple(found), []).append(name)
            elif is_required:
                result.unsupported.append(name)
            else:
                continue
            result.properties.append(name)
            for value in found:
                rest = rest.replace(value, " ")
            continue
        if spec.get("type") in ("integer", "number"):
            numeric.append(name)
            result.properties.append(name)
            continue
        if is_required:
            result.properties.append(name)
    # numbers: from what the strings above did not use, within each property's bounds; required ones first,
    # then optional ones from the numbers left over, each of which may also keep its default (OMIT)
    found_numbers = numbers(rest)
    used: list[float] = []
    for name in sorted(numeric, key=lambda n: n not in required):
        spec = resolve(props[name], defs)
        fits: list[Any] = []
        for written, value in found_numbers:
            if name not in required and value in used:
                continue
            if _in_bounds(value, spec) and _number_value(written, spec) not in fits:
                fits.append(_number_value(written, spec))
        near = tied_numbers(name, rest)
        if name not in required:  # written only for a number the request ties to it ("for 2 passengers")
            tied = [v for v in fits if float(v) in near]
            if tied:
                result.given_optional.append(name)
            if len(tied) == 1:
                result.fixed[name] = tied[0]
                used.append(float(tied[0]))
            elif tied:
                result.choose[name] = tied
            else:
                result.properties.remove(name)  # keeps its default: "the Pixel 9" is no result count
            continue
        fresh = [v for v in fits if float(v) not in used]
        if not fresh:
            result.unsupported.append(name)  # no number left for it (a and b need two)
            continue
        result.supported.append(name)
        fits = fresh if len(fits) > 1 else fits
        tied = [v for v in fits if float(v) in near]
        fits = tied if len(tied) == 1 else fits
        if len(fits) == 1:
            result.fixed[name] = fits[0]
            used.append(float(fits[0]))
        elif len(fits) > 1:
            result.choose[name] = fits
            by_candidates.setdefault(tuple(fits), []).append(name)
    kinds = [resolve(props[p], defs) for p in required]
    result.free_text = (
        required in (["task"], ["instructions"], ["request"])
        and kinds[0].get("type") == "string"
        and not ({"enum", "const", "pattern", "format"} & set(kinds[0]))
    )
    # properties offered the same candidates (origin and destination, a and b): assigned together
    for names in by_candidates.values():
        names = [n for n in names if n in result.choose]
        if len(names) > 1:
            result.shared.append(names)
    return result
