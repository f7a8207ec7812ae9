"""Right numbers, not only faithful ones: an answer's numbers bound to the fields of the tool results they name.

The fields are the keys of any tool's result (JSON, or `key=value` text), each with the numbers of its value.
A text names a field by the key's words ("dividend yield" for `dividend_yield`, "market cap" for `marketCap`),
by their initials ("P/E" or "price to earnings" for `pe_ratio`, "earnings per share" for `eps`), by a plural
or an abbreviation of them ("margins", "cap" for "capitalization", "humid" for "humidity"), or by one
distinctive word of a longer key ("yield", "dividend"). `Bound` is the answers' number constraint: a number
written after the sentence names a field must be that field's value; in a sentence naming none, a number
must be the value of a field the request named (or a number of the request itself); with no field named
anywhere, any number of the context, as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .grammar import NUMBER, NumbersFrom, numbers_in

_STOP = frozenset({"to", "of", "the", "a", "an", "and", "in", "on", "for", "at", "by", "per", "is", "s"})
"""Words a field's name may have or lack around its own ("debt to equity" is `debt_equity` as well)."""
_INITIALS_SKIP = frozenset({"to", "of", "the", "a", "an", "and", "s"})
"""Words initials skip ("price to earnings" is P/E), unlike "per" ("earnings per share" is EPS)."""
_INFLECTIONS = frozenset({"ing", "ed", "er", "ers", "es"})
"""Endings that make another word of a short one ("asking" is not the `ask`), unlike abbreviations' rests."""
_SENTENCE_END = re.compile(r"[.!?]\s|\n")
_ENDING = re.compile(r"(?<![0-9])[.!?]$")
"""A sentence ending as it is written: a full stop after a word, not a decimal point."""
_TAIL = re.compile(r"(?<![0-9.])[0-9]+(?:\.[0-9]*)?$")
_ASCII_DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class ResultField:
    """One key of a tool result: its words (stop words left out), the numbers of its values, and other names
    the tool's description gives it ("last price" for `last` in "bid, ask, last price and volume")."""

    key: str
    words: tuple[str, ...]
    values: frozenset[str]
    aliases: tuple[tuple[str, ...], ...] = ()
    text: bool = False
    """A value has no number and is not null: a word field (a side, a status), which binds no number."""

    @property
    def names(self) -> tuple[tuple[str, ...], ...]:
        return (self.words, *self.aliases)


def key_words(key: str) -> tuple[str, ...]:
    """`pe_ratio` -> (pe, ratio); `marketCap` -> (market, cap); `debt_to_equity` -> (debt, equity)."""
    spaced = re.sub(
        r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[a-zA-Z])(?=[0-9])|(?<=[0-9])(?=[a-zA-Z])", " ", key
    )
    return tuple(w for w in re.findall(r"[a-z0-9]+", spaced.lower()) if w not in _STOP)


def result_fields(results: Iterable[str], descriptions: Iterable[str] = ()) -> dict[str, ResultField]:
    """The fields of tool results, by key; a key found in several places (each position's `last`) has all their
    numbers. A result is JSON, else text with `key=value` or `key: value` pairs. `descriptions` (the tools')
    may name a field with one word more than its key: "last price" makes "price" name `last` too."""
    found: dict[str, set[str]] = {}
    words: set[str] = set()
    for result in results:
        try:
            data = json.loads(result)
        except ValueError:
            for key, value in re.findall(r"([A-Za-z][\w ]{0,40}?)\s*[=:]\s*([^,;\n]+)", result):
                found.setdefault(key.strip(), set()).update(numbers_in([value]))
            continue
        _leaves(data, "", found, words)
    fields = {}
    for key, values in found.items():
        named = key_words(key)
        if named:
            fields[key] = ResultField(key, named, frozenset(values), text=key in words and not values)
    texts = list(descriptions)
    return {k: _with_aliases(f, texts) for k, f in fields.items()}


def _with_aliases(field: ResultField, descriptions: list[str]) -> ResultField:
    aliases: list[tuple[str, ...]] = []
    for description in descriptions:
        for phrase in re.split(r"[,;:.()]|\band\b|\bor\b", description):
            words = _forms(phrase)
            for i in range(len(words)):
                size = _full(words, i, field)
                after = next(iter(words[i + size])) if size and i + size < len(words) else ""
                if after.isalpha() and after not in _STOP and _full(words, i, field) == len(field.words):
                    aliases.append((*field.words, after))
    return ResultField(field.key, field.words, field.values, tuple(dict.fromkeys(aliases)), field.text)


