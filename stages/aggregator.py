"""Final-response aggregation: every event in, the same events out, plus the whole response.

Content and tool calls pass straight through so they reach the caller as they arrive. The
finish reason and usage are held back to the end, so the stream always closes with
``Finish``, ``UsageReported``, ``ResponseReady`` in that order whatever order the provider
used. :meth:`ResponseAggregator.snapshot` builds the response received so far, which errors
carry when a stream fails after output was handed on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline._core import Poisonable, guarded
from pipeline._events import (
    Event,
    Finish,
    MessageSignature,
    ReasoningDelta,
    RefusalDelta,
    ResponseReady,
    ResponseStarted,
    TextDelta,
    ToolCallReady,
    UsageReported,
)
from pipeline._types import (
    AssistantMessage,
    ChatCompletionResponse,
    CompletionsProvider,
    ReasoningBlock,
    ToolCall,
)

INCOMPLETE = "incomplete"
"""The finish reason of a snapshot taken before the provider said why it stopped."""


def _append(parts: list[str], piece: str) -> None:
    """Append ``piece`` to the text held as ``parts``, merging pieces like a binary counter.

    A reply arrives as hundreds of tiny deltas; keeping each as its own string costs about 55
    bytes of object header per delta, for every open stream. Merging the newest part into the
    one before it whenever it has grown as long keeps O(log n) parts of decreasing length and
    copies each character O(log n) times, so the text costs about its own size.
    """
    parts.append(piece)
    while len(parts) > 1 and len(parts[-1]) >= len(parts[-2]):
        last = parts.pop()
        parts[-1] += last


@dataclass(slots=True)
class _Reasoning:
    text: list[str] = field(default_factory=list)
    signature: str | None = None
    redacted_data: str | None = None


@dataclass(slots=True)
class _Choice:
    text: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    reasoning: dict[int, _Reasoning] = field(default_factory=dict)
    tool_calls: list[ToolCall] = field(default_factory=list)
    signature: bytes | None = None
    finish: Finish | None = None

    def message(self, provider: str | None) -> AssistantMessage:
        reasoning = [
            ReasoningBlock("".join(b.text), b.signature, b.redacted_data, provider)
            for _, b in sorted(self.reasoning.items())
        ]
        return AssistantMessage(
            content="".join(self.text) if self.text else None,
            tool_calls=list(self.tool_calls) or None,
            thought_signature=self.signature,
            reasoning=reasoning or None,
            refusal="".join(self.refusal) if self.refusal else None,
            provider=provider,
        )


class ResponseAggregator(Poisonable):
    """Accumulate a response while passing the stream through."""

    __slots__ = ("_choices", "_model", "_provider", "_response_id", "_usage")

    def __init__(self, *, provider: CompletionsProvider | None = None) -> None:
        super().__init__()
        self._provider = provider
        self._choices: dict[int, _Choice] = {0: _Choice()}
        self._usage: UsageReported | None = None
        self._model: str | None = None
        self._response_id: str | None = None

    @guarded
    def feed(self, event: Event, /) -> Sequence[Event]:
        """Record ``event``; return it unless it is held back for the end."""
        if isinstance(event, TextDelta):
            _append(self._choice(event.choice).text, event.text)
        elif isinstance(event, ToolCallReady):
            self._choice(event.choice).tool_calls.append(event.tool_call)
        elif isinstance(event, ReasoningDelta):
            block = self._choice(event.choice).reasoning.setdefault(event.block, _Reasoning())
            if event.text:
                _append(block.text, event.text)
            if event.signature is not None:
                block.signature = event.signature
            if event.redacted_data is not None:
                block.redacted_data = event.redacted_data
        elif isinstance(event, RefusalDelta):
            _append(self._choice(event.choice).refusal, event.text)
        elif isinstance(event, Finish):
            self._choice(event.choice).finish = event
            return ()
        elif isinstance(event, UsageReported):
            self._usage = event
            return ()
        elif isinstance(event, MessageSignature):
            self._choice(event.choice).signature = event.signature
        elif isinstance(event, ResponseStarted):
            self._model = event.model or self._model
            self._response_id = event.response_id or self._response_id
        return (event,)

    def add_text(self, text: str) -> None:
        """Record content text of the first choice: what feeding its ``TextDelta`` does.

        For the stream's fast path (:mod:`pipeline._fast_path`), which has no event to feed.
        """
        _append(self._choices[0].text, text)

    @guarded
    def flush(self) -> list[Event]:
        """End of stream: the finish reason, the usage, then the whole response."""
        out: list[Event] = []
        finish = self._choices[0].finish
        if finish is not None:
            out.append(finish)
        if self._usage is not None:
            out.append(self._usage)
        out.append(ResponseReady(response=self.snapshot()))
        return out

    def snapshot(self) -> ChatCompletionResponse:
        """The response as received so far (finish reason ``incomplete`` if none yet)."""
        ordered = [choice for _, choice in sorted(self._choices.items())]
        first = ordered[0]
        usage = self._usage
        provider = self._provider.value if self._provider else None
        return ChatCompletionResponse(
            message=first.message(provider),
            finish_reason=first.finish.reason if first.finish else INCOMPLETE,
            usage=usage.raw if usage else None,
            provider=self._provider,
            model=self._model,
            token_usage=usage.usage if usage else None,
            response_id=self._response_id,
            choices=[choice.message(provider) for choice in ordered] if len(ordered) > 1 else None,
        )

    def _choice(self, index: int) -> _Choice:
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = _Choice()
        return choice
