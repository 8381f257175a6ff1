"""OpenAI Chat Completions: request mapping, stream and body decoding, error mapping.

The same wire format serves DashScope's OpenAI-compatible mode (see :mod:`providers.alibaba`),
so everything provider-specific is a field of :class:`OpenAICompatibleSettings`.

The request's ``top_p``, ``stop`` and ``seed`` map to the fields of the same names. The
provider's ``extra_body`` option is merged into the JSON body last, as given and unchecked: its
keys replace the library's own (``stream`` included), which is the caller's responsibility.
Reasoning blocks are never sent back: Chat Completions takes no reasoning input.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from pipeline._core import Poisonable, guarded
from pipeline._errors import ProtocolError, ProviderError, RequestValidationError, ServerError
from pipeline._events import (
    Event,
    Finish,
    ReasoningDelta,
    RefusalDelta,
    ResponseStarted,
    SSEEvent,
    StreamEnded,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallEnded,
    ToolCallStarted,
    UsageReported,
)
from pipeline._types import (
    AssistantMessage,
    ChatCompletionRequest,
    CompletionsProvider,
    Message,
    SystemMessage,
    TokenUsage,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)
from stages.sse import SSEDecoder

from ._base import HTTPRequestSpec, dumps, event_object, json_body, resolve_api_key, status_error

FINISH_REASONS: Mapping[str, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

# o-series and gpt-5 reasoning models take max_completion_tokens and reject temperature.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)(?!.*-chat)")


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` is an OpenAI reasoning model (o1, o3, o4-mini, gpt-5, ...)."""
    return _REASONING_MODEL.match(model) is not None


@dataclass(frozen=True, slots=True)
class OpenAICompatibleSettings:
    """What differs between services that speak the OpenAI Chat Completions protocol.

    Attributes:
        provider: Whose codec this is; also the key of its ``provider_kwargs``.
        api_key_env: The environment variable holding the key when the request has none.
        default_base_url: Used when neither the request nor ``base_url_env`` gives one.
        base_url_env: The environment variable that overrides the default base URL.
        reasoning_models: Whether OpenAI's reasoning-model rules apply to matching names.
        body_options: ``provider_kwargs`` options sent as top-level body fields of the
            same name.
        stream_only_flags: Options that, when true, the service accepts only on a streaming
            request: a non-streaming request with one of them is refused before any I/O.
    """

    provider: CompletionsProvider
    api_key_env: str
    default_base_url: str
    base_url_env: str | None = None
    reasoning_models: bool = True
    body_options: tuple[str, ...] = ()
    stream_only_flags: tuple[str, ...] = ()


OPENAI = OpenAICompatibleSettings(
    provider=CompletionsProvider.OPENAI,
    api_key_env="OPENAI_API_KEY",
    default_base_url="https://api.openai.com/v1",
    base_url_env="OPENAI_BASE_URL",
    body_options=("service_tier", "reasoning_effort", "parallel_tool_calls"),
)


