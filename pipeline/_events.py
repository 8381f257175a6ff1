"""Neutral events: what every provider codec emits and every stage consumes.

Immutable, slotted, keyword-only dataclasses, in the style of h11's events. A codec turns one
provider's wire events into these; stages never see provider JSON. ``choice`` is the OpenAI
choice index (``n > 1``); every other provider only ever uses 0.

:class:`SSEEvent` is the one wire-level event: the SSE decoder (a stage) emits it and a codec's
stream decoder consumes it, so it lives here where both packages may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from ._types import ChatCompletionResponse, TokenUsage, ToolCall


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched server-sent event. ``offset`` is the byte offset of its first line."""

    data: str
    event: str | None = None
    id: str | None = None
    offset: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseStarted:
    """The provider's response metadata: its id and the model that answers."""

    response_id: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta:
    """A fragment of the assistant's visible text."""

    text: str
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalDelta:
    """A fragment of a refusal (OpenAI's ``delta.refusal``)."""

    text: str
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningDelta:
    """A fragment of reasoning. ``block`` separates reasoning blocks within one response.

    ``signature`` (and ``redacted_data``) arrive once per block, usually after its text.
    """

    text: str = ""
    block: int = 0
    signature: str | None = None
    redacted_data: str | None = None
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallStarted:
    """A tool call begins; ``index`` keys every later fragment of it."""

    index: int
    id: str
    name: str
    thought_signature: bytes | None = None
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallArgumentsDelta:
    """A fragment of a tool call's JSON arguments (a whole object arrives as one fragment)."""

    index: int
    fragment: str
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallEnded:
    """The provider says tool call ``index`` is complete (Anthropic ``content_block_stop``)."""

    index: int
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallReady:
    """A whole tool call with parsed arguments: the tool-call assembler's output."""

    tool_call: ToolCall
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSignature:
    """A signature for the message as a whole (Gemini ``thoughtSignature`` on a text part)."""

    signature: bytes
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish:
    """Generation stopped. ``reason`` is normalized; ``raw_reason`` is the provider's word."""

    reason: str
    raw_reason: str | None = None
    choice: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageReported:
    """Token usage: the provider's object unchanged, and the normalized counts."""

    raw: dict[str, Any]
    usage: TokenUsage


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamEnded:
    """The provider's terminal event arrived (OpenAI ``[DONE]``, Anthropic ``message_stop``,
    Gemini's last finished candidate): the response is complete, and whatever the body holds
    after it is ignored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReady:
    """The whole response, assembled: always the last event of a stream."""

    response: ChatCompletionResponse


Event: TypeAlias = (
    ResponseStarted
    | TextDelta
    | RefusalDelta
    | ReasoningDelta
    | ToolCallStarted
    | ToolCallArgumentsDelta
    | ToolCallEnded
    | ToolCallReady
    | MessageSignature
    | Finish
    | UsageReported
    | StreamEnded
    | ResponseReady
)
