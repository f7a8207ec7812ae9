"""How a stored message is written: one pydantic-ai message as JSON text (bytes as base64)."""

from __future__ import annotations

from pydantic import ConfigDict, TypeAdapter
from pydantic_ai.messages import ModelMessage

_MESSAGE = TypeAdapter(ModelMessage, config=ConfigDict(ser_json_bytes="base64", val_json_bytes="base64"))


def dump_message(message: ModelMessage) -> str:
    """`message` as the JSON text a store keeps."""
    return _MESSAGE.dump_json(message).decode()


def load_message(body: str) -> ModelMessage:
    """The message a store kept as `body`."""
    return _MESSAGE.validate_json(body)
