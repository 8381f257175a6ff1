"""The public data types of the API reference, plus their optional, additive extensions.

Field names, order, defaults and meanings follow ``api-reference.txt`` exactly, so seed code
constructs them positionally or by keyword unchanged. Extensions (reasoning blocks, normalized
token usage, ``base_url`` for every provider) are optional and default to ``None`` (an on/off
switch such as ``http2`` to ``False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeAlias, TypedDict

from ._secrets import redact, safe_repr


class CompletionsProvider(StrEnum):
    """Supported LLM providers."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GOOGLE = "google"
    ANTHROPIC_VERTEX = "anthropic_vertex"
    ALIBABA = "alibaba"


# ---------------------------------------------------------------- cache, tools


@dataclass(slots=True)
class CacheBreakpoint:
    """Anthropic prompt caching breakpoint. Maximum of 4 per request."""

    ttl: Literal["5m", "1h"]


@dataclass(slots=True)
class FunctionDefinition:
    """A function's name, description and JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool | None = None


@dataclass(slots=True)
class ToolDefinition:
    """A tool the model can call."""

    type: Literal["function"]
    function: FunctionDefinition
    cache_breakpoint: CacheBreakpoint | None = None


@dataclass(slots=True)
class FunctionCall:
    """The function name and parsed arguments of a tool call."""

    arguments: dict[str, Any]
    name: str


@dataclass(slots=True)
class ToolCall:
    """A tool call made by the model."""

    id: str
    type: Literal["function"]
    function: FunctionCall
    index: int | None = None
    thought_signature: bytes | None = None


ToolChoice: TypeAlias = Literal["none", "auto", "required"] | str
"""``"auto"``, ``"none"``, ``"required"``, or the name of a tool to force."""


# ---------------------------------------------------------------- messages


@dataclass(slots=True)
class ReasoningBlock:
    """Extension: one block of model reasoning, kept so it can be sent back unchanged.

    ``signature`` and ``redacted_data`` are opaque provider strings (Anthropic thinking
    signatures and redacted-thinking data, Gemini thought signatures in base64), passed back
    byte for byte. Reasoning never reaches content, sentences or speech.
    """

    text: str = ""
    signature: str | None = None
    redacted_data: str | None = None
    provider: str | None = None
    """The provider that produced the block: a codec sends back only its own provider's."""


@dataclass(slots=True)
class SystemMessage:
    """A system prompt. Several are collapsed into one for Anthropic and Google."""

    content: str
    cache_breakpoint: CacheBreakpoint | None = None

    @property
    def role(self) -> Literal["system"]:
        return "system"


@dataclass(slots=True)
class UserMessage:
    """A message from the user."""

    content: str
    cache_breakpoint: CacheBreakpoint | None = None

    @property
    def role(self) -> Literal["user"]:
        return "user"


@dataclass(slots=True)
class AssistantMessage:
    """A message from the assistant: text and/or tool calls (and, as an extension, reasoning)."""

    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    cache_breakpoint: CacheBreakpoint | None = None
    thought_signature: bytes | None = None
    reasoning: list[ReasoningBlock] | None = None
    refusal: str | None = None
    provider: str | None = None
    """Extension: the provider that wrote the message. Its thought signatures (on the message
    and on its tool calls) are sent back to that provider only, never to another."""

    @property
    def role(self) -> Literal["assistant"]:
        return "assistant"


@dataclass(slots=True)
class ToolResultMessage:
    """The result of a tool call, passed back to the model."""

    tool_call_id: str
    content: dict[str, Any]
    name: str | None = None
    cache_breakpoint: CacheBreakpoint | None = None

    @property
    def role(self) -> Literal["tool"]:
        return "tool"


Message: TypeAlias = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage
ConversationHistory: TypeAlias = list[Message]


# ---------------------------------------------------------------- provider kwargs


class ThinkingConfigParam(TypedDict, total=False):
    """Anthropic ``thinking``: ``{"type": "enabled", "budget_tokens": 10000}``."""

    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int
    display: Literal["summarized", "omitted"]


class ThinkingConfigDict(TypedDict, total=False):
    """Gemini ``thinkingConfig``: ``{"thinking_budget": 10000, "include_thoughts": True}``.

    Sent as given, each key in the API's camelCase whichever case the caller used
    (``thinking_budget`` and ``thinkingBudget`` both become ``thinkingBudget``).
    """

    thinking_budget: int
    include_thoughts: bool
    thinking_level: str
    thinkingBudget: int
    includeThoughts: bool
    thinkingLevel: str