class OpenAICodec:
    """Request mapping and decoding for OpenAI-compatible chat completions."""

    def __init__(self, settings: OpenAICompatibleSettings = OPENAI) -> None:
        self.settings = settings
        self.provider = settings.provider

    # ---------------------------------------------------------------- request

    def base_url(self, request: ChatCompletionRequest) -> str:
        kwargs = _provider_kwargs(request, self.provider)
        env = os.environ.get(self.settings.base_url_env) if self.settings.base_url_env else None
        url = kwargs.get("base_url") or env or self.settings.default_base_url
        return str(url).rstrip("/")

    def build_request(self, request: ChatCompletionRequest, *, stream: bool) -> HTTPRequestSpec:
        """The HTTP request for ``request``; pure, so every failure comes before any I/O.

        Raises:
            RequestValidationError: A stream-only option is on and ``stream`` is false.
            ConfigurationError: No usable API key.
        """
        if not stream:
            self._refuse_stream_only_options(request)
        key = resolve_api_key(request.api_key, self.settings.api_key_env, self.provider.value)
        body = self.build_body(request, stream=stream)
        headers = {
            "authorization": f"Bearer {key}",
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        if stream:
            # A compressor may hold tokens back to fill its blocks: latency a voice agent hears.
            headers["accept-encoding"] = "identity"
        return HTTPRequestSpec("POST", self.base_url(request) + "/chat/completions", headers, body)

    def build_body(self, request: ChatCompletionRequest, *, stream: bool) -> bytes:
        reasoning = self.settings.reasoning_models and is_reasoning_model(request.model)
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_message(m) for m in request.messages],
        }
        if request.temperature is not None and not reasoning:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_completion_tokens" if reasoning else "max_tokens"] = request.max_tokens
        if request.tools:
            body["tools"] = [_tool(t) for t in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice(request.tool_choice)
        if request.response_schema is not None:
            body["response_format"] = _response_format(request.response_schema)
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        kwargs = _provider_kwargs(request, self.provider)
        body.update({k: kwargs[k] for k in self.settings.body_options if k in kwargs})
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        # Last and as given: the caller's escape hatch for what this library does not model.
        body.update(kwargs.get("extra_body") or {})
        return dumps(body)

    def _refuse_stream_only_options(self, request: ChatCompletionRequest) -> None:
        kwargs = _provider_kwargs(request, self.provider)
        name = self.provider.value
        problems = [
            f"provider_kwargs.{name}.{flag}: {name} accepts it only on a streaming request; "
            "use generate_chat_completion_stream"
            for flag in self.settings.stream_only_flags
            if kwargs.get(flag) is True
        ]
        if problems:
            raise RequestValidationError(problems)

    # ---------------------------------------------------------------- responses

    def event_framing(self) -> SSEDecoder:
        return SSEDecoder(provider=self.provider.value)

    def stream_decoder(self) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(provider=self.provider.value)

    def decode_response(self, body: bytes) -> Sequence[Event]:
        payload = json_body(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            raise ProtocolError(
                "response body is not a chat.completion object", provider=self.provider.value
            )
        events: list[Event] = [
            ResponseStarted(response_id=payload.get("id"), model=payload.get("model"))
        ]
        for choice in payload["choices"]:
            index = choice.get("index", 0)
            message = choice.get("message") or {}
            if message.get("reasoning_content"):
                events.append(ReasoningDelta(text=message["reasoning_content"], choice=index))
            if message.get("content"):
                events.append(TextDelta(text=message["content"], choice=index))
            if message.get("refusal"):
                events.append(RefusalDelta(text=message["refusal"], choice=index))
            for position, call in enumerate(message.get("tool_calls") or ()):
                function = call.get("function") or {}
                events += (
                    ToolCallStarted(
                        index=position,
                        id=call.get("id") or "",
                        name=function.get("name") or "",
                        choice=index,
                    ),
                    ToolCallArgumentsDelta(
                        index=position, fragment=function.get("arguments") or "", choice=index
                    ),
                    ToolCallEnded(index=position, choice=index),
                )
            reason = choice.get("finish_reason")
            if reason:
                events.append(_finish(reason, index))
        usage = payload.get("usage")
        if isinstance(usage, dict):
            events.append(UsageReported(raw=usage, usage=normalize_usage(usage)))
        return events

    def decode_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        payload = json_body(body)
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or "no message")
            code = error.get("code")
            retryable = False if code == "insufficient_quota" else None
            return status_error(
                provider=self.provider.value,
                status_code=status_code,
                headers=headers,
                message=message,
                error_type=error.get("type"),
                error_code=str(code) if code is not None else None,
                retryable=retryable,
            )
        text = body[:500].decode("utf-8", "replace").strip() or "no body"
        return status_error(
            provider=self.provider.value, status_code=status_code, headers=headers, message=text
        )


class OpenAIStreamDecoder(Poisonable):
    """``chat.completion.chunk`` events in, neutral events out.

    Tool calls are keyed by (choice, index) and id; OpenAI sends parallel calls one after
    another, so a new call ends the previous one. An empty ``id`` on a later fragment (DashScope
    repeats ``"id": ""``) never starts a new call; a different non-empty id at a known index
    does. A stream that ends before any ``finish_reason`` was cut short, and :meth:`flush`
    says so.
    """

    __slots__ = (
        "_calls",
        "_ended",
        "_finished",
        "_last_index",
        "_open_tool",
        "_provider",
        "_started",
    )

    def __init__(self, *, provider: str) -> None:
        super().__init__()
        self._provider = provider
        self._started = False
        self._finished: set[int] = set()
        self._ended = False
        self._open_tool: dict[int, int] = {}
        # (choice, wire index) -> (our index, call id); our index differs from the wire's only
        # when a server reuses a wire index for a new call.
        self._calls: dict[tuple[int, int], tuple[int, str]] = {}
        self._last_index: dict[int, int] = {}

    def plain_text(self, data: bytes, /) -> str | None:
        """The text of a plain content delta, else None (see pipeline._fast_path)."""
        if not self._started or self._ended:
            return None  # the first chunk starts the response; nothing counts after [DONE]
        try:
            chunk = _PLAIN_CHUNK.decode(data)
        except msgspec.DecodeError:  # also a ValidationError: another shape, or a type to check
            return None
        if chunk.usage is not None or chunk.error is not None or len(chunk.choices) != 1:
            return None
        choice = chunk.choices[0]
        if choice.index != 0:
            return None
        delta = choice.delta
        return "" if delta is None or delta.content is None else delta.content

    @guarded
    def flush(self) -> list[Event]:
        if not self._finished:
            error = ProtocolError(
                "the stream ended before the provider sent a finish_reason",
                provider=self._provider,
            )
            error.retryable = True
            raise error
        return []

    @guarded
    def feed(self, event: SSEEvent, /) -> list[Event]:
        if self._ended:
            return []  # past the terminal event: not part of the response
        data = event.data
        if data == "[DONE]":
            self._ended = True
            return [StreamEnded()]
        chunk = event_object(event, self._provider)
        if chunk.get("error"):
            raise _stream_error(chunk["error"], self._provider)
        out: list[Event] = []
        if not self._started:
            self._started = True
            out.append(ResponseStarted(response_id=chunk.get("id"), model=chunk.get("model")))
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if delta:
                text = delta.get("content")
                if text:
                    out.append(TextDelta(text=text, choice=index))
                reasoning = delta.get("reasoning_content")
                if reasoning:
                    out.append(ReasoningDelta(text=reasoning, choice=index))
                refusal = delta.get("refusal")
                if refusal:
                    out.append(RefusalDelta(text=refusal, choice=index))
                calls = delta.get("tool_calls")
                if calls:
                    self._tool_fragments(calls, index, out)
            reason = choice.get("finish_reason")
            if reason:
                open_index = self._open_tool.pop(index, None)
                if open_index is not None:
                    out.append(ToolCallEnded(index=open_index, choice=index))
                self._finished.add(index)
                out.append(_finish(reason, index))
        usage = chunk.get("usage")
        if usage:
            out.append(UsageReported(raw=usage, usage=normalize_usage(usage)))
        return out

    def _tool_fragments(self, calls: list[dict[str, Any]], choice: int, out: list[Event]) -> None:
        for call in calls:
            wire_index = call.get("index", 0)
            call_id = call.get("id") or ""
            function = call.get("function") or {}
            known = self._calls.get((choice, wire_index))
            if known is None or (call_id and call_id != known[1]):
                # A new call: a new index, or (some compatible servers) index 0 reused with a
                # new id. Calls arrive one after another, so it also ends the open one.
                index = wire_index if known is None else self._last_index[choice] + 1
                self._calls[(choice, wire_index)] = known = (index, call_id)
                self._last_index[choice] = max(index, self._last_index.get(choice, index))
                previous = self._open_tool.get(choice)
                if previous is not None and previous != index:
                    out.append(ToolCallEnded(index=previous, choice=choice))
                self._open_tool[choice] = index
                name = function.get("name") or ""
                out.append(ToolCallStarted(index=index, id=call_id, name=name, choice=choice))
            arguments = function.get("arguments")
            if arguments:
                out.append(
                    ToolCallArgumentsDelta(index=known[0], fragment=arguments, choice=choice)
                )


class _PlainDelta(msgspec.Struct):
    # The fields the decoder reads. Typed None, they accept only JSON null: any other value
    # sends the event the full way. Fields it ignores (role, …) are ignored here too.
    content: str | None = None
    reasoning_content: None = None
    refusal: None = None
    tool_calls: None = None


class _PlainChoice(msgspec.Struct):
    index: int = 0
    delta: _PlainDelta | None = None
    finish_reason: None = None


class _PlainChunk(msgspec.Struct):
    # Top-level fields the decoder ignores once the response has started (id, model, …) are
    # ignored here too.
    choices: list[_PlainChoice]
    usage: None = None
    error: None = None


_PLAIN_CHUNK = msgspec.json.Decoder(_PlainChunk)


def _finish(reason: str, choice: int) -> Finish:
    return Finish(reason=FINISH_REASONS.get(reason, reason), raw_reason=reason, choice=choice)


def _stream_error(error: Any, provider: str) -> ProviderError:
    if not isinstance(error, dict):
        error = {"message": str(error)}
    message = str(error.get("message") or "error event in stream")
    kind = error.get("type")
    return ServerError(
        f"{provider} sent an error mid-stream: {message}",
        provider=provider,
        retryable=kind in {"server_error", "overloaded_error", None},
        provider_message=message,
        error_type=kind,
        error_code=str(error["code"]) if error.get("code") is not None else None,
    )


def normalize_usage(usage: Mapping[str, Any]) -> TokenUsage:
    """OpenAI usage counts: prompt tokens include cached ones, completion includes reasoning."""
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    cache_write = prompt.get("cache_write_tokens", usage.get("cache_creation_input_tokens"))
    return TokenUsage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cache_read_tokens=prompt.get("cached_tokens"),
        cache_write_tokens=cache_write,
        reasoning_tokens=completion.get("reasoning_tokens"),
    )


