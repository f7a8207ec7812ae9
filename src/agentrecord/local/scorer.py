"""Likelihood scoring where every score is one fixed computation, whatever was scored before it.

Routing scores the user's request after each option's text (a tool's description, a skill's, words)
with the same instructions' opening before them. Those texts are the same from turn to turn, and they
are most of the tokens: an agent's seven options are ~270 tokens against a request's ~8. So each
`head + middle` is evaluated once and its state kept (the sequence's KV cells and the log-probabilities
of its last position), in memory and on disk (see `states`); a request is then the request's tokens
evaluated after each kept context.

Floating-point results in llama.cpp depend on where a sequence's cells lie in the cache and on which
tokens share a batch. So a context is always evaluated alone, from position 0 of an empty cache, in
batches of `_BATCH`; a kept one is restored into an empty cache, where it lands in the same cells; and
each request is one batch of its own tokens after it. A score is then the same bytes streamed or not,
first or after a hundred other requests, from a warm cache or a cold one.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Any

import numpy as np
from llama_cpp import llama_cpp as _c

from .states import Kept, StateStore

_CTX = 2048
_BATCH = 512
KEEP_BYTES = 256 * 2**20
"""Kept contexts held in memory at once, by size (a 300-token context of SmolLM2-135M is ~7 MB)."""


class ScorerFull(RuntimeError):
    """A context and its request do not fit the scorer's context window."""


class Scorer:
    """A second llama.cpp context on an already loaded model, scoring targets after kept contexts."""

    def __init__(self, owner: Any, n_threads: int, n_threads_batch: int, store: StateStore | None = None) -> None:
        self._owner = owner  # the loaded `Llama`: its model must outlive this context
        model = owner._model
        params = _c.llama_context_default_params()
        params.n_ctx = _CTX
        params.n_batch = _BATCH
        params.n_ubatch = _BATCH
        params.n_seq_max = 1
        params.n_threads = n_threads
        params.n_threads_batch = n_threads_batch
        ctx = _c.llama_init_from_model(model.model, params)
        if ctx is None:
            raise RuntimeError("llama.cpp could not create the scoring context")
        self._ctx = ctx
        self._memory = _c.llama_get_memory(ctx)
        self._vocab = _c.llama_vocab_n_tokens(_c.llama_model_get_vocab(model.model))
        self._batch = _c.llama_batch_init(_BATCH, 0, 1)
        self._kept: OrderedDict[tuple[int, ...], Kept] = OrderedDict()
        """Context tokens -> its kept state, least recently used first."""
        self._loaded: tuple[int, ...] | None = None
        """The context the cache holds now (and nothing after it), if any."""
        self._store = store

    def close(self) -> None:
        """Free the context (the engine keeps its scorer for the process's life, so this is for tests and tools)."""
        if self._ctx is not None:
            _c.llama_batch_free(self._batch)
            _c.llama_free(self._ctx)
            self._ctx = None

    def score(self, pairs: list[tuple[list[int], list[int]]]) -> tuple[list[float], int]:
        """Log-likelihood of each target after its context, for each (context tokens, target tokens);
        and the tokens evaluated (contexts neither kept nor stored, and the targets)."""
        results = [0.0] * len(pairs)
        evaluated = 0
        contexts = [tuple(c) for c, _ in pairs]
        first_seen: dict[tuple[int, ...], int] = {}
        for i, key in enumerate(contexts):
            first_seen.setdefault(key, i)
        loaded = self._loaded
        order = sorted(range(len(pairs)), key=lambda i: (contexts[i] != loaded, first_seen[contexts[i]]))
        for i in order:  # grouped by context, the loaded one first: a restore each, never a different result
            context, target = contexts[i], pairs[i][1]
            if len(context) + len(target) > _CTX or len(target) > _BATCH:
                raise ScorerFull(f"{len(context)} + {len(target)} tokens do not fit the scorer's {_CTX}")
            first, fresh = self._load(context)
            evaluated += fresh + len(target)
            results[i] = self._target(len(context), first, target)
        return results, evaluated

    def _load(self, context: tuple[int, ...]) -> tuple[np.ndarray, int]:
        """Make the cache hold exactly `context`: its last log-probabilities, and the tokens evaluated for it."""
        kept = self._kept.get(context)
        if kept is not None:
            self._kept.move_to_end(context)
        elif self._store is not None:
            kept = self._store.get(context)
            if kept is not None:
                self._keep(context, kept)
        if self._loaded == context and kept is not None:
            return kept.log_probs, 0
        _c.llama_memory_clear(self._memory, True)
        self._loaded = None
        if kept is not None:
            data = (ctypes.c_uint8 * len(kept.state)).from_buffer_copy(kept.state)
            if _c.llama_state_seq_set_data(self._ctx, data, len(kept.state), 0) == len(kept.state):
                self._loaded = context
                return kept.log_probs, 0
            _c.llama_memory_clear(self._memory, True)  # a state this build cannot read: evaluate afresh
        log_probs = None
        for start in range(0, len(context), _BATCH):
            part = context[start : start + _BATCH]
            last = start + len(part) == len(context)
            self._fill([(token, start + j, last and j == len(part) - 1) for j, token in enumerate(part)])
            if last:
                log_probs = self._log_probs(len(part) - 1)
        assert log_probs is not None
        size = _c.llama_state_seq_get_size(self._ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = _c.llama_state_seq_get_data(self._ctx, buffer, size, 0)
        kept = Kept(bytes(buffer)[:written], log_probs)
        self._keep(context, kept)
        if self._store is not None:
            self._store.put(context, kept)
        self._loaded = context
        return log_probs, len(context)

    def _keep(self, context: tuple[int, ...], kept: Kept) -> None:
        self._kept[context] = kept
        while sum(k.size for k in self._kept.values()) > KEEP_BYTES and len(self._kept) > 1:
            self._kept.popitem(last=False)

    def _target(self, length: int, first: np.ndarray, target: list[int]) -> float:
        """The target's log-likelihood after the loaded context of `length` tokens, in one batch; then removed."""
        if not target:
            return 0.0
        total = float(first[target[0]])
        try:
            self._fill([(token, length + j, j < len(target) - 1) for j, token in enumerate(target)])
            for j in range(1, len(target)):
                total += float(self._log_probs(j - 1)[target[j]])
        finally:
            _c.llama_memory_seq_rm(self._memory, 0, length, -1)
        return total

    def _fill(self, entries: list[tuple[int, int, bool]]) -> None:
        """Decode one batch of (token, position, wants logits), all in sequence 0."""
        batch = self._batch
        batch.n_tokens = len(entries)
        for k, (token, pos, wants) in enumerate(entries):
            batch.token[k] = token
            batch.pos[k] = pos
            batch.n_seq_id[k] = 1
            batch.seq_id[k][0] = 0
            batch.logits[k] = wants
        code = _c.llama_decode(self._ctx, batch)
        if code != 0:
            self._loaded = None
            raise ScorerFull(f"llama.cpp could not evaluate {len(entries)} scoring tokens (code {code})")

    def _log_probs(self, index: int) -> np.ndarray:
        """The log-probabilities of the next token after the batch's token `index` (which asked for its logits)."""
        pointer = _c.llama_get_logits_ith(self._ctx, index)
        logits = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self._vocab,))
        values: np.ndarray = logits.astype(np.float64)
        top = float(values.max())
        normalized: np.ndarray = values - (top + float(np.log(np.exp(values - top).sum())))
        return normalized