class OpenAIKwargs(TypedDict, total=False):
    """OpenAI-specific arguments passed to the chat completions API.

    Any other key is refused with a did-you-mean message: nothing is dropped silently.
    """

    service_tier: Literal["auto", "default", "flex", "scale", "priority"]
    reasoning_effort: Literal["low", "medium", "high"]
    base_url: str
    parallel_tool_calls: bool
    """Extension: whether the model may call several tools in one turn (sent as given)."""
    extra_body: dict[str, Any]
    """Merged into the JSON body last, as given and unchecked (its keys replace the library's
    own): for parameters this library does not model."""


class AnthropicKwargs(TypedDict, total=False):
    """Anthropic-specific arguments passed to the messages API."""

    thinking: ThinkingConfigParam
    """Sent as given. With thinking on, ``temperature`` is not sent (only 1 is accepted)."""
    base_url: str
    """The API root (default ``https://api.anthropic.com``, or ``ANTHROPIC_BASE_URL``)."""
    top_k: int
    """Extension: sample from the k most likely tokens only."""
    betas: list[str]
    """Extension: beta feature names, sent in the ``anthropic-beta`` header."""
    structured_output: Literal["auto", "native", "tool"]
    """Extension: how ``response_schema`` is asked for: ``native`` (``output_config.format``),
    ``tool`` (one forced tool whose input is the answer), or ``auto`` (the default: native for
    the models that have it, the tool otherwise)."""
    extra_body: dict[str, Any]
    """Merged into the JSON body last, as given and unchecked (its keys replace the library's
    own): for parameters this library does not model."""


class GoogleKwargs(TypedDict, total=False):
    """Gemini-specific arguments passed to ``GenerateContentConfig``."""

    thinking_config: ThinkingConfigDict
    base_url: str
    """The API root (default ``https://generativelanguage.googleapis.com``, or the
    ``GOOGLE_GEMINI_BASE_URL`` environment variable); ``/v1beta/models/…`` is appended."""
    extra_body: dict[str, Any]
    """Merged into the JSON body last, as given and unchecked: for parameters this library does
    not model. Objects merge key by key, so ``{"generationConfig": {"topK": 40}}`` adds ``topK``
    and keeps the library's own ``generationConfig`` keys; any other value replaces."""


class AnthropicVertexKwargs(TypedDict, total=False):
    """Anthropic models via Google Cloud Vertex AI."""

    thinking: ThinkingConfigParam
    project_id: str
    """The Google Cloud project (default: the credentials' ``project_id``, or
    ``ANTHROPIC_VERTEX_PROJECT_ID``)."""
    region: str
    """``global``, or a region such as ``us-east5`` (default ``CLOUD_ML_REGION``, else
    ``global``)."""
    service_account_credentials: dict[str, Any]
    """The service-account key JSON, parsed; never shown in any repr, error or log."""
    base_url: str
    """Replaces ``https://{region}-aiplatform.googleapis.com/v1`` (tests, private endpoints)."""
    top_k: int
    """Extension: sample from the k most likely tokens only."""
    betas: list[str]
    """Extension: beta feature names, sent in the ``anthropic-beta`` header."""
    structured_output: Literal["auto", "native", "tool"]
    """Extension: as for ``anthropic``; ``auto`` means the tool on Vertex."""
    extra_body: dict[str, Any]
    """Merged into the JSON body last, as given and unchecked (its keys replace the library's
    own): for parameters this library does not model."""


class AlibabaKwargs(TypedDict, total=False):
    """Qwen via DashScope's OpenAI-compatible endpoint.

    Any other key is refused with a did-you-mean message: nothing is dropped silently.

    DashScope answers HTTP 400 when thinking is on and the request does not stream. So that no
    such request is ever sent, ``enable_thinking: True`` with ``generate_chat_completion`` (not
    streaming) raises :class:`RequestValidationError` before any I/O, naming this option and
    asking for ``generate_chat_completion_stream``; streaming is never switched on behind the
    caller's back.
    """

    base_url: str
    enable_search: bool
    enable_thinking: bool
    """Extension: hybrid-thinking Qwen models reason first. The reasoning arrives as
    ``message.reasoning`` (provider ``"alibaba"``), never as content or sentences.
    Streaming only."""
    thinking_budget: int
    """Extension: the most tokens the model may spend reasoning."""
    parallel_tool_calls: bool
    """Extension: whether the model may call several tools in one turn (sent as given)."""
    extra_body: dict[str, Any]
    """Merged into the JSON body last, as given and unchecked (its keys replace the library's
    own): for parameters this library does not model."""


