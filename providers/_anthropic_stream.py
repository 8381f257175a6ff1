"""Anthropic Messages stream events in, neutral events out (PROVIDERS.md §2.3).

One :class:`AnthropicStreamDecoder` per response. Content blocks are keyed by their ``index``:

- ``text`` → :class:`TextDelta`;
- ``thinking`` (``thinking_delta``, ``signature_delta``) and ``redacted_thinking`` →
  :class:`ReasoningDelta` with ``block`` = the content index, so blocks keep their order;
- ``tool_use`` → :class:`ToolCallStarted` at its start; its ``input_json_delta`` fragments are
  held here and handed on whole at ``content_block_stop`` (nothing downstream can use a prefix
  of JSON), which lets a call cut by ``max_tokens`` be closed with its complete prefix (see
  :mod:`._anthropic_partial`) rather than fail as invalid JSON;
- the forced-tool structured-output tool → its input becomes the message's text.

Usage is cumulative: ``message_start`` and every ``message_delta`` are merged field by field (a
later event overrides what it states and never erases the rest), and each merge is reported.
``ping``, unknown events, unknown block and delta types are ignored. An ``error`` event raises
the typed error (``overloaded_error`` and ``api_error`` are retryable).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipeline._core import Poisonable, guarded
from pipeline._errors import ProtocolError
from pipeline._events import (
    Event,
    Finish,
    ReasoningDelta,
    ResponseStarted,
    SSEEvent,
    StreamEnded,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallEnded,
    ToolCallStarted,
    UsageReported,
)
from pipeline._types import TokenUsage
from providers._base import event_object

from ._anthropic_errors import stream_error
from ._anthropic_partial import complete_prefix

FINISH_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
"""Anthropic stop reasons to the normalized ones; others (``pause_turn``) pass unchanged."""


@dataclass(slots=True)
class _Block:
    kind: str  # "text", "tool", "json", "reasoning" or "other"
    call: int = -1  # the tool call's ordinal among this message's calls
    fragments: list[str] = field(default_factory=list)
    start_input: str = ""
    stopped: bool = False


class _PlainDelta(msgspec.Struct):
    type: str
    text: str


class _PlainEvent(msgspec.Struct):
    # The fields the decoder reads of a content_block_delta; others are ignored by both.
    type: str
    index: int
    delta: _PlainDelta


_PLAIN_EVENT = msgspec.json.Decoder(_PlainEvent)


class AnthropicStreamDecoder(Poisonable):
    """Stream events of one Messages response in, neutral events out."""

    __slots__ = (
        "_blocks",
        "_calls",
        "_ended",
        "_finished",
        "_json_tool",
        "_provider",
        "_started",
        "_usage",
    )

    def __init__(self, *, provider: str, json_tool: str | None = None) -> None:
        super().__init__()
        self._provider = provider
        self._json_tool = json_tool
        self._started = False
        self._finished = False
        self._ended = False
        self._blocks: dict[int, _Block] = {}
        self._calls = 0
        self._usage: dict[str, Any] = {}

    @guarded
    def feed(self, event: SSEEvent, /) -> list[Event]:
        if self._ended:
            return []  # past message_stop: not part of the response
        payload = event_object(event, self._provider)
        kind = payload.get("type")
        out: list[Event] = []
        if kind == "content_block_delta":
            self._delta(payload, event, out)
        elif kind == "content_block_start":
            self._start(payload, event, out)
        elif kind == "content_block_stop":
            block = self._block(payload, event)
            block.stopped = True
            self._close(block, out, complete=True)
        elif kind == "message_start":
            message = payload.get("message") or {}
            if not self._started:  # a gateway may repeat message_start: the first one counts
                self._started = True
                out.append(
                    ResponseStarted(response_id=message.get("id"), model=message.get("model"))
                )
            self._merge_usage(message.get("usage"), out)
        elif kind == "message_delta":
            self._message_delta(payload, out)
        elif kind == "message_stop":
            self._ended = True
            out.append(StreamEnded())
        elif kind == "error":
            raise stream_error(payload.get("error"), self._provider)
        # ping and event types added later carry nothing to decode.
        return out

    def plain_text(self, data: bytes, /) -> str | None:
        """The text of a ``text_delta`` to a text block, else None (see pipeline._fast_path)."""
        if self._ended:
            return None
        try:
            event = _PLAIN_EVENT.decode(data)
        except msgspec.DecodeError:  # also a ValidationError: another shape, or a type to check
            return None
        if event.type != "content_block_delta" or event.delta.type != "text_delta":
            return None
        block = self._blocks.get(event.index)
        if block is None or block.kind != "text":
            return None
        return event.delta.text

    @guarded
    def flush(self) -> list[Event]:
        if not self._finished:
            error = ProtocolError(
                "the stream ended before the provider sent a stop_reason", provider=self._provider
            )
            error.retryable = True
            raise error
        return []

    # ---------------------------------------------------------------- blocks

    def _block(self, payload: Mapping[str, Any], event: SSEEvent) -> _Block:
        block = self._blocks.get(payload.get("index"))  # type: ignore[arg-type]
        if block is None:
            raise ProtocolError(
                f"{payload.get('type')} for content block {payload.get('index')!r}, "
                "which never started",
                provider=self._provider,
                offset=event.offset,
            )
        return block

    def _start(self, payload: Mapping[str, Any], event: SSEEvent, out: list[Event]) -> None:
        index = payload.get("index")
        content = payload.get("content_block") or {}
        if not isinstance(index, int) or not isinstance(content, dict):
            raise ProtocolError(
                "content_block_start without an index or a content_block",
                provider=self._provider,
                offset=event.offset,
            )
        kind = content.get("type")
        if kind == "text":
            self._blocks[index] = _Block("text")
            if content.get("text"):
                out.append(TextDelta(text=content["text"]))
        elif kind == "tool_use":
            name = str(content.get("name") or "")
            given = content.get("input")
            # The usual ``input: {}`` is a placeholder; a non-empty one is the whole input.
            start_input = json.dumps(given, ensure_ascii=False) if given else ""
            if name == self._json_tool:
                self._blocks[index] = _Block("json", start_input=start_input)
                return
            block = self._blocks[index] = _Block("tool", self._calls, start_input=start_input)
            self._calls += 1
            call_id = str(content.get("id") or "")
            out.append(ToolCallStarted(index=block.call, id=call_id, name=name))
        elif kind == "thinking":
            self._blocks[index] = _Block("reasoning")
            text, signature = content.get("thinking") or "", content.get("signature") or None
            if text or signature:
                out.append(ReasoningDelta(text=text, block=index, signature=signature))
        elif kind == "redacted_thinking":
            self._blocks[index] = _Block("reasoning")
            out.append(ReasoningDelta(block=index, redacted_data=str(content.get("data") or "")))
        else:  # server tools, their results, and block types added later
            self._blocks[index] = _Block("other")

    def _delta(self, payload: Mapping[str, Any], event: SSEEvent, out: list[Event]) -> None:
        block = self._block(payload, event)
        delta = payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            if block.kind == "text" and delta.get("text"):
                out.append(TextDelta(text=delta["text"]))
        elif kind == "input_json_delta":
            if block.kind in ("tool", "json"):
                block.fragments.append(delta.get("partial_json") or "")
        elif kind == "thinking_delta":
            if block.kind == "reasoning" and delta.get("thinking"):
                out.append(ReasoningDelta(text=delta["thinking"], block=payload["index"]))
        elif kind == "signature_delta" and block.kind == "reasoning":
            out.append(ReasoningDelta(block=payload["index"], signature=delta.get("signature")))
        # citations_delta and delta types added later are not part of the neutral events.

    def _close(self, block: _Block, out: list[Event], *, complete: bool) -> None:
        """Hand on a tool input once its block ends (``complete``) or generation stopped."""
        if block.kind not in ("tool", "json") or (block.stopped and not complete):
            return
        raw = "".join(block.fragments) if block.fragments else block.start_input
        if not complete:
            # Not even a prefix of JSON: the assembler then reports it with the raw text.
            with contextlib.suppress(ValueError):
                raw = json.dumps(complete_prefix(raw), ensure_ascii=False)
        block.kind = "done"
        if block.call < 0:
            out.append(TextDelta(text=raw if raw.strip() else "{}"))
            return
        out.append(ToolCallArgumentsDelta(index=block.call, fragment=raw))
        out.append(ToolCallEnded(index=block.call))

    # ---------------------------------------------------------------- message

    def _message_delta(self, payload: Mapping[str, Any], out: list[Event]) -> None:
        reason = (payload.get("delta") or {}).get("stop_reason")
        if reason:
            self._finished = True
            for block in self._blocks.values():
                # Generation stopped inside these blocks (max_tokens): keep what is complete.
                self._close(block, out, complete=False)
            finish = FINISH_REASONS.get(reason, reason)
            if reason == "tool_use" and self._calls == 0 and self._json_tool is not None:
                finish = "stop"  # the only tool was the structured-output one: it is the content
            out.append(Finish(reason=finish, raw_reason=reason))
        self._merge_usage(payload.get("usage"), out)

    def _merge_usage(self, usage: Any, out: list[Event]) -> None:
        if not isinstance(usage, dict):
            return
        merge_usage(self._usage, usage)
        out.append(UsageReported(raw=dict(self._usage), usage=normalize_usage(self._usage)))


def merge_usage(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    """Overwrite ``into`` with every field ``update`` states; nested objects merge the same way."""
    for key, value in update.items():
        if value is None:
            continue
        current = into.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged = dict(current)
            merge_usage(merged, value)
            into[key] = merged
        else:
            into[key] = value


def normalize_usage(usage: Mapping[str, Any]) -> TokenUsage:
    """Anthropic counts cache reads and writes apart from ``input_tokens``: they are added in."""
    read = usage.get("cache_read_input_tokens")
    write = usage.get("cache_creation_input_tokens")
    creation = usage.get("cache_creation") or {}
    details = usage.get("output_tokens_details") or {}
    return TokenUsage(
        input_tokens=int(usage.get("input_tokens") or 0) + int(read or 0) + int(write or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=details.get("thinking_tokens"),
        cache_write_5m_tokens=creation.get("ephemeral_5m_input_tokens"),
        cache_write_1h_tokens=creation.get("ephemeral_1h_input_tokens"),
    )
