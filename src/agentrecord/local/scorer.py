"""Likelihood scoring with the options' text kept evaluated: a request is scored after each option for
the cost of the request's own tokens.

Routing scores the user's request after each option's text (a tool's description, a skill's, words)
with the same instructions' opening before them. Those texts are the same from turn to turn, and they
are most of the tokens: an agent's seven options are ~270 tokens against a request's ~8. So each
`head + middle` is evaluated once into a llama.cpp sequence of its own and kept (with the logits of its
last position); a request is then one batch holding the target after every option, each in its
option's sequence, and is removed from them afterwards. Least recently used sequences make room.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Any

import numpy as np
from llama_cpp import llama_cpp as _c

SEQUENCES = 32
"""Option texts kept evaluated at once (a few agents' worth of tools and argument statements)."""
_CTX = 8192
_BATCH = 512


class ScorerFull(RuntimeError):
    """The kept sequences and this request do not fit the scorer's context even after making room."""


class Scorer:
    """A second llama.cpp context on an already loaded model, holding option texts in separate sequences."""

    def __init__(self, owner: Any, n_threads: int, n_threads_batch: int) -> None:
        self._owner = owner  # the loaded `Llama`: its model must outlive this context
        model = owner._model
        params = _c.llama_context_default_params()
        params.n_ctx = _CTX
        params.n_batch = _BATCH
        params.n_ubatch = _BATCH
        params.n_seq_max = SEQUENCES
        params.kv_unified = True  # the sequences share one pool, sized by what each holds
        params.n_threads = n_threads
        params.n_threads_batch = n_threads_batch
        ctx = _c.llama_init_from_model(model.model, params)
        if ctx is None:
            raise RuntimeError("llama.cpp could not create the scoring context")
        self._ctx = ctx
        self._memory = _c.llama_get_memory(ctx)
        self._vocab = _c.llama_vocab_n_tokens(_c.llama_model_get_vocab(model.model))
        self._batch = _c.llama_batch_init(_BATCH, 0, 1)
        self._kept: OrderedDict[tuple[int, ...], tuple[int, np.ndarray]] = OrderedDict()
        """head + middle tokens -> (sequence id, log-probabilities of the next token), least recent first."""
        self._free = list(range(SEQUENCES))

    def close(self) -> None:
        """Free the context (the engine keeps its scorer for the process's life, so this is for tests and tools)."""
        if self._ctx is not None:
            _c.llama_batch_free(self._batch)
            _c.llama_free(self._ctx)
            self._ctx = None

    def score(self, pairs: list[tuple[list[int], list[int]]]) -> tuple[list[float], int]:
        """Log-likelihood of each target after its context, for each (context tokens, target tokens);
        and the tokens evaluated (contexts not already kept, and the targets)."""
        if len(pairs) > SEQUENCES // 2:  # many argument statements: a few groups, each fully kept while scored
            half = SEQUENCES // 2
            parts = [self.score(pairs[i : i + half]) for i in range(0, len(pairs), half)]
            return [r for scores, _ in parts for r in scores], sum(n for _, n in parts)
        evaluated = 0
        kept: list[tuple[int, np.ndarray, int]] = []  # (sequence, next-token log-probabilities, context length)
        pinned: set[int] = set()
        for context, _ in pairs:
            seq, first, fresh = self._keep(tuple(context), pinned)
            pinned.add(seq)
            evaluated += fresh
            kept.append((seq, first, len(context)))
        results = [0.0] * len(pairs)
        chunk: list[int] = []
        used = 0
        for i, (_, target) in enumerate(pairs):
            repeated = any(kept[j][0] == kept[i][0] for j in chunk)  # one target per sequence in a batch
            if chunk and (repeated or used + len(target) > _BATCH):
                self._targets(chunk, pairs, kept, results)
                chunk, used = [], 0
            chunk.append(i)
            used += len(target)
            evaluated += len(target)
        if chunk:
            self._targets(chunk, pairs, kept, results)
        return results, evaluated

    def _keep(self, context: tuple[int, ...], pinned: set[int]) -> tuple[int, np.ndarray, int]:
        """The sequence holding `context` (evaluated now if not kept), its last logits, and tokens evaluated.

        Makes room by dropping the least recently used kept contexts, never one in `pinned`."""
        found = self._kept.get(context)
        if found is not None:
            self._kept.move_to_end(context)
            return found[0], found[1], 0
        while not self._free or self._used() + len(context) > _CTX // 2:
            victim = next((c for c, (seq, _) in self._kept.items() if seq not in pinned), None)
            if victim is None:
                raise ScorerFull(f"{len(context)} more context tokens do not fit the scorer's {_CTX}")
            old, _ = self._kept.pop(victim)
            _c.llama_memory_seq_rm(self._memory, old, -1, -1)
            self._free.append(old)
        seq = self._free.pop()
        logits = None
        try:
            for start in range(0, len(context), _BATCH):
                part = context[start : start + _BATCH]
                last = start + len(part) == len(context)
                self._fill([(token, start + j, seq, last and j == len(part) - 1) for j, token in enumerate(part)])
                if last:
                    logits = self._log_probs(len(part) - 1)
        except BaseException:  # a half-evaluated context is not kept
            _c.llama_memory_seq_rm(self._memory, seq, -1, -1)
            self._free.append(seq)
            raise
        assert logits is not None
        self._kept[context] = (seq, logits)
        return seq, logits, len(context)

    def _targets(
        self,
        chunk: list[int],
        pairs: list[tuple[list[int], list[int]]],
        kept: list[tuple[int, np.ndarray, int]],
        results: list[float],
    ) -> None:
        """Score the targets of `chunk` in one batch, each after its kept context; then drop them again."""
        entries: list[tuple[int, int, int, bool]] = []
        outputs: list[tuple[int, int, int]] = []  # (pair, position in its target, batch index)
        for i in chunk:
            seq, _, length = kept[i]
            target = pairs[i][1]
            for j, token in enumerate(target):
                wants = j < len(target) - 1  # the logits here predict the target's next token
                if wants:
                    outputs.append((i, j + 1, len(entries)))
                entries.append((token, length + j, seq, wants))
        try:
            if entries:
                self._fill(entries)
            for i in chunk:
                results[i] = float(kept[i][1][pairs[i][1][0]]) if pairs[i][1] else 0.0
            for i, j, index in outputs:
                results[i] += float(self._log_probs(index)[pairs[i][1][j]])
        finally:
            for i in chunk:
                seq, _, length = kept[i]
                _c.llama_memory_seq_rm(self._memory, seq, length, -1)

    def _fill(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """Decode one batch of (token, position, sequence, wants logits)."""
        batch = self._batch
        batch.n_tokens = len(entries)
        for k, (token, pos, seq, wants) in enumerate(entries):
            batch.token[k] = token
            batch.pos[k] = pos
            batch.n_seq_id[k] = 1
            batch.seq_id[k][0] = seq
            batch.logits[k] = wants
        code = _c.llama_decode(self._ctx, batch)
        if code != 0:
            raise ScorerFull(f"llama.cpp could not evaluate {len(entries)} scoring tokens (code {code})")

    def _log_probs(self, index: int) -> np.ndarray:
        pointer = _c.llama_get_logits_ith(self._ctx, index)
        logits = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self._vocab,))
        values: np.ndarray = logits.astype(np.float64)
        top = float(values.max())
        normalized: np.ndarray = values - (top + float(np.log(np.exp(values - top).sum())))
        return normalized

    def _used(self) -> int:
        return sum(len(context) for context in self._kept)