class ProviderKwargs(TypedDict, total=False):
    """Provider-specific arguments, keyed by provider name."""

    openai: OpenAIKwargs
    anthropic: AnthropicKwargs
    google: GoogleKwargs
    anthropic_vertex: AnthropicVertexKwargs
    alibaba: AlibabaKwargs


# ---------------------------------------------------------------- requests


@dataclass(slots=True)
class RetryConfiguration:
    """Automatic retry with exponential backoff."""

    enabled: bool = True
    max_retries: int = 3
    retry_delay: float = 1.0
    backoff_multiplier: float = 2.0


@dataclass(slots=True, repr=False)
class FallbackRequest:
    """A fallback attempt. Unspecified fields inherit from the original request.

    ``api_key`` is not inherited across a change of provider: that would send one provider's
    key to another. The fallback then uses that provider's standard environment variable.
    """

    provider: CompletionsProvider | None = None
    api_key: str | None = None
    model: str | None = None
    messages: ConversationHistory | None = None
    temperature: float | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoice | None = None
    timeout: float | None = None
    max_tokens: int | None = None
    response_schema: dict[str, Any] | None = None
    retry: RetryConfiguration | None = None
    provider_kwargs: ProviderKwargs | None = None
    top_p: float | None = None
    """Extension: nucleus sampling (0 to 1)."""
    stop: list[str] | None = None
    """Extension: stop sequences; generation ends before any of them."""
    seed: int | None = None
    """Extension: best-effort deterministic sampling, where the provider supports it."""
    hedge_after: float | None = None
    """Extension: seconds without a first token after which the next planned attempt starts
    beside this one; the first to commit wins and the other is cancelled."""
    first_token_timeout: float | None = None
    """Extension: seconds from sending the request to the first content, tool-call or
    reasoning event (keep-alive bytes do not count); then the attempt fails, retryable."""
    http2: bool | None = None
    """Extension: talk HTTP/2 to this fallback's provider (``None``: as the request says)."""

    def __repr__(self) -> str:
        return _redacted_repr(self)


@dataclass(slots=True, repr=False)
class ChatCompletionRequest:
    """Main request object. ``generate_*`` also accept the same shape as a dict.

    ``api_key`` may be ``None``: the provider's standard environment variable is used then.
    """

    provider: CompletionsProvider
    api_key: str | None
    model: str
    messages: ConversationHistory
    temperature: float | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoice | None = None
    timeout: float | None = None
    max_tokens: int | None = None
    response_schema: dict[str, Any] | None = None
    retry: RetryConfiguration | None = None
    fallbacks: list[FallbackRequest] | None = None
    provider_kwargs: ProviderKwargs | None = None
    top_p: float | None = None
    """Extension: nucleus sampling (0 to 1)."""
    stop: list[str] | None = None
    """Extension: stop sequences; generation ends before any of them."""
    seed: int | None = None
    """Extension: best-effort deterministic sampling, where the provider supports it."""
    hedge_after: float | None = None
    """Extension: seconds without a first token after which the next planned attempt starts
    beside this one; the first to commit wins and the other is cancelled."""
    first_token_timeout: float | None = None
    """Extension: seconds from sending the request to the first content, tool-call or
    reasoning event (keep-alive bytes do not count); then the attempt fails, retryable."""
    http2: bool = False
    """Extension: talk HTTP/2 to the provider, many streams sharing few connections. Over
    ``https`` the TLS handshake offers ``h2`` and ``http/1.1`` (ALPN) and the server picks;
    over plain ``http`` (a local server) it means HTTP/2 with prior knowledge (h2c), so the
    server must speak HTTP/2 there. ``False``: HTTP/1.1, one connection per concurrent
    stream."""

    def __repr__(self) -> str:
        return _redacted_repr(self)