def _leaves(value: Any, key: str, found: dict[str, set[str]], words: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _leaves(v, str(k), found, words)
    elif isinstance(value, list):
        for v in value:
            _leaves(v, key, found, words)
    elif key:
        numbers = numbers_in([str(value)]) if not isinstance(value, bool) and value is not None else set()
        found.setdefault(key, set()).update(numbers)
        if value is not None and not numbers:
            words.add(key)


def _forms(text: str) -> list[frozenset[str]]:
    """The words of `text`, each with its forms: "P/E" is pe, "P&L" is pl and pnl, "debt-to-equity" three words."""
    text = re.sub(
        r"(?<![A-Za-z])([A-Za-z])\s?([/&.])\s?([A-Za-z])(?![A-Za-z])",
        lambda m: m[1] + ("&" if m[2] == "&" else "") + m[3],
        text,
    )
    out = []
    for word in re.findall(r"[a-z0-9&]+", text.lower()):
        if "&" in word:
            parts = [p for p in word.split("&") if p]
            out.append(frozenset({"".join(parts), "n".join(parts)}))
        else:
            out.append(frozenset({word}))
    return out


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _same_word(word: str, token: str) -> bool:
    if word == token or _stem(word) == _stem(token):
        return True
    short, long = sorted((_stem(word), _stem(token)), key=len)
    if len(short) < 3 or len(long) < len(short) + 2 or not long.startswith(short) or short.isdigit():
        return False
    return long[len(short) :] not in _INFLECTIONS  # "cap" for "capitalization", not "ask" for "asking"


def _match_token(words: list[frozenset[str]], i: int, token: str) -> int:
    """How many words from `i` spell `token`: 1 for the word itself, k for k words whose initials it is; 0 if none."""
    if i < len(words) and any(_same_word(w, token) for w in words[i]):
        return 1
    if token.isalpha() and 2 <= len(token) <= 4:
        initials, j = "", i
        while j < len(words) and len(initials) < len(token):
            word = next(iter(words[j]))
            if word in _INITIALS_SKIP and initials:
                j += 1
                continue
            if len(word) < 3 or not word.isalpha():
                return 0
            initials += word[0]
            j += 1
        if initials == token and j - i >= 2:
            return j - i
    return 0


def _full(words: list[frozenset[str]], i: int, field: ResultField) -> int:
    """The length of the span from `i` naming all of `field`'s words in order (stop words between), or 0."""
    return max(_spells(words, i, name) for name in field.names)


def _spells(words: list[frozenset[str]], i: int, name: tuple[str, ...]) -> int:
    j = i
    for n, token in enumerate(name):
        while n and j < len(words) and next(iter(words[j])) in _STOP:
            j += 1
        size = _match_token(words, j, token)
        if not size:
            return 0
        j += size
    return j - i


@dataclass(frozen=True)
class Mention:
    """Fields a span of text names; `full`: by all their words (else by one word of a longer key)."""

    keys: frozenset[str]
    full: bool


def mentions(text: str, fields: dict[str, ResultField]) -> list[Mention]:
    """The fields `text` names, in order: whole names first, longest first; then single distinctive words of
    longer names, except a word right beside a whole name ("ratio" in "debt to equity ratio")."""
    words = _forms(text)
    spans: dict[tuple[int, int], set[str]] = {}
    for field in fields.values():
        for i in range(len(words)):
            size = _full(words, i, field)
            if size:
                spans.setdefault((i, i + size), set()).add(field.key)
    taken: list[tuple[int, int]] = []
    chosen: list[tuple[int, Mention]] = []
    for (start, end), keys in sorted(spans.items(), key=lambda s: (s[0][0] - s[0][1], s[0][0])):
        if all(end <= a or start >= b for a, b in taken):
            taken.append((start, end))
            chosen.append((start, Mention(frozenset(keys), True)))
    near = {i for a, b in taken for i in range(a - 1, b + 1)}
    for i, forms in enumerate(words):
        if i in near or next(iter(forms)) in _STOP:
            continue
        keys = {
            f.key
            for f in fields.values()
            for name in f.names
            if len(name) > 1 and any(_same_word(w, t) for w in forms for t in name)
        }
        if keys:
            chosen.append((i, Mention(frozenset(keys), False)))
    return [m for _, m in sorted(chosen, key=lambda c: c[0])]


def asked_fields(request: str, fields: dict[str, ResultField]) -> frozenset[str]:
    """The keys of the fields the request names that hold a number or nothing (a P/E of null), not words: in
    "Place an order", `order_type` (market) is no question about a number."""
    return frozenset(k for m in mentions(request, fields) for k in m.keys if not fields[k].text)


def focus_facts(pairs: list[tuple[str, str]], asked: frozenset[str]) -> list[tuple[str, str]]:
    """The (path, value) facts a small model should answer from, in their order: the asked fields', and those
    without numbers that tell a list's items apart (each position's symbol); the rest left out, as a 135M model
    quotes or talks about whichever fact comes first ("The symbol is PG.")."""
    keys = [k for k, _ in pairs]
    return [(k, v) for k, v in pairs if k.split(" ")[-1] in asked or (not NUMBER.search(v) and keys.count(k) > 1)]


class Bound(NumbersFrom):
    """The answers' constraint: `NumbersFrom(numbers)`, and each number the value of the field it is about.

    A number's field is the one the sentence names since its previous number; else one the sentence named
    whose value it has not given yet; else (`asked`) one the request named, or a number of the request.
    A field the sentence names only by one word of a longer key binds only if the request named it too.
    When the request named fields with values, the first sentence gives one of them before it ends.
    """

    def __init__(self, numbers: Iterable[str], fields: dict[str, ResultField], request: str) -> None:
        super().__init__(numbers)
        self.fields = {k: f for k, f in fields.items() if f.values}
        self.asked = asked_fields(request, fields)
        self.request_numbers = frozenset(numbers_in([request]))
        self.asked_values = self._values(self.asked)
        self._cache: dict[str, frozenset[str] | None] = {}

    def _first_sentence_answers(self, text: str, final: bool) -> bool:
        """False when the first sentence (or the answer) ends without an asked field's value, if it has one:
        the answer comes first, before what a small model says about the tool or the company."""
        end = _SENTENCE_END.search(text) or (None if final else _ENDING.search(text))
        if (end is None and not final) or not self.asked_values:
            return True
        said = text[: end.start()] if end else text
        return any(m.group(0) in self.asked_values for m in NUMBER.finditer(said))

    def _values(self, keys: Iterable[str]) -> frozenset[str]:
        return frozenset(v for k in keys if k in self.fields for v in self.fields[k].values)

    def allowed_at(self, before: str) -> frozenset[str] | None:
        """The numbers a number may be after `before` (the answer so far); None: any of the context's."""
        if not self.asked and not self.fields:
            return None
        start = 0
        for m in _SENTENCE_END.finditer(before):
            start = m.end()
        sentence = before[start:]
        found = self._cache.get(sentence, ())
        if found != ():
            return found  # type: ignore[return-value]
        result = self._bind(sentence)
        self._cache[sentence] = result
        return result

    def _bind(self, sentence: str) -> frozenset[str] | None:
        numbers = list(NUMBER.finditer(sentence))
        since = sentence[numbers[-1].end() :] if numbers else sentence
        keys = self._named(since)
        if keys:
            return self._values(keys)
        written = {float(m.group(0)) for m in numbers}
        unsaid = [k for k in self._named(sentence) if not {float(v) for v in self.fields[k].values} & written]
        if unsaid:
            return self._values(unsaid)
        if self.asked:
            return self._values(self.asked) | self.request_numbers
        return None

    def _named(self, text: str) -> list[str]:
        keys: list[str] = []
        for mention in mentions(text, self.fields):
            if mention.full or mention.keys & self.asked:
                keys += [k for k in mention.keys if k in self.fields and (mention.full or k in self.asked)]
        return list(dict.fromkeys(keys))

    def __call__(self, text: str, final: bool) -> bool:
        if not super().__call__(text, final) or not self._first_sentence_answers(text, final):
            return False
        tail = None if final else _TAIL.search(text)
        for m in NUMBER.finditer(text):
            if tail is not None and m.start() == tail.start():
                break
            allowed = self.allowed_at(text[: m.start()])
            if allowed is not None and m.group(0) not in allowed:
                return False
        if tail is None:
            return True
        allowed = self.allowed_at(text[: tail.start()])
        return allowed is None or any(n.startswith(tail.group(0)) for n in allowed)
