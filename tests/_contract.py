"""The API contract as data: the names, fields, defaults and signatures the library promises.

Written from the project's API reference, so the public-surface test needs nothing outside the
repository. Each entry keeps the reference's order. Names and fields here must keep their meaning;
the library may add to them (optional, defaulted extensions after the listed fields), never take
away. Edit this table only when the contract itself changes.
"""

from __future__ import annotations

from typing import Any, Final


class _Required:
    """Marks a field the contract gives no default (the caller must pass it)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()

Fields = tuple[tuple[str, Any], ...]

# Every ``@dataclass`` of the contract: its fields in order, each with its default or REQUIRED.
DATACLASSES: Final[dict[str, Fields]] = {
    "ChatCompletionRequest": (
        ("provider", REQUIRED),
        ("api_key", REQUIRED),
        ("model", REQUIRED),
        ("messages", REQUIRED),
        ("temperature", None),
        ("tools", None),
        ("tool_choice", None),
        ("timeout", None),
        ("max_tokens", None),
        ("response_schema", None),
        ("retry", None),
        ("fallbacks", None),
        ("provider_kwargs", None),
    ),
    "FallbackRequest": (
        ("provider", None),
        ("api_key", None),
        ("model", None),
        ("messages", None),
        ("temperature", None),
        ("tools", None),
        ("tool_choice", None),
        ("timeout", None),
        ("max_tokens", None),
        ("response_schema", None),
        ("retry", None),
        ("provider_kwargs", None),
    ),
    "RetryConfiguration": (
        ("enabled", True),
        ("max_retries", 3),
        ("retry_delay", 1.0),
        ("backoff_multiplier", 2.0),
    ),
    "StreamOptions": (
        ("stream_sentences", False),
        ("clean_sentences", True),
        ("min_sentence_length", 6),
        ("punctuation_marks", None),
        ("punctuation_language", None),
    ),
    "ChatCompletionResponse": (
        ("message", REQUIRED),
        ("finish_reason", REQUIRED),
        ("usage", None),
        ("provider", None),
        ("model", None),
    ),
    "UserMessage": (("content", REQUIRED), ("cache_breakpoint", None)),
    "AssistantMessage": (
        ("content", None),
        ("tool_calls", None),
        ("cache_breakpoint", None),
        ("thought_signature", None),
    ),
    "SystemMessage": (("content", REQUIRED), ("cache_breakpoint", None)),
    "ToolResultMessage": (
        ("tool_call_id", REQUIRED),
        ("content", REQUIRED),
        ("name", None),
        ("cache_breakpoint", None),
    ),
    "ToolDefinition": (("type", REQUIRED), ("function", REQUIRED), ("cache_breakpoint", None)),
    "FunctionDefinition": (
        ("name", REQUIRED),
        ("description", REQUIRED),
        ("parameters", REQUIRED),
        ("strict", None),
    ),
    "ToolCall": (
        ("id", REQUIRED),
        ("type", REQUIRED),
        ("function", REQUIRED),
        ("index", None),
        ("thought_signature", None),
    ),
    "FunctionCall": (("arguments", REQUIRED), ("name", REQUIRED)),
    "AssistantMessageDeltaChunk": (("content", REQUIRED),),
    "AssistantMessageSentenceChunk": (("sentence", REQUIRED),),
    "ToolCallChunk": (("tool_call", REQUIRED),),
    "FinalResponseChunk": (("response", REQUIRED),),
    "CacheBreakpoint": (("ttl", REQUIRED),),
}

# Every ``TypedDict(total=False)`` of the contract with the keys it documents, in order.
TYPEDDICTS: Final[dict[str, tuple[str, ...]]] = {
    "ProviderKwargs": ("openai", "anthropic", "google", "anthropic_vertex", "alibaba"),
    "OpenAIKwargs": ("service_tier", "reasoning_effort"),
    "AnthropicKwargs": ("thinking",),
    "GoogleKwargs": ("thinking_config",),
    "AnthropicVertexKwargs": ("thinking", "project_id", "region", "service_account_credentials"),
    "AlibabaKwargs": ("base_url", "enable_search"),
}

# ``ChatCompletionChunk = Union[...]``: its members in order, each with its ``type`` string.
CHUNK_UNION: Final[tuple[tuple[str, str], ...]] = (
    ("AssistantMessageDeltaChunk", "content_delta"),
    ("AssistantMessageSentenceChunk", "content_sentence"),
    ("ToolCallChunk", "tool_call"),
    ("FinishReasonChunk", "finish_reason"),
    ("UsageChunk", "usage"),
    ("FinalResponseChunk", "response"),
)

# ``class CompletionsProvider(StrEnum)``: member name to value.
PROVIDERS: Final[dict[str, str]] = {
    "OPENAI": "openai",
    "ANTHROPIC": "anthropic",
    "GOOGLE": "google",
    "ANTHROPIC_VERTEX": "anthropic_vertex",
    "ALIBABA": "alibaba",
}

# ``ToolChoice = Union[Literal["none", "auto", "required"], str]``.
TOOL_CHOICE_LITERALS: Final = ("none", "auto", "required")


class Signature:
    """A contract function: whether it is awaited and its parameters with defaults in order."""

    def __init__(self, *, is_async: bool, parameters: Fields) -> None:
        self.is_async = is_async
        self.parameters = parameters


FUNCTIONS: Final[dict[str, Signature]] = {
    "generate_chat_completion": Signature(is_async=True, parameters=(("request", REQUIRED),)),
    "generate_chat_completion_stream": Signature(
        is_async=True, parameters=(("request", REQUIRED), ("stream_options", None))
    ),
    "serialize_conversation": Signature(is_async=False, parameters=(("conversation", REQUIRED),)),
    "deserialize_conversation": Signature(
        is_async=False, parameters=(("serialized_conversation", REQUIRED),)
    ),
}

# Named as types by the contract (and documented there) without a declaration of their own.
REFERENCED: Final = ("ConversationHistory", "ThinkingConfigParam", "ThinkingConfigDict")

# Type aliases the contract declares with ``X = Union[...]``.
UNIONS: Final = ("ChatCompletionChunk", "ToolChoice")

ENUMS: Final = ("CompletionsProvider",)


def contract_names() -> set[str]:
    """Every name the contract documents: each must be importable from ``pipeline``."""
    return (
        set(FUNCTIONS)
        | set(DATACLASSES)
        | set(TYPEDDICTS)
        | {name for name, _ in CHUNK_UNION}
        | set(UNIONS)
        | set(ENUMS)
        | set(REFERENCED)
    )
