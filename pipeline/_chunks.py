"""Cores at the public edge: neutral events to public chunks, and the voice stages on chunks.

The voice stages work on public chunks, not internal events, so a user can put an own stage
between them (``sentences → translate → clean → speak``) using nothing but public types.
The final aggregator runs before them on the raw events, which is why the final response
always keeps the raw text while sentences carry the cleaned one.

The stream hands the stages the chunks of one body read together
(:meth:`~pipeline._core.FusedCore.feed_block`): a stage that offers ``feed_block``
(:class:`BlockStage`) takes them in one call, which lets the
sentence stage give the segmenter the text of a read's deltas as one string instead of one
call per delta. That changes nothing but speed, because the segmenter's sentences never
depend on how the text is split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from stages.markdown import MarkdownCleaner
from stages.sentences import SentenceSegmenter

from ._core import Poisonable, StageCore, guarded
from ._events import Event, Finish, ResponseReady, TextDelta, ToolCallReady, UsageReported
from ._types import (
    AssistantMessageDeltaChunk,
    AssistantMessageSentenceChunk,
    ChatCompletionChunk,
    FinalResponseChunk,
    FinishReasonChunk,
    StreamOptions,
    ToolCallChunk,
    UsageChunk,
)


class ChunkMapper:
    """Neutral events to the public chunks of the first choice; the rest stays internal."""

    __slots__ = ()

    def feed(self, event: Event, /) -> Sequence[ChatCompletionChunk]:
        match event:
            case TextDelta(text=text, choice=0):
                return (AssistantMessageDeltaChunk(text),)
            case ToolCallReady(tool_call=call, choice=0):
                return (ToolCallChunk(call),)
            case Finish(reason=reason, choice=0):
                return (FinishReasonChunk(reason),)
            case UsageReported(raw=raw, usage=usage):
                return (UsageChunk(raw, usage),)
            case ResponseReady(response=response):
                return (FinalResponseChunk(response),)
        return ()

    def flush(self) -> Sequence[ChatCompletionChunk]:
        return ()


@runtime_checkable
class BlockStage(Protocol):
    """A chunk stage that can take several chunks in one call, as fast as or faster than one by one.

    ``feed_block(chunks)`` must return exactly what feeding the chunks one at a time would
    return, concatenated: it is an optimization, never a change of output.
    """

    def feed_block(self, chunks: Sequence[ChatCompletionChunk], /) -> list[ChatCompletionChunk]:
        """Consume ``chunks`` in order; return every output they make certain."""
        ...


# Chunks before which the text so far is complete: a tool call (the agent runs it at once,
# so what the model said before it must be spoken first) and the end of the reply.
_END_OF_TEXT = (ToolCallChunk, FinishReasonChunk, UsageChunk, FinalResponseChunk)


class SentenceStage(Poisonable):
    """``content_delta`` chunks in, ``content_sentence`` chunks out; other chunks pass.

    The text before a tool call, and the text of the whole reply once the finish reason (or
    usage, or the response) arrives, is complete: its last sentence is released right before
    that chunk, whatever ``min_sentence_length`` says, and text after a tool call is split
    afresh. Pass a configured ``segmenter`` for another language, other marks or another
    minimum length.

    ``feed_block`` gives the segmenter each run of consecutive deltas as one text, which is
    what makes sentence mode cost per read rather than per delta.
    """

    __slots__ = ("_segmenter",)

    def __init__(self, segmenter: SentenceSegmenter | None = None) -> None:
        super().__init__()
        self._segmenter = segmenter or SentenceSegmenter()

    @guarded
    def feed(self, chunk: ChatCompletionChunk, /) -> Sequence[ChatCompletionChunk]:
        if type(chunk) is AssistantMessageDeltaChunk:
            return [AssistantMessageSentenceChunk(s) for s in self._segmenter.feed(chunk.content)]
        if isinstance(chunk, _END_OF_TEXT):
            return [*self.flush(), chunk]
        return (chunk,)

    @guarded
    def feed_block(self, chunks: Sequence[ChatCompletionChunk], /) -> list[ChatCompletionChunk]:
        out: list[ChatCompletionChunk] = []
        run: list[str] = []  # the contents of consecutive deltas not yet segmented
        segment = self._segmenter.feed
        for chunk in chunks:
            if type(chunk) is AssistantMessageDeltaChunk:
                run.append(chunk.content)
                continue
            if run:
                out.extend(map(AssistantMessageSentenceChunk, segment("".join(run))))
                run.clear()
            if isinstance(chunk, _END_OF_TEXT):
                out.extend(self.flush())
            out.append(chunk)
        if run:
            out.extend(map(AssistantMessageSentenceChunk, segment("".join(run))))
        return out

    @guarded
    def flush(self) -> list[ChatCompletionChunk]:
        return [AssistantMessageSentenceChunk(s) for s in self._segmenter.flush()]


class CleanStage(Poisonable):
    """``content_sentence`` chunks in, speakable ones out (markdown removed); others pass.

    A sentence that cleans to nothing (a dropped code block, say) is not emitted. Pass a
    configured ``cleaner`` to read code blocks, drop tables, keep SSML tags or remove emoji.
    """

    __slots__ = ("_cleaner",)

    def __init__(self, cleaner: MarkdownCleaner | None = None) -> None:
        super().__init__()
        self._cleaner = cleaner or MarkdownCleaner()

    @guarded
    def feed(self, chunk: ChatCompletionChunk, /) -> Sequence[ChatCompletionChunk]:
        if type(chunk) is not AssistantMessageSentenceChunk:
            return (chunk,)
        text = self._cleaner.clean_segment(chunk.sentence).strip()
        return (AssistantMessageSentenceChunk(text),) if text else ()

    @guarded
    def feed_block(self, chunks: Sequence[ChatCompletionChunk], /) -> list[ChatCompletionChunk]:
        out: list[ChatCompletionChunk] = []
        clean = self._cleaner.clean_segment
        for chunk in chunks:
            if type(chunk) is not AssistantMessageSentenceChunk:
                out.append(chunk)
                continue
            text = clean(chunk.sentence).strip()
            if text:
                out.append(AssistantMessageSentenceChunk(text))
        return out

    def flush(self) -> Sequence[ChatCompletionChunk]:
        return ()


def voice_stages(
    options: StreamOptions,
) -> list[StageCore[ChatCompletionChunk, ChatCompletionChunk]]:
    """The built-in chunk stages ``options`` asks for (none unless ``stream_sentences``)."""
    if not options.stream_sentences:
        return []
    segmenter = SentenceSegmenter(
        language=options.punctuation_language,
        punctuation_marks=options.punctuation_marks,
        min_sentence_length=options.min_sentence_length,
    )
    stages: list[StageCore[ChatCompletionChunk, ChatCompletionChunk]] = [SentenceStage(segmenter)]
    if options.clean_sentences:
        stages.append(CleanStage())
    return stages
