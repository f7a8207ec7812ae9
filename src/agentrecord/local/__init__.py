"""The embedded model (provider `local`): a small GGUF chat model run in process with llama.cpp.

`llama` loads packaged models and runs generations and likelihood scoring (`scorer`, `states` keep the
options evaluated); `grammar` compiles tool schemas and answers to bounded GBNF grammars; `formats` holds the
prompt formats; `model` is the pydantic-ai model the provider hands out, deciding with `choosing` (options by
likelihood and evidence), `drafting` and `arguments` (a tool's arguments), `context` (what the model sees) and
answering through `answers` (the sentence gate) with `fields` (numbers bound to the fields they name).
"""

from .llama import DEFAULT_MODEL, MODELS, LocalModelNotFound, model_path
from .model import LocalModel

__all__ = ["DEFAULT_MODEL", "MODELS", "LocalModel", "LocalModelNotFound", "model_path"]