# ---------------------------------------------------------------- request pieces


def _provider_kwargs(request: ChatCompletionRequest, provider: CompletionsProvider) -> Any:
    return (request.provider_kwargs or {}).get(provider.value) or {}


def _message(message: Message) -> dict[str, Any]:
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message.content}
    if isinstance(message, UserMessage):
        return {"role": "user", "content": message.content}
    if isinstance(message, ToolResultMessage):
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": json.dumps(message.content, ensure_ascii=False),
        }
    if isinstance(message, AssistantMessage):
        out: dict[str, Any] = {"role": "assistant", "content": message.content}
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.function.name,
                        "arguments": json.dumps(call.function.arguments, ensure_ascii=False),
                    },
                }
                for call in message.tool_calls
            ]
        if message.refusal:
            out["refusal"] = message.refusal
        return out
    raise TypeError(f"not a message: {type(message).__name__}")  # pragma: no cover


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    function: dict[str, Any] = {
        "name": tool.function.name,
        "description": tool.function.description,
        "parameters": tool.function.parameters,
    }
    if tool.function.strict is not None:
        function["strict"] = tool.function.strict
    return {"type": "function", "function": function}


def _tool_choice(choice: str) -> Any:
    if choice in ("none", "auto", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _response_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "response"))[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema)}}
