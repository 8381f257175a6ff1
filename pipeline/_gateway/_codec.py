"""Chunks and errors as JSON-safe dicts: the one serialization the gateway and the CLI share.

Messages and tool calls go through :func:`pipeline.serialize_conversation`, so a client can
put a final ``response.message`` straight back into the next request's ``messages``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._errors import AllAttemptsFailedError, PipelineError, ProviderError
from .._serialization import serialize_conversation
from .._types import (
    AssistantMessage,
    ChatCompletionChunk,
    ChatCompletionResponse,
    TokenUsage,
)

__all__ = ("chunk_to_dict", "error_to_dict", "response_to_dict")


def _usage(token_usage: TokenUsage | None) -> dict[str, Any] | None:
    return None if token_usage is None else dataclasses.asdict(token_usage)


def response_to_dict(response: ChatCompletionResponse) -> dict[str, Any]:
    """The whole response; ``message`` in the stored-conversation form."""
    out: dict[str, Any] = {
        "message": serialize_conversation([response.message])[0],
        "finish_reason": response.finish_reason,
        "usage": response.usage,
        "provider": None if response.provider is None else str(response.provider),
        "model": response.model,
        "token_usage": _usage(response.token_usage),
        "response_id": response.response_id,
    }
    attempts = getattr(response, "attempts", None)  # present once the supervisor records them
    if attempts:
        out["attempts"] = [_plain(record) for record in attempts]
    return out


def chunk_to_dict(chunk: ChatCompletionChunk) -> dict[str, Any]:
    """One public chunk as a dict tagged with its ``type``."""
    if chunk.type == "content_delta":
        return {"type": chunk.type, "content": chunk.content}
    if chunk.type == "content_sentence":
        return {"type": chunk.type, "sentence": chunk.sentence}
    if chunk.type == "tool_call":
        message = serialize_conversation([AssistantMessage(tool_calls=[chunk.tool_call])])[0]
        return {"type": chunk.type, "tool_call": message["tool_calls"][0]}
    if chunk.type == "finish_reason":
        return {"type": chunk.type, "finish_reason": chunk.finish_reason}
    if chunk.type == "usage":
        return {
            "type": chunk.type,
            "usage": chunk.usage,
            "token_usage": _usage(chunk.token_usage),
        }
    return {"type": chunk.type, "response": response_to_dict(chunk.response)}


def error_to_dict(exc: BaseException) -> dict[str, Any]:
    """``{"type", "message", "retryable"}``; only library errors say what happened.

    Library messages never hold a key (they are scrubbed where they are made); anything else
    is a bug whose text could hold anything, so it is reported by class name only.
    """
    if isinstance(exc, PipelineError):
        retryable = isinstance(exc, ProviderError) and exc.retryable
        if isinstance(exc, AllAttemptsFailedError) and exc.errors:
            last = exc.errors[-1]
            retryable = isinstance(last, ProviderError) and last.retryable
        return {"type": type(exc).__name__, "message": str(exc), "retryable": retryable}
    return {"type": "InternalError", "message": type(exc).__name__, "retryable": False}


def _plain(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
