"""Likelihood scoring where every score is one fixed computation, whatever was scored before or beside it.

Routing scores the user's request after each option's text (a tool's description, a skill's, words)
with the same instructions' opening before them. Those texts are the same from turn to turn, and they
are most of the tokens: an agent's seven options are ~270 tokens against a request's ~8. So each
`head + middle` is evaluated once and kept: resident in a llama.cpp sequence of its own, and as a
saved state (its KV cells and the log-probabilities of its last position) in memory and on disk (see
`states`). A request is then one batch holding its tokens after every option, each in its option's
sequence.

llama.cpp's floats depend on where a sequence's cells lie in its cache (attention sums run over the
cells in order). So each sequence has a KV stream of its own (`kv_unified = False`), where it always
starts at cell 0; a context is evaluated alone, from position 0, in batches of `_BATCH`. Tokens of
other streams in the same batch then change nothing (checked bit for bit on AVX-512 and AVX2 builds),
and a score is the same bytes streamed or not, first or after a hundred other requests, from a warm
cache or a cold one.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Any

import numpy as np
from llama_cpp import llama_cpp as _c

from .states import Kept, StateStore

STREAMS = 8
"""Option texts resident at once, each in its own KV stream (an agent's tools, skills and words)."""
STREAM_CTX = 1280
"""Cells per stream: the longest context the engine builds (1,024 tokens) and a request's 256."""
_BATCH = 512
KEEP_BYTES = 256 * 2**20
"""Saved contexts held in memory, by size (a 300-token context of SmolLM2-135M is ~7 MB)."""


class ScorerFull(RuntimeError):
    """A context and its request do not fit a stream, or llama.cpp refused a batch."""


class Scorer:
    """A second llama.cpp context on an already loaded model, scoring targets after kept contexts."""

    def __init__(self, owner: Any, n_threads: int, n_threads_batch: int, store: StateStore | None = None) -> None:
        self._owner = owner  # the loaded `Llama`: its model must outlive this context
        model = owner._model
        params = _c.llama_context_default_params()
        params.n_ctx = STREAMS * STREAM_CTX
        params.n_batch = _BATCH
        params.n_ubatch = _BATCH
        params.n_seq_max = STREAMS
        params.kv_unified = False  # a stream per sequence: cells never depend on what other sequences hold
        params.n_threads = n_threads
        params.n_threads_batch = n_threads_batch
        ctx = _c.llama_init_from_model(model.model, params)
        if ctx is None:
            raise RuntimeError("llama.cpp could not create the scoring context")
        self._ctx = ctx
        self._memory = _c.llama_get_memory(ctx)
        self._vocab = _c.llama_vocab_n_tokens(_c.llama_model_get_vocab(model.model))
        self._batch = _c.llama_batch_init(_BATCH, 0, 1)
        self._resident: OrderedDict[tuple[int, ...], tuple[int, np.ndarray]] = OrderedDict()
        """Context tokens -> the sequence holding them (and nothing after them) and the log-probabilities after
        them, least recently used first."""
        self._free = list(range(STREAMS))
        self._kept: OrderedDict[tuple[int, ...], Kept] = OrderedDict()
        """Context tokens -> its saved state, least recently used first."""
        self._store = store

    def close(self) -> None:
        """Free the context (the engine keeps its scorer for the process's life, so this is for tests and tools)."""
        if self._ctx is not None:
            _c.llama_batch_free(self._batch)
            _c.llama_free(self._ctx)
            self._ctx = None

    def score(self, pairs: list[tuple[list[int], list[int]]]) -> tuple[list[float], int]:
        """Log-likelihood of each target after its context, for each (context tokens, target tokens);
        and the tokens evaluated (contexts neither resident, kept nor stored, and the targets)."""
        contexts = [tuple(context) for context, _ in pairs]
        for context, (_, target) in zip(contexts, pairs, strict=True):
            if len(context) + len(target) > STREAM_CTX or len(target) > _BATCH:
                raise ScorerFull(f"{len(context)} + {len(target)} tokens do not fit a scoring stream of {STREAM_CTX}")
        results = [0.0] * len(pairs)
        evaluated = 0
        pending = list(range(len(pairs)))
        while pending:  # batches of distinct contexts, at most one per stream
            chunk: list[int] = []
            used: set[tuple[int, ...]] = set()
            tokens = 0
            for i in pending:
                target = pairs[i][1]
                if contexts[i] in used or len(used) == STREAMS or (chunk and tokens + len(target) > _BATCH):
                    continue
                chunk.append(i)
                used.add(contexts[i])
                tokens += len(target)
            pending = [i for i in pending if i not in chunk]
            placed: dict[tuple[int, ...], tuple[int, np.ndarray]] = {}
            for i in chunk:
                seq, first, fresh = self._place(contexts[i], used)
                placed[contexts[i]] = (seq, first)
                evaluated += fresh + len(pairs[i][1])
            self._targets(chunk, pairs, contexts, placed, results)
        return results, evaluated

    def _place(self, context: tuple[int, ...], pinned: set[tuple[int, ...]]) -> tuple[int, np.ndarray, int]:
        """The sequence holding `context` (restored or evaluated now if not resident), its last log-probabilities,
        and the tokens evaluated for it. Makes room by dropping the least recently used, never one in `pinned`."""
        resident = self._resident.get(context)
        if resident is not None:
            self._resident.move_to_end(context)
            return resident[0], resident[1], 0
        if not self._free:
            victim = next(c for c in self._resident if c not in pinned)
            self._free.append(self._resident.pop(victim)[0])
        seq = self._free.pop()
        _c.llama_memory_seq_rm(self._memory, seq, -1, -1)
        kept = self._saved(context)
        if kept is not None:
            data = (ctypes.c_uint8 * len(kept.state)).from_buffer_copy(kept.state)
            if _c.llama_state_seq_set_data(self._ctx, data, len(kept.state), seq) == len(kept.state):
                self._resident[context] = (seq, kept.log_probs)
                return seq, kept.log_probs, 0
            _c.llama_memory_seq_rm(self._memory, seq, -1, -1)  # a state this build cannot read: evaluate afresh
        try:
            log_probs = self._evaluate(context, seq)
        except BaseException:  # a half-evaluated context is not kept
            _c.llama_memory_seq_rm(self._memory, seq, -1, -1)
            self._free.append(seq)
            raise
        size = _c.llama_state_seq_get_size(self._ctx, seq)
        buffer = (ctypes.c_uint8 * size)()
        written = _c.llama_state_seq_get_data(self._ctx, buffer, size, seq)
        kept = Kept(bytes(buffer)[:written], log_probs)
        self._keep(context, kept)
        if self._store is not None:
            self._store.put(context, kept)
        self._resident[context] = (seq, log_probs)
        return seq, log_probs, len(context)

    def _saved(self, context: tuple[int, ...]) -> Kept | None:
        kept = self._kept.get(context)
        if kept is not None:
            self._kept.move_to_end(context)
        elif self._store is not None:
            kept = self._store.get(context)
            if kept is not None:
                self._keep(context, kept)
        return kept

    def _keep(self, context: tuple[int, ...], kept: Kept) -> None:
        self._kept[context] = kept
        while sum(k.size for k in self._kept.values()) > KEEP_BYTES and len(self._kept) > 1:
            self._kept.popitem(last=False)

    def _evaluate(self, context: tuple[int, ...], seq: int) -> np.ndarray:
        """Evaluate `context` alone into the empty sequence `seq`; the log-probabilities after its last token."""
        log_probs = None
        for start in range(0, len(context), _BATCH):
            part = context[start : start + _BATCH]
            last = start + len(part) == len(context)
            self._fill([(token, start + j, seq, last and j == len(part) - 1) for j, token in enumerate(part)])
            if last:
                log_probs = self._log_probs(len(part) - 1)
        assert log_probs is not None
        return log_probs

    def _targets(
        self,
        chunk: list[int],
        pairs: list[tuple[list[int], list[int]]],
        contexts: list[tuple[int, ...]],
        placed: dict[tuple[int, ...], tuple[int, np.ndarray]],
        results: list[float],
    ) -> None:
        """Score the targets of `chunk` in one batch, each after its resident context; then drop them again."""
        entries: list[tuple[int, int, int, bool]] = []
        outputs: list[tuple[int, int, int]] = []  # (pair, position in its target, batch index)
        for i in chunk:
            seq, _ = placed[contexts[i]]
            target, length = pairs[i][1], len(contexts[i])
            for j, token in enumerate(target):
                wants = j < len(target) - 1  # the logits here predict the target's next token
                if wants:
                    outputs.append((i, j + 1, len(entries)))
                entries.append((token, length + j, seq, wants))
        try:
            if entries:
                self._fill(entries)
            for i in chunk:
                target = pairs[i][1]
                results[i] = float(placed[contexts[i]][1][target[0]]) if target else 0.0
            for i, j, index in outputs:
                results[i] += float(self._log_probs(index)[pairs[i][1][j]])
        finally:
            for i in chunk:
                _c.llama_memory_seq_rm(self._memory, placed[contexts[i]][0], len(contexts[i]), -1)

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
        """The log-probabilities of the next token after the batch's token `index` (which asked for its logits)."""
        pointer = _c.llama_get_logits_ith(self._ctx, index)
        logits = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self._vocab,))
        values: np.ndarray = logits.astype(np.float64)
        top = float(values.max())
        normalized: np.ndarray = values - (top + float(np.log(np.exp(values - top).sum())))
        return normalized
