"""The embedded model (provider `local`): a small GGUF chat model run in process with llama.cpp.

`llama` loads packaged models and runs generations and likelihood scoring; `grammar` compiles tool
schemas and answers to bounded GBNF grammars; `arguments` draws tool arguments from the request;
`formats` holds the prompt formats; `model` is the pydantic-ai model the provider hands out.
"""

from .llama import DEFAULT_MODEL, MODELS, LocalModelNotFound, model_path
from .model import LocalModel

__all__ = ["DEFAULT_MODEL", "MODELS", "LocalModel", "LocalModelNotFound", "model_path"]
