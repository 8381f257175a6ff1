"""OpenAI Chat Completions wire format (also DashScope's OpenAI-compatible mode).

Chunk shapes follow PROVIDERS.md §1.3: a role chunk first, ``delta.content`` chunks, tool-call
fragments keyed by ``index``, a last choice chunk with ``finish_reason`` and an empty delta, a
usage chunk with ``choices: []`` only when the request set ``stream_options.include_usage``, then
``data: [DONE]``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from ._scenarios import Synthetic
from ._text import (
    output_tokens,
    prompt_tokens,
    scenario_digest,
    synthetic_tokens,
    synthetic_tool_calls,
)
from ._wire import ReceivedRequest, compact_json

__all__ = ("OpenAIFormat",)

_CREATED = 1_735_689_600  # fixed, so synthetic bytes are identical run to run
_DEFAULT_MODEL = "local-demo"
_DONE = b"data: [DONE]\n\n"

# (type, code, message) per status, worded like the real API's bodies (PROVIDERS.md §1.4).
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (local test server)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "not_found", "Not found."),
    408: ("server_error", "timeout", "Request timed out."),
    409: ("server_error", "conflict", "Conflict; please retry."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests (local test server). Please try again in 1s.",
    ),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    529: ("server_error", "overloaded", "Overloaded."),
}


class OpenAIFormat:
    """``POST …/chat/completions``: OpenAI and DashScope compatible mode."""

    name = "openai"
    malformed_event = (
        b'data: {"id":"chatcmpl-local","object":"chat.completion.chunk","choices":'
        b'[{"index":0,"delta":{"content":"brok\n\n'
    )

    error_event = (
        b'data: {"error":{"message":"The server had an error while processing your request.",'
        b'"type":"server_error","param":null,"code":null}}\n\n'
    )

    def matches(self, path: str) -> bool:
        """Answer every path that ends like the chat completions endpoint."""
        return path.endswith("/chat/completions")

    def wants_stream(self, request: ReceivedRequest) -> bool:
        """OpenAI streams only when the body says ``"stream": true``."""
        return isinstance(request.json, dict) and request.json.get("stream") is True

    def wrap_payloads(self, payloads: Sequence[bytes]) -> tuple[bytes, ...]:
        """``data: <line>\\n\\n`` per payload, then ``data: [DONE]\\n\\n`` (SOURCES.md)."""
        return (*(b"data: " + line + b"\n\n" for line in payloads), _DONE)

    def synthetic_stream(
        self, spec: Synthetic, request: ReceivedRequest
    ) -> tuple[Sequence[bytes], Sequence[float]]:
        """The chunks of a synthetic reply; the role chunk waits for the first-token delay."""
        body = request.json
        options = body.get("stream_options") if isinstance(body, dict) else None
        asked_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return _stream(spec, _model(body), spec.include_usage and asked_usage, prompt_tokens(body))

    def synthetic_body(self, spec: Synthetic, request: ReceivedRequest) -> bytes:
        """A whole ``chat.completion`` object with the text, tool calls and usage."""
        body = request.json
        tokens = synthetic_tokens(spec)
        calls = synthetic_tool_calls(spec)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(tokens) if tokens or not calls else None,
            "refusal": None,
            "annotations": [],
        }
        if calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in calls
            ]
        completion: dict[str, Any] = {
            "id": f"chatcmpl-local{scenario_digest(spec)}",
            "object": "chat.completion",
            "created": _CREATED,
            "model": _model(body),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if calls else "stop",
                }
            ],
            "service_tier": "default",
            "system_fingerprint": "fp_local",
        }
        if spec.include_usage:
            completion["usage"] = _usage(prompt_tokens(body), output_tokens(spec))
        return compact_json(completion)

    def error_body(self, status: int, message: str) -> bytes:
        """``{"error": {"message", "type", "param", "code"}}``."""
        kind, code, default = _ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, "Error.")
        )
        error = {"message": message or default, "type": kind, "param": None, "code": code}
        return compact_json({"error": error})


def _model(body: Any) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) and model else _DEFAULT_MODEL


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


@functools.lru_cache(maxsize=64)
def _stream(
    spec: Synthetic, model: str, include_usage: bool, prompt: int
) -> tuple[tuple[bytes, ...], tuple[float, ...]]:
    # Built once per distinct request shape and cached: a benchmark streams thousands of deltas
    # and measures the client, so serving must cost no more than the socket writes.
    head = compact_json(
        {
            "id": f"chatcmpl-local{scenario_digest(spec)}",
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": model,
            "system_fingerprint": "fp_local",
        }
    )[:-1]
    prefix = b"data: " + head + b',"choices":[{"index":0,"delta":'
    suffix = b',"logprobs":null,"finish_reason":null}]}\n\n'
    tokens = synthetic_tokens(spec)
    calls = synthetic_tool_calls(spec)

    role: dict[str, Any] = {"role": "assistant", "content": "" if tokens else None}
    role["refusal"] = None
    events = [prefix + compact_json(role) + suffix]
    events.extend(prefix + b'{"content":' + _json_str(token) + b"}" + suffix for token in tokens)
    for call in calls:
        first = {
            "index": call.index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(prefix + compact_json({"tool_calls": [first]}) + suffix)
        for fragment in call.fragments:
            piece = {"index": call.index, "function": {"arguments": fragment}}
            events.append(prefix + compact_json({"tool_calls": [piece]}) + suffix)
    finish = b'"tool_calls"' if calls else b'"stop"'
    events.append(prefix + b'{},"logprobs":null,"finish_reason":' + finish + b"}]}\n\n")
    paced = len(events) - 1  # role .. last fragment; the finish chunk follows at once
    if include_usage:
        usage = _usage(prompt, output_tokens(spec))
        events.append(b"data: " + head + b',"choices":[],"usage":' + compact_json(usage) + b"}\n\n")
    events.append(_DONE)

    first_delay = spec.first_token_delay_ms / 1000.0
    pace = spec.pace_ms / 1000.0
    # The first content delta rides with the role chunk, as the real API sends them together.
    delays = [first_delay] + [0.0 if i == 1 else pace for i in range(1, paced)]
    delays += [0.0] * (len(events) - len(delays))
    return tuple(events), tuple(delays)


def _json_str(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode()
