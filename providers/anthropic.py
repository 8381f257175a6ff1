"""Anthropic Messages: the codec, shared by the Claude API and Claude on Vertex AI.

What differs between the two is a :class:`AnthropicSettings` (URL, credentials, where the API
version goes; see :mod:`providers.anthropic_vertex`). The request mapping is in
:mod:`._anthropic_request`, the stream decoder in :mod:`._anthropic_stream`.

Structured output (``response_schema``) runs one of two methods, chosen by the
``structured_output`` provider kwarg: ``native`` sends ``output_config.format`` and the answer is
ordinary JSON text; ``tool`` adds one tool named ``json`` whose input schema is the schema,
forces it (unless thinking is on, which forbids forcing), and returns its input as the
message content with finish reason ``stop``. ``auto`` (the default) is native on the Claude API
for the models that have native output (Claude 4.5 generation and later, Opus 4.1) and the tool
for older models and on Vertex.

One codec serves one request: :meth:`AnthropicCodec.build_request` records which tool, if any,
carries the structured output, and the decoders it makes read it so.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline._errors import ProtocolError, ProviderError
from pipeline._events import (
    Event,
    Finish,
    ReasoningDelta,
    ResponseStarted,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallEnded,
    ToolCallStarted,
    UsageReported,
)
from pipeline._types import ChatCompletionRequest, CompletionsProvider
from stages.sse import SSEDecoder

from . import _anthropic_request as mapping
from ._anthropic_errors import decode_error, stream_error
from ._anthropic_stream import FINISH_REASONS, AnthropicStreamDecoder, merge_usage, normalize_usage
from ._base import HTTPRequestSpec, dumps, json_body, resolve_api_key

API_VERSION = "2023-06-01"

# Models without native JSON output: Claude 3.x, and the Claude 4 (May 2025) Sonnet and Opus.
_NO_NATIVE_OUTPUT = re.compile(r"claude-(2|3|instant)|claude-(sonnet|opus)-4(@|-0|-\d{8}|$)")


def has_native_output(model: str) -> bool:
    """Whether ``model`` takes ``output_config.format`` (else the forced tool is used)."""
    return _NO_NATIVE_OUTPUT.search(model) is None


@dataclass(frozen=True, slots=True)
class AnthropicSettings:
    """What differs between services that speak Anthropic Messages."""

    provider: CompletionsProvider
    endpoint: Callable[[ChatCompletionRequest, Mapping[str, Any], bool], str]
    """The URL for (request, provider kwargs, stream)."""
    authorize: Callable[[ChatCompletionRequest, Mapping[str, Any]], AuthStep]
    """Headers and (Vertex) the authorizer for a request."""
    body_changes: Callable[[dict[str, Any]], dict[str, Any]]
    """Final changes to the body (Vertex: ``model`` out, ``anthropic_version`` in)."""
    native_output: bool = True
    """Whether ``structured_output: auto`` may choose the native method."""


@dataclass(frozen=True, slots=True)
class AuthStep:
    headers: Mapping[str, str]
    authorizer: Any = None


def _first_party_endpoint(
    request: ChatCompletionRequest, kwargs: Mapping[str, Any], stream: bool
) -> str:
    base = kwargs.get("base_url") or os.environ.get("ANTHROPIC_BASE_URL")
    return str(base or "https://api.anthropic.com").rstrip("/") + "/v1/messages"


def _api_key(request: ChatCompletionRequest, kwargs: Mapping[str, Any]) -> AuthStep:
    key = resolve_api_key(request.api_key, "ANTHROPIC_API_KEY", "anthropic")
    return AuthStep({"x-api-key": key, "anthropic-version": API_VERSION})


ANTHROPIC = AnthropicSettings(
    provider=CompletionsProvider.ANTHROPIC,
    endpoint=_first_party_endpoint,
    authorize=_api_key,
    body_changes=lambda body: body,
)


class AnthropicCodec:
    """Request mapping and decoding for Anthropic Messages."""

    def __init__(self, settings: AnthropicSettings = ANTHROPIC) -> None:
        self.settings = settings
        self.provider = settings.provider
        self._json_tool: str | None = None

    def build_request(self, request: ChatCompletionRequest, *, stream: bool) -> HTTPRequestSpec:
        options: Any = request.provider_kwargs or {}
        kwargs: Mapping[str, Any] = options.get(self.provider.value) or {}
        body = self.build_body(request, kwargs, stream=stream)
        auth = self.settings.authorize(request, kwargs)
        headers = {
            **auth.headers,
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        betas = kwargs.get("betas")
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
        if stream:
            # A compressor may hold tokens back to fill its blocks: latency a voice agent hears.
            headers["accept-encoding"] = "identity"
        url = self.settings.endpoint(request, kwargs, stream)
        return HTTPRequestSpec("POST", url, headers, body, authorizer=auth.authorizer)

    def build_body(
        self, request: ChatCompletionRequest, kwargs: Mapping[str, Any], *, stream: bool
    ) -> bytes:
        path = f"provider_kwargs.{self.provider.value}"
        thinking = mapping.thinking_config(kwargs)
        system, messages = mapping.messages_body(request, self.provider.value)
        body: dict[str, Any] = {"model": request.model, "messages": messages}
        body.update(mapping.sampling(request, thinking, path))
        if system:
            body["system"] = system
        if thinking is not None:
            body["thinking"] = thinking
        if "top_k" in kwargs:
            body["top_k"] = kwargs["top_k"]
        tools = [mapping.tool_definition(t) for t in request.tools or ()]
        if request.tool_choice is not None:
            body["tool_choice"] = mapping.tool_choice(request.tool_choice)
        if request.response_schema is not None:
            mode = kwargs.get("structured_output") or "auto"
            native = mode == "native" or (
                mode == "auto" and self.settings.native_output and has_native_output(request.model)
            )
            extra = mapping.structured_output(
                request, native=native, thinking=mapping.thinking_on(thinking)
            )
            tools += extra.pop("tools", [])
            body.update(extra)
            self._json_tool = None if native else mapping.JSON_TOOL_NAME
        if tools:
            body["tools"] = tools
        if stream:
            body["stream"] = True
        body.update(kwargs.get("extra_body") or {})
        return dumps(self.settings.body_changes(body))

    # ---------------------------------------------------------------- responses

    def event_framing(self) -> SSEDecoder:
        return SSEDecoder(provider=self.provider.value)

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(provider=self.provider.value, json_tool=self._json_tool)

    def decode_response(self, body: bytes) -> Sequence[Event]:
        payload = json_body(body)
        if isinstance(payload, dict) and payload.get("type") == "error":
            raise stream_error(payload.get("error"), self.provider.value)
        if not isinstance(payload, dict) or not isinstance(payload.get("content"), list):
            raise ProtocolError(
                "response body is not a message object", provider=self.provider.value
            )
        return message_events(payload, json_tool=self._json_tool)

    def decode_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        return decode_error(self.provider.value, status_code, headers, body)


def message_events(payload: Mapping[str, Any], *, json_tool: str | None) -> list[Event]:
    """The neutral events of a whole ``message`` object."""
    events: list[Event] = [
        ResponseStarted(response_id=payload.get("id"), model=payload.get("model"))
    ]
    calls = 0
    for index, block in enumerate(payload["content"]):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and block.get("text"):
            events.append(TextDelta(text=block["text"]))
        elif kind == "thinking":
            text, signature = block.get("thinking") or "", block.get("signature") or None
            events.append(ReasoningDelta(text=text, block=index, signature=signature))
        elif kind == "redacted_thinking":
            events.append(ReasoningDelta(block=index, redacted_data=str(block.get("data") or "")))
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            if block.get("name") == json_tool:
                events.append(TextDelta(text=arguments))
                continue
            name, call_id = str(block.get("name") or ""), str(block.get("id") or "")
            events += (
                ToolCallStarted(index=calls, id=call_id, name=name),
                ToolCallArgumentsDelta(index=calls, fragment=arguments),
                ToolCallEnded(index=calls),
            )
            calls += 1
    reason = payload.get("stop_reason")
    if reason:
        finish = FINISH_REASONS.get(reason, reason)
        if reason == "tool_use" and calls == 0 and json_tool is not None:
            finish = "stop"
        events.append(Finish(reason=finish, raw_reason=reason))
    usage = payload.get("usage")
    if isinstance(usage, dict):
        merged: dict[str, Any] = {}
        merge_usage(merged, usage)
        events.append(UsageReported(raw=merged, usage=normalize_usage(merged)))
    return events


def anthropic_codec() -> AnthropicCodec:
    """The codec for the Claude API."""
    return AnthropicCodec(ANTHROPIC)
