"""Google Gemini wire format (Developer API and Vertex publisher paths).

``POST …/models/{model}:streamGenerateContent?alt=sse`` streams ``data: <GenerateContentResponse>``
events separated by ``\\r\\n\\r\\n`` with no terminator; without ``alt=sse`` the same endpoint
returns one JSON array of those objects; ``:generateContent`` returns one object (PROVIDERS.md
§3). Synthetic bytes use Google's spacing (``{"candidates": [{"content": …``). A synthetic reply
can think first (``Synthetic.thoughts``: ``thought: true`` parts, ``thoughtsTokenCount``) and be
signed like Gemini 3 (``Synthetic.signatures``: the first of parallel calls, or an empty final
text part, carries a ``thoughtSignature``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from ._scenarios import Synthetic, encode_scenario
from ._text import ToolCallSpec, scenario_digest, synthetic_tokens
from ._wire import ReceivedRequest

__all__ = ("GeminiFormat", "synthetic_signature")

_DEFAULT_MODEL = "gemini-local-demo"
_SEPARATOR = b"\r\n\r\n"

# google.rpc status names per HTTP status.
_STATUS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline exceeded."),
}


def _google_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ": "), ensure_ascii=False).encode()


class GeminiFormat:
    """``…/models/{model}:generateContent`` and ``:streamGenerateContent``."""

    name = "google"
    malformed_event = b'data: {"candidates": [{"content": {"parts": [{"text": "bro\r\n\r\n'
    # No recording of a Gemini mid-stream error exists; this is the shape of its error bodies.
    error_event = (
        b'data: {"error": {"code": 503, "message": "The model is overloaded. Please try again '
        b'later.", "status": "UNAVAILABLE"}}\r\n\r\n'
    )

    def matches(self, path: str) -> bool:
        """Any ``/models/{model}:generateContent`` or ``:streamGenerateContent`` path."""
        return "/models/" in path and path.endswith((":generateContent", ":streamGenerateContent"))

    def wants_stream(self, request: ReceivedRequest) -> bool:
        """SSE only for ``:streamGenerateContent`` with ``alt=sse``."""
        return request.path.endswith(":streamGenerateContent") and "alt=sse" in request.query

    def wrap_payloads(self, payloads: Sequence[bytes]) -> tuple[bytes, ...]:
        """``data: <line>\\r\\n\\r\\n`` per payload, no terminator (SOURCES.md)."""
        return tuple(b"data: " + line + _SEPARATOR for line in payloads)

    def synthetic_stream(
        self, spec: Synthetic, request: ReceivedRequest
    ) -> tuple[Sequence[bytes], Sequence[float]]:
        """One event per response chunk; the first waits for the first-token delay."""
        chunks = _chunks(spec, _model(request.path), _prompt(request.json))
        events = tuple(b"data: " + chunk + _SEPARATOR for chunk in chunks)
        first = spec.first_token_delay_ms / 1000.0
        pace = spec.pace_ms / 1000.0
        delays = (first,) + (pace,) * (len(events) - 2) + (0.0,) if len(events) > 1 else (first,)
        return events, delays

    def synthetic_body(self, spec: Synthetic, request: ReceivedRequest) -> bytes:
        """A JSON array of chunks (stream without ``alt=sse``) or one whole response."""
        model, prompt = _model(request.path), _prompt(request.json)
        if request.path.endswith(":streamGenerateContent"):
            return b"[" + b",\r\n".join(_chunks(spec, model, prompt)) + b"]"
        parts: list[dict[str, Any]] = []
        thoughts = _thought_tokens(spec)
        if thoughts:
            parts.append({"text": "".join(thoughts), "thought": True})
        tokens = synthetic_tokens(spec)
        if tokens:
            parts.append({"text": "".join(tokens)})
        parts += [_call_part(spec, index) for index in range(spec.tool_calls)]
        if spec.signatures and not spec.tool_calls:
            if tokens:
                parts[-1]["thoughtSignature"] = synthetic_signature(spec)
            else:
                parts.append({"text": "", "thoughtSignature": synthetic_signature(spec)})
        return _google_json(_response(spec, model, parts, prompt, _output(spec), finish=True))

    def error_body(self, status: int, message: str) -> bytes:
        """``{"error": {"code", "message", "status"}}``; a 429 carries a ``RetryInfo``."""
        name, default = _STATUS.get(status, ("INTERNAL" if status >= 500 else "UNKNOWN", "Error."))
        error: dict[str, Any] = {"code": status, "message": message or default, "status": name}
        if status == 429:
            error["details"] = [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
            ]
        return _google_json({"error": error})


def _model(path: str) -> str:
    if "/models/" in path:
        return path.rsplit("/models/", 1)[1].split(":", 1)[0] or _DEFAULT_MODEL
    return _DEFAULT_MODEL


def _prompt(body: Any) -> int:
    contents = body.get("contents") if isinstance(body, dict) else None
    return max(1, len(_google_json(contents or [])) // 4)


def _output(spec: Synthetic) -> int:
    return spec.deltas + 10 * spec.tool_calls


def _thought_tokens(spec: Synthetic) -> tuple[str, ...]:
    return tuple(("" if i == 0 else " ") + f"Thinking step {i + 1}." for i in range(spec.thoughts))


def synthetic_signature(spec: Synthetic) -> str:
    """The base64 ``thoughtSignature`` of a synthetic reply: opaque bytes, fixed per scenario."""
    digest = hashlib.blake2b(encode_scenario(spec).encode(), digest_size=48).digest()
    return base64.b64encode(b"\x12\x8a" + digest).decode("ascii")


def _call_part(spec: Synthetic, index: int) -> dict[str, Any]:
    call = ToolCallSpec(index)
    part: dict[str, Any] = {"functionCall": {"name": call.name, "args": json.loads(call.arguments)}}
    if spec.signatures and index == 0:
        # Gemini 3 signs only the first of parallel calls.
        part["thoughtSignature"] = synthetic_signature(spec)
    return part


def _response(
    spec: Synthetic,
    model: str,
    parts: list[dict[str, Any]],
    prompt: int,
    output: int,
    *,
    finish: bool,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish:
        candidate["finishReason"] = "STOP"  # tool calls also end with STOP on Gemini
    candidate["index"] = 0
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output + spec.thoughts,
    }
    if spec.thoughts:
        usage["thoughtsTokenCount"] = spec.thoughts  # not part of candidatesTokenCount
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": f"local{scenario_digest(spec, 9)}",
    }


@functools.lru_cache(maxsize=64)
def _chunks(spec: Synthetic, model: str, prompt: int) -> tuple[bytes, ...]:
    chunks = [
        _google_json(
            _response(spec, model, [{"text": t, "thought": True}], prompt, 0, finish=False)
        )
        for t in _thought_tokens(spec)
    ]
    chunks += [
        _google_json(_response(spec, model, [{"text": token}], prompt, i + 1, finish=False))
        for i, token in enumerate(synthetic_tokens(spec))
    ]
    chunks += [
        _google_json(
            _response(spec, model, [_call_part(spec, i)], prompt, spec.deltas, finish=False)
        )
        for i in range(spec.tool_calls)
    ]
    last: dict[str, Any] = {"text": ""}
    if spec.signatures and not spec.tool_calls:
        # Where Gemini 3 puts a text reply's signature: an empty final part (PROVIDERS.md §3.2).
        last["thoughtSignature"] = synthetic_signature(spec)
    final = _response(spec, model, [last], prompt, _output(spec), finish=True)
    chunks.append(_google_json(final))
    return tuple(chunks)
