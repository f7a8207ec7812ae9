"""Answers in words: a sentence or two, passed on clause by clause, ended at the first repeated sentence."""

from __future__ import annotations

import re
from collections.abc import Callable


class SentenceGate:
    """Passes an answer on segment by segment (up to a comma or a sentence's end), up to `limit` sentences and
    `2 * limit + 1` segments, and ends it at the first segment that repeats an earlier one or itself.

    A segment is shown only once it is complete and sound, so nothing shown is ever taken back: the
    text returned and the text streamed are the same. A segment cut off by the token cap is dropped.
    """

    def __init__(self, limit: int, on_text: Callable[[str], None] | None) -> None:
        self.limit, self.on_text = limit, on_text
        self.said: list[str] = []
        self.sentences = 0
        self.shown = ""
        self.segment = ""
        self.separator = ""
        self.done = False

    def push(self, piece: str) -> None:
        for ch in piece:
            if self.done:
                return
            if ch.isspace() and self.segment[-1:] in (",", ";"):
                self._close(self.segment[:-1], self.segment[-1] + ch, sentence=False)
            elif ch.isspace() and len(self.segment) > 1 and self.segment[-1] in ".!?":
                self._close(self.segment, " ", sentence=True)
            else:
                self.segment += ch
            if len(self.segment.split()) > 40:
                self.done = True  # a run-on with no end in sight

    def _close(self, text: str, separator: str, sentence: bool) -> None:
        self.segment = ""
        key = norm(text)
        if not key:
            return
        words = key.split()
        grams = [" ".join(words[i : i + 4]) for i in range(len(words) - 3)]
        if key in self.said or len(grams) != len(set(grams)):
            self.done = True
            return
        self.said.append(key)
        self._emit(self.separator + text.strip() if self.shown else text.strip())
        self.separator = separator
        self.sentences += sentence
        self.done = self.sentences >= self.limit or len(self.said) >= 2 * self.limit + 1

    def _emit(self, text: str) -> None:
        if text:
            self.shown += text
            if self.on_text is not None:
                self.on_text(text)

    def finish(self, cut: bool) -> str:
        """The answer shown; `cut`: the generation stopped at the token cap, so its last segment is unfinished."""
        if not self.done and not cut and self.segment.strip():
            end = self.segment.rstrip()
            self._close(end if end[-1] in ".!?" else end.rstrip(",;") + ".", "", sentence=True)
        if self.shown and self.shown[-1] not in ".!?":
            self._emit(".")
        return self.shown


def norm(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()
