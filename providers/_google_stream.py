"""Gemini ``GenerateContentResponse`` chunks in, neutral events out.

Every chunk of a stream is a whole ``GenerateContentResponse`` whose parts are deltas; a
non-streaming body is the same object once (or, from ``streamGenerateContent`` without
``alt=sse``, a JSON array of them), so one decoder serves both.

- ``text`` parts are content; ``thought: true`` parts are reasoning, never content.
- ``functionCall`` parts arrive whole on the Developer API. Vertex can stream the arguments
  (``willContinue`` / ``partialArgs``, PROVIDERS.md §3.3): they are assembled here by JSON path
  and handed on as one fragment when the call ends.
- ``thoughtSignature`` sits on the part it belongs to: a call's goes on its
  :class:`ToolCallStarted`, a text part's (often an empty final part) becomes a
  :class:`MessageSignature`, a thought part's stays on its reasoning block.
- The finish reason is ``tool_calls`` whenever calls were made, although Gemini says ``STOP``.
- ``usageMetadata`` is cumulative: the last one is reported, once, at the end.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec

from pipeline._core import Poisonable, guarded
from pipeline._errors import ProtocolError
from pipeline._events import (
    Event,
    Finish,
    MessageSignature,
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
from providers._base import event_object

from ._google_wire import (
    GENERATED_ID_PREFIX,
    PartialArguments,
    error_object,
    finish_reason,
    mid_stream_error,
    normalize_usage,
    signature_bytes,
)


class _PlainPart(msgspec.Struct, rename="camel"):
    # The fields the decoder reads of a part. Typed None, they accept only JSON null: a
    # thought, a signature or a call sends the chunk the full way.
    text: str
    thought: None = None
    thought_signature: None = None
    function_call: None = None


class _PlainContent(msgspec.Struct):
    parts: list[_PlainPart]


class _PlainCandidate(msgspec.Struct, rename="camel"):
    content: _PlainContent
    index: int = 0
    finish_reason: None = None


class _PlainChunk(msgspec.Struct, rename="camel"):
    # An "error" key, even null, is an error to the decoder: any value fails this field.
    candidates: list[_PlainCandidate]
    usage_metadata: dict[str, Any] | None = None
    error: msgspec.UnsetType = msgspec.UNSET


_PLAIN_CHUNK = msgspec.json.Decoder(_PlainChunk)


class _Candidate:
    """Per-candidate state: calls so far, the Vertex call being streamed, finished or not."""

    __slots__ = ("calls", "finished", "open_call", "partial")

    def __init__(self) -> None:
        self.calls = 0
        self.open_call: int | None = None
        self.partial = PartialArguments()
        self.finished = False


class GeminiDecoder(Poisonable):
    """Turn ``GenerateContentResponse`` objects (streamed or whole) into neutral events.

    A stream that ends before any candidate has a ``finishReason`` (or the prompt was blocked)
    was cut short, and :meth:`flush` says so with a retryable :class:`ProtocolError`.
    """

    __slots__ = ("_candidates", "_ended", "_id_seed", "_provider", "_started", "_usage")

    def __init__(self, *, provider: str = "google") -> None:
        super().__init__()
        self._provider = provider
        self._started = False
        self._ended = False
        self._id_seed = ""
        self._candidates: dict[int, _Candidate] = {}
        self._usage: dict[str, Any] | None = None

    @guarded
    def feed(self, event: SSEEvent, /) -> list[Event]:
        """Decode one SSE event (``data: <GenerateContentResponse>``).

        Gemini has no terminator event: the chunk in which every candidate has finished is the
        last one. It ends the stream (usage and :class:`StreamEnded` follow at once), and
        anything after it is ignored.
        """
        if self._ended:
            return []
        if event.data[:1] == "[":  # an error body wrapped in an array, sent line by line
            error = error_object(_json_or_none(event.data))
            if error is not None:
                raise mid_stream_error(error, provider=self._provider)
        chunk = event_object(event, self._provider)
        if not self._started:
            # Seeds generated call ids when the chunk has no responseId: same bytes, same ids.
            self._id_seed = hashlib.sha256(event.data.encode()).hexdigest()[:16]
        out = self.decode_chunk(chunk)
        if self._candidates and all(c.finished for c in self._candidates.values()):
            out += self.flush()
            out.append(StreamEnded())
            self._ended = True
        return out

    def plain_text(self, data: bytes, /) -> str | None:
        """The text of a chunk with one plain text part, else None (see pipeline._fast_path)."""
        if not self._started or self._ended:
            return None  # the first chunk starts the response; nothing counts after the last
        if 0 not in self._candidates:
            return None  # a candidate's first chunk creates its state: the full way
        try:
            chunk = _PLAIN_CHUNK.decode(data)
        except msgspec.DecodeError:  # also a ValidationError: another shape, or a type to check
            return None
        if len(chunk.candidates) != 1:
            return None
        candidate = chunk.candidates[0]
        if candidate.index != 0 or len(candidate.content.parts) != 1:
            return None
        if chunk.usage_metadata is not None:
            self._usage = chunk.usage_metadata
        return candidate.content.parts[0].text

    @guarded
    def flush(self) -> list[Event]:
        """End of body: close a call left open, then report the last usage."""
        if self._ended:
            return []  # the terminal chunk already did
        out: list[Event] = []
        for index, candidate in sorted(self._candidates.items()):
            self._end_open_call(candidate, index, out)
        if not any(c.finished for c in self._candidates.values()):
            error = ProtocolError(
                "the stream ended before Gemini sent a finishReason", provider=self._provider
            )
            error.retryable = True
            raise error
        if self._usage is not None:
            out.append(UsageReported(raw=self._usage, usage=normalize_usage(self._usage)))
        return out

    def seed_ids(self, seed: str) -> None:
        """Seed generated call ids (a whole body: a digest of it) when no responseId comes."""
        self._id_seed = seed

    def decode_chunk(self, chunk: dict[str, Any]) -> list[Event]:
        """The events of one ``GenerateContentResponse`` object."""
        if "error" in chunk:
            raise mid_stream_error(error_object(chunk) or {}, provider=self._provider)
        out: list[Event] = []
        if not self._started:
            self._started = True
            response_id = chunk.get("responseId")
            if isinstance(response_id, str) and response_id:
                self._id_seed = response_id
            out.append(ResponseStarted(response_id=response_id, model=chunk.get("modelVersion")))
        usage = chunk.get("usageMetadata")
        if isinstance(usage, dict):
            self._usage = usage
        candidates = chunk.get("candidates")
        if not candidates:
            blocked = (chunk.get("promptFeedback") or {}).get("blockReason")
            if blocked:
                self._candidate(0).finished = True
                out.append(Finish(reason="content_filter", raw_reason=str(blocked)))
            return out
        for candidate in candidates:
            self._decode_candidate(candidate, out)
        return out

    def _candidate(self, index: int) -> _Candidate:
        state = self._candidates.get(index)
        if state is None:
            state = self._candidates[index] = _Candidate()
        return state

    def _decode_candidate(self, candidate: dict[str, Any], out: list[Event]) -> None:
        index = int(candidate.get("index") or 0)
        state = self._candidate(index)
        content = candidate.get("content") or {}
        for part in content.get("parts") or ():
            call = part.get("functionCall")
            if call is not None:
                self._function_call(call, part.get("thoughtSignature"), state, index, out)
                continue
            text = part.get("text")
            signature = part.get("thoughtSignature")
            if part.get("thought"):
                if text or signature:
                    out.append(ReasoningDelta(text=text or "", signature=signature, choice=index))
            else:
                if text:
                    out.append(TextDelta(text=text, choice=index))
                if signature:
                    out.append(MessageSignature(signature=self._bytes(signature), choice=index))
        reason = candidate.get("finishReason")
        if reason:
            self._end_open_call(state, index, out)
            state.finished = True
            normalized = "tool_calls" if state.calls else finish_reason(reason)
            out.append(Finish(reason=normalized, raw_reason=reason, choice=index))

    def _function_call(
        self,
        call: dict[str, Any],
        signature: str | None,
        state: _Candidate,
        choice: int,
        out: list[Event],
    ) -> None:
        name = call.get("name")
        if name:
            self._end_open_call(state, choice, out)
            index = state.calls
            state.calls += 1
            call_id = call.get("id") or f"{GENERATED_ID_PREFIX}{self._id_seed}_{choice}_{index}"
            out.append(
                ToolCallStarted(
                    index=index,
                    id=call_id,
                    name=name,
                    thought_signature=self._bytes(signature) if signature else None,
                    choice=choice,
                )
            )
            if call.get("willContinue"):
                state.open_call = index
                state.partial = PartialArguments()
                self._partial(call, state)
                return
            arguments = call.get("args")
            fragment = json.dumps(arguments, ensure_ascii=False) if arguments else ""
            if fragment:
                out.append(ToolCallArgumentsDelta(index=index, fragment=fragment, choice=choice))
            out.append(ToolCallEnded(index=index, choice=choice))
            return
        if state.open_call is None:
            if call.get("partialArgs"):
                raise ProtocolError(
                    "functionCall.partialArgs arrived with no call open", provider=self._provider
                )
            return  # an empty functionCall with nothing open: nothing to end
        self._partial(call, state)
        if not call.get("willContinue"):
            self._end_open_call(state, choice, out)

    def _partial(self, call: dict[str, Any], state: _Candidate) -> None:
        for item in call.get("partialArgs") or ():
            try:
                state.partial.apply(item)
            except ValueError as exc:
                raise ProtocolError(
                    f"functionCall.partialArgs: {exc}", provider=self._provider
                ) from None

    def _end_open_call(self, state: _Candidate, choice: int, out: list[Event]) -> None:
        index = state.open_call
        if index is None:
            return
        state.open_call = None
        fragment = state.partial.json()
        if fragment:
            out.append(ToolCallArgumentsDelta(index=index, fragment=fragment, choice=choice))
        out.append(ToolCallEnded(index=index, choice=choice))

    def _bytes(self, signature: str) -> bytes:
        try:
            return signature_bytes(signature)
        except ValueError as exc:
            raise ProtocolError(f"thoughtSignature: {exc}", provider=self._provider) from None


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
