"""The engine's token counts as pydantic-ai usage (the embedded model is free: no price)."""

from __future__ import annotations

from pydantic_ai.usage import RequestUsage

from . import llama


def scoring_usage(scored: llama.Scored) -> RequestUsage:
    """Scoring's tokens as a provider counts a prompt: all it read, of which the kept part as cache reads."""
    return RequestUsage(input_tokens=scored.read, cache_read_tokens=max(0, scored.read - scored.evaluated))


def usage_of(gen: llama.Generation) -> RequestUsage:
    return RequestUsage(input_tokens=gen.prompt_tokens, output_tokens=gen.completion_tokens)