def _redacted_repr(obj: ChatCompletionRequest | FallbackRequest) -> str:
    parts = []
    for name in obj.__dataclass_fields__:
        value = getattr(obj, name)
        if name == "api_key":
            shown = redact(value)
        elif name == "provider_kwargs" or type(value) is str:
            # Secrets nested in provider kwargs, and a key pasted into the wrong field
            # (``model``), are hidden too.
            shown = safe_repr(value)
        else:
            shown = repr(value)
        parts.append(f"{name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


@dataclass(slots=True)
class StreamOptions:
    """Streaming behaviour, including sentence streaming for text-to-speech."""

    stream_sentences: bool = False
    clean_sentences: bool = True
    min_sentence_length: int = 6
    punctuation_marks: list[str] | None = None
    punctuation_language: str | None = None


# ---------------------------------------------------------------- responses


@dataclass(slots=True, frozen=True)
class TokenUsage:
    """Extension: token counts normalized across providers.

    ``input_tokens`` counts every prompt token, cached or not (Anthropic's cache reads and
    writes are added in); ``output_tokens`` includes reasoning tokens (Gemini's thoughts are
    added in). ``None`` means the provider did not say.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_5m_tokens: int | None = None
    """Of ``cache_write_tokens``, those cached for 5 minutes (Anthropic ``ephemeral_5m``)."""
    cache_write_1h_tokens: int | None = None
    """Of ``cache_write_tokens``, those cached for 1 hour (Anthropic ``ephemeral_1h``)."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


AttemptOutcome: TypeAlias = Literal["succeeded", "failed", "cancelled"]
"""``cancelled``: lost a hedge race, or stopped by the caller."""


@dataclass(slots=True, frozen=True)
class AttemptRecord:
    """Extension: what one attempt (one HTTP exchange) did. Times are seconds from its start.

    Attributes:
        provider: The provider it talked to.
        model: The model it asked for.
        outcome: ``succeeded`` (it produced the response), ``failed`` or ``cancelled``.
        retry: 0 for the first try of its configuration, then 1, 2, ...
        hedge: Whether it was started beside a slower attempt.
        status_code: The HTTP status of the response head, if one arrived.
        error_type: The class name of the error it failed with.
        time_to_head: Until the response head arrived.
        time_to_first_token: Until the first content, tool-call or reasoning event.
        duration: Until it ended (for the winner: until the stream ended).
    """

    provider: str
    model: str
    outcome: AttemptOutcome
    retry: int = 0
    hedge: bool = False
    status_code: int | None = None
    error_type: str | None = None
    time_to_head: float | None = None
    time_to_first_token: float | None = None
    duration: float | None = None


@dataclass(slots=True)
class ChatCompletionResponse:
    """A complete chat completion.

    ``usage`` is the provider's own usage object, unchanged; ``token_usage`` (extension) is the
    same counted the same way for every provider.
    """

    message: AssistantMessage
    finish_reason: str
    usage: dict[str, Any] | None = None
    provider: CompletionsProvider | None = None
    model: str | None = None
    token_usage: TokenUsage | None = None
    response_id: str | None = None
    choices: list[AssistantMessage] | None = None
    """Extension: with ``n > 1`` (OpenAI), every choice in index order; ``message`` is the first."""
    attempts: list[AttemptRecord] | None = None
    """Extension: every attempt made for this response (retries, fallbacks, hedges), in the
    order they started."""


# ---------------------------------------------------------------- stream chunks


@dataclass(slots=True)
class AssistantMessageDeltaChunk:
    """An incremental text token."""

    content: str

    @property
    def type(self) -> Literal["content_delta"]:
        return "content_delta"


@dataclass(slots=True)
class AssistantMessageSentenceChunk:
    """A complete sentence (cleaned for speech when ``clean_sentences``)."""

    sentence: str

    @property
    def type(self) -> Literal["content_sentence"]:
        return "content_sentence"


@dataclass(slots=True)
class ToolCallChunk:
    """A complete tool call compiled from streamed parts."""

    tool_call: ToolCall

    @property
    def type(self) -> Literal["tool_call"]:
        return "tool_call"


@dataclass(slots=True)
class FinishReasonChunk:
    """Why generation stopped: ``stop``, ``length``, ``tool_calls`` or ``content_filter``."""

    finish_reason: str

    @property
    def type(self) -> Literal["finish_reason"]:
        return "finish_reason"


@dataclass(slots=True)
class UsageChunk:
    """Token usage: the provider's own object, and (extension) the normalized counts."""

    usage: dict[str, Any]
    token_usage: TokenUsage | None = None

    @property
    def type(self) -> Literal["usage"]:
        return "usage"


@dataclass(slots=True)
class FinalResponseChunk:
    """The complete response assembled from the stream; always the last chunk."""

    response: ChatCompletionResponse

    @property
    def type(self) -> Literal["response"]:
        return "response"


ChatCompletionChunk: TypeAlias = (
    AssistantMessageDeltaChunk
    | AssistantMessageSentenceChunk
    | ToolCallChunk
    | FinishReasonChunk
    | UsageChunk
    | FinalResponseChunk
)
