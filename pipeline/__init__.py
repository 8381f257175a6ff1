"""One fast, reliable streaming API for chat completions across LLM providers.

This package is the only documented import surface. Everything public is defined in a private
module and re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._core import FusedCore as FusedCore
from ._core import StageCore as StageCore
from ._core import fuse as fuse
from ._errors import AllAttemptsFailedError as AllAttemptsFailedError
from ._errors import AuthenticationError as AuthenticationError
from ._errors import ConfigurationError as ConfigurationError
from ._errors import PipelineError as PipelineError
from ._errors import ProtocolError as ProtocolError
from ._errors import ProviderConnectionError as ProviderConnectionError
from ._errors import ProviderError as ProviderError
from ._errors import ProviderStatusError as ProviderStatusError
from ._errors import ProviderTimeoutError as ProviderTimeoutError
from ._errors import RateLimitError as RateLimitError
from ._errors import RequestValidationError as RequestValidationError
from ._errors import ServerError as ServerError
from ._errors import ToolCallArgumentsError as ToolCallArgumentsError
from ._http import aclose_http_clients as aclose_http_clients
from ._runtime import open_stage_graph as open_stage_graph
from ._types import AlibabaKwargs as AlibabaKwargs
from ._types import AnthropicKwargs as AnthropicKwargs
from ._types import AnthropicVertexKwargs as AnthropicVertexKwargs
from ._types import AssistantMessage as AssistantMessage
from ._types import AssistantMessageDeltaChunk as AssistantMessageDeltaChunk
from ._types import AssistantMessageSentenceChunk as AssistantMessageSentenceChunk
from ._types import AttemptOutcome as AttemptOutcome
from ._types import AttemptRecord as AttemptRecord
from ._types import CacheBreakpoint as CacheBreakpoint
from ._types import ChatCompletionChunk as ChatCompletionChunk
from ._types import ChatCompletionRequest as ChatCompletionRequest
from ._types import ChatCompletionResponse as ChatCompletionResponse
from ._types import CompletionsProvider as CompletionsProvider
from ._types import ConversationHistory as ConversationHistory
from ._types import FallbackRequest as FallbackRequest
from ._types import FinalResponseChunk as FinalResponseChunk
from ._types import FinishReasonChunk as FinishReasonChunk
from ._types import FunctionCall as FunctionCall
from ._types import FunctionDefinition as FunctionDefinition
from ._types import GoogleKwargs as GoogleKwargs
from ._types import Message as Message
from ._types import OpenAIKwargs as OpenAIKwargs
from ._types import ProviderKwargs as ProviderKwargs
from ._types import ReasoningBlock as ReasoningBlock
from ._types import RetryConfiguration as RetryConfiguration
from ._types import StreamOptions as StreamOptions
from ._types import SystemMessage as SystemMessage
from ._types import ThinkingConfigDict as ThinkingConfigDict
from ._types import ThinkingConfigParam as ThinkingConfigParam
from ._types import TokenUsage as TokenUsage
from ._types import ToolCall as ToolCall
from ._types import ToolCallChunk as ToolCallChunk
from ._types import ToolChoice as ToolChoice
from ._types import ToolDefinition as ToolDefinition
from ._types import ToolResultMessage as ToolResultMessage
from ._types import UsageChunk as UsageChunk
from ._types import UserMessage as UserMessage

if TYPE_CHECKING:
    from ._api import generate_chat_completion as generate_chat_completion
    from ._api import generate_chat_completion_stream as generate_chat_completion_stream
    from ._chunks import CleanStage as CleanStage
    from ._chunks import SentenceStage as SentenceStage
    from ._serialization import deserialize_conversation as deserialize_conversation
    from ._serialization import serialize_conversation as serialize_conversation
    from ._stream import ChatCompletionStream as ChatCompletionStream
    from ._warmup import warm_up as warm_up

__version__ = "0.1.0"

# These live in modules that import ``stages`` and ``providers``, which import this package's
# core modules: loading them on first use keeps the import graph acyclic whichever package a
# program imports first, and ``import pipeline`` light (no cattrs, httpcore nor asyncio).
_LAZY = {
    "generate_chat_completion": "_api",
    "generate_chat_completion_stream": "_api",
    "ChatCompletionStream": "_stream",
    "SentenceStage": "_chunks",
    "CleanStage": "_chunks",
    "warm_up": "_warmup",
    # cattrs (~30 ms to import) is loaded by the first call that validates or converts.
    "serialize_conversation": "_serialization",
    "deserialize_conversation": "_serialization",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = (
    "AlibabaKwargs",
    "AllAttemptsFailedError",
    "AnthropicKwargs",
    "AnthropicVertexKwargs",
    "AssistantMessage",
    "AssistantMessageDeltaChunk",
    "AssistantMessageSentenceChunk",
    "AttemptOutcome",
    "AttemptRecord",
    "AuthenticationError",
    "CacheBreakpoint",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "ChatCompletionStream",
    "CleanStage",
    "CompletionsProvider",
    "ConfigurationError",
    "ConversationHistory",
    "FallbackRequest",
    "FinalResponseChunk",
    "FinishReasonChunk",
    "FunctionCall",
    "FunctionDefinition",
    "FusedCore",
    "GoogleKwargs",
    "Message",
    "OpenAIKwargs",
    "PipelineError",
    "ProtocolError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderKwargs",
    "ProviderStatusError",
    "ProviderTimeoutError",
    "RateLimitError",
    "ReasoningBlock",
    "RequestValidationError",
    "RetryConfiguration",
    "SentenceStage",
    "ServerError",
    "StageCore",
    "StreamOptions",
    "SystemMessage",
    "ThinkingConfigDict",
    "ThinkingConfigParam",
    "TokenUsage",
    "ToolCall",
    "ToolCallArgumentsError",
    "ToolCallChunk",
    "ToolChoice",
    "ToolDefinition",
    "ToolResultMessage",
    "UsageChunk",
    "UserMessage",
    "aclose_http_clients",
    "deserialize_conversation",
    "fuse",
    "generate_chat_completion",
    "generate_chat_completion_stream",
    "open_stage_graph",
    "serialize_conversation",
    "warm_up",
)
