"""Anthropic Messages wire format, direct and on Vertex AI.

Direct: ``POST …/v1/messages`` (streams when the body says ``"stream": true``). Vertex:
``POST …/publishers/anthropic/models/{model}:streamRawPredict`` (or ``:rawPredict``), same
bytes. Events follow PROVIDERS.md §2: ``message_start``, per content block ``content_block_start``
/ ``content_block_delta`` (``text_delta`` or ``input_json_delta``) / ``content_block_stop``, a
``ping``, ``message_delta`` with the stop reason and output usage, ``message_stop``. Every event
carries an ``event:`` line naming its type; there is no ``[DONE]``.

With ``Synthetic.thoughts`` the reply opens with a thinking block (``thinking_delta`` events,
then one ``signature_delta``), and ``Synthetic.redacted_thinking`` adds ``redacted_thinking``
blocks after it; the non-streaming body holds the same blocks whole.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from ._scenarios import Synthetic, encode_scenario
from ._text import (
    output_tokens,
    prompt_tokens,
    scenario_digest,
    synthetic_tokens,
    synthetic_tool_calls,
)
from ._wire import ReceivedRequest, compact_json

__all__ = ("AnthropicFormat", "synthetic_thinking_signature")

_DEFAULT_MODEL = "claude-local-demo"

# error.type per status (Anthropic "errors" page; 529 is overloaded_error).
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request (local test server)."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error."),
    529: ("overloaded_error", "Overloaded"),
}


class AnthropicFormat:
    """``/v1/messages`` and Vertex ``…/publishers/anthropic/models/…:[stream]rawPredict``."""

    name = "anthropic"
    malformed_event = (
        b"event: content_block_delta\n"
        b'data: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"bro\n\n'
    )

    error_event = (
        b"event: error\n"
        b'data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
        b"\n\n"
    )

    def matches(self, path: str) -> bool:
        """The Messages endpoint, or the Vertex publisher path for Anthropic models."""
        if path.endswith("/v1/messages"):
            return True
        return "/publishers/anthropic/models/" in path and path.endswith(
            (":rawPredict", ":streamRawPredict")
        )

    def wants_stream(self, request: ReceivedRequest) -> bool:
        """Streams when the body says ``"stream": true`` (Vertex also uses ``streamRawPredict``)."""
        body = request.json
        return (isinstance(body, dict) and body.get("stream") is True) or request.path.endswith(
            ":streamRawPredict"
        )

    def wrap_payloads(self, payloads: Sequence[bytes]) -> tuple[bytes, ...]:
        """``event: <json type>\\ndata: <line>\\n\\n`` per payload (SOURCES.md)."""
        return tuple(
            b"event: " + str(json.loads(line)["type"]).encode() + b"\ndata: " + line + b"\n\n"
            for line in payloads
        )

    def synthetic_stream(
        self, spec: Synthetic, request: ReceivedRequest
    ) -> tuple[Sequence[bytes], Sequence[float]]:
        """The events of a synthetic reply; the first text delta waits for the first token."""
        return _stream(spec, _model(request), prompt_tokens(request.json))

    def synthetic_body(self, spec: Synthetic, request: ReceivedRequest) -> bytes:
        """A whole ``message`` object with text and tool_use blocks."""
        content: list[dict[str, Any]] = _reasoning_blocks(spec)
        tokens = synthetic_tokens(spec)
        if tokens:
            content.append({"type": "text", "text": "".join(tokens)})
        for call in synthetic_tool_calls(spec):
            tool = {"type": "tool_use", "id": _tool_id(call.index), "name": call.name}
            content.append({**tool, "input": json.loads(call.arguments)})
        message = _message(spec, _model(request), prompt_tokens(request.json))
        message["content"] = content
        message["stop_reason"] = "tool_use" if spec.tool_calls else "end_turn"
        message["usage"]["output_tokens"] = output_tokens(spec) + spec.thoughts
        return compact_json(message)

    def error_body(self, status: int, message: str) -> bytes:
        """``{"type": "error", "error": {"type", "message"}}``."""
        kind, default = _ERRORS.get(
            status, ("api_error" if status >= 500 else "invalid_request_error", "Error.")
        )
        return compact_json(
            {"type": "error", "error": {"type": kind, "message": message or default}}
        )


def _model(request: ReceivedRequest) -> str:
    body = request.json
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str) and model:
        return model
    # Vertex moves the model into the URL: …/models/{model}:streamRawPredict.
    if "/models/" in request.path:
        return request.path.rsplit("/models/", 1)[1].split(":", 1)[0]
    return _DEFAULT_MODEL


def _tool_id(index: int) -> str:
    return f"toolu_local{index:04d}"


def _message(spec: Synthetic, model: str, prompt: int) -> dict[str, Any]:
    return {
        "id": f"msg_local{scenario_digest(spec)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
        },
    }


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + compact_json(payload) + b"\n\n"


@functools.lru_cache(maxsize=64)
def _stream(
    spec: Synthetic, model: str, prompt: int
) -> tuple[tuple[bytes, ...], tuple[float, ...]]:
    first = spec.first_token_delay_ms / 1000.0
    pace = spec.pace_ms / 1000.0
    events = [
        _event("message_start", {"type": "message_start", "message": _message(spec, model, prompt)})
    ]
    delays = [0.0]
    block = 0
    for reasoning in _reasoning_blocks(spec):
        added = _reasoning_events(block, reasoning, spec)
        delays += [first if len(events) == 1 and i == 0 else pace for i in range(len(added))]
        events += added
        block += 1
    thinking_first = block > 0
    tokens = synthetic_tokens(spec)
    if tokens:
        start = {"type": "text", "text": ""}
        events.append(
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": block, "content_block": start},
            )
        )
        events.append(b'event: ping\ndata: {"type": "ping"}\n\n')
        delays += [0.0, 0.0]
        prefix = (
            b"event: content_block_delta\n"
            b'data: {"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":'
            % block
        )
        for i, token in enumerate(tokens):
            events.append(prefix + json.dumps(token, ensure_ascii=False).encode() + b"}}\n\n")
            delays.append(first if i == 0 and not thinking_first else pace)
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": block}))
        delays.append(0.0)
        block += 1
    for call in synthetic_tool_calls(spec):
        index = block + call.index
        tool = {"type": "tool_use", "id": _tool_id(call.index), "name": call.name, "input": {}}
        events.append(
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": tool},
            )
        )
        delays.append(first if len(events) == 2 else pace)
        for fragment in call.fragments:
            delta = {"type": "input_json_delta", "partial_json": fragment}
            events.append(
                _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
            delays.append(pace)
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        delays.append(0.0)
    stop = "tool_use" if spec.tool_calls else "end_turn"
    message_delta = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens(spec) + spec.thoughts},
    }
    events.append(_event("message_delta", message_delta))
    events.append(_event("message_stop", {"type": "message_stop"}))
    delays += [0.0, 0.0]
    return tuple(events), tuple(delays)


def synthetic_thinking_signature(spec: Synthetic, block: int) -> str:
    """The opaque signature of synthetic thinking block ``block``: fixed per scenario."""
    digest = hashlib.blake2b(f"{encode_scenario(spec)}#{block}".encode(), digest_size=48)
    return base64.b64encode(b"\x12local-signature" + digest.digest()).decode("ascii")


def _reasoning_blocks(spec: Synthetic) -> list[dict[str, Any]]:
    """The whole thinking and redacted_thinking blocks of a synthetic reply, in order."""
    blocks: list[dict[str, Any]] = []
    if spec.thoughts:
        text = "".join(_thinking_tokens(spec))
        signature = synthetic_thinking_signature(spec, 0)
        blocks.append({"type": "thinking", "thinking": text, "signature": signature})
    for i in range(spec.redacted_thinking):
        data = synthetic_thinking_signature(spec, 1000 + i).replace("+", "-")
        blocks.append({"type": "redacted_thinking", "data": "EmwK" + data})
    return blocks


def _thinking_tokens(spec: Synthetic) -> tuple[str, ...]:
    return tuple(("" if i == 0 else " ") + f"Thinking step {i + 1}." for i in range(spec.thoughts))


def _reasoning_events(index: int, block: dict[str, Any], spec: Synthetic) -> list[bytes]:
    def delta(payload: dict[str, Any]) -> bytes:
        body = {"type": "content_block_delta", "index": index, "delta": payload}
        return _event("content_block_delta", body)

    start = {"type": "content_block_start", "index": index}
    if block["type"] == "redacted_thinking":
        events = [_event("content_block_start", {**start, "content_block": block})]
    else:
        empty = {"type": "thinking", "thinking": "", "signature": ""}
        events = [_event("content_block_start", {**start, "content_block": empty})]
        events += [
            delta({"type": "thinking_delta", "thinking": token}) for token in _thinking_tokens(spec)
        ]
        events.append(delta({"type": "signature_delta", "signature": block["signature"]}))
    stop = {"type": "content_block_stop", "index": index}
    return [*events, _event("content_block_stop", stop)]
