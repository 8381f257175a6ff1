"""The built-in voice stages as chunk cores: order, options, and what passes through."""

from __future__ import annotations

from pipeline import (
    AssistantMessageDeltaChunk,
    AssistantMessageSentenceChunk,
    ChatCompletionChunk,
    CleanStage,
    FinishReasonChunk,
    FunctionCall,
    SentenceStage,
    StreamOptions,
    ToolCall,
    ToolCallChunk,
    fuse,
)
from pipeline._chunks import voice_stages
from stages import MarkdownCleaner, SentenceSegmenter


def run(stages: list[object], chunks: list[ChatCompletionChunk]) -> list[object]:
    core = fuse(*stages)  # type: ignore[arg-type]
    out = [item for chunk in chunks for item in core.feed(chunk)]
    return out + list(core.flush())


def deltas(text: str) -> list[ChatCompletionChunk]:
    return [AssistantMessageDeltaChunk(word + " ") for word in text.split(" ")]


def sentences(out: list[object]) -> list[str]:
    return [c.sentence for c in out if isinstance(c, AssistantMessageSentenceChunk)]


def test_the_last_sentence_comes_right_before_the_finish_reason() -> None:
    call = ToolCall("c1", "function", FunctionCall({}, "f"))
    out = run(
        [SentenceStage(), CleanStage()],
        [*deltas("**Hello** there. Let me check"), ToolCallChunk(call), FinishReasonChunk("stop")],
    )
    kinds = [type(c).__name__ for c in out]
    assert kinds == [
        "AssistantMessageSentenceChunk",
        "ToolCallChunk",
        "AssistantMessageSentenceChunk",
        "FinishReasonChunk",
    ]
    assert sentences(out) == ["Hello there.", "Let me check"]


def test_a_configured_segmenter_is_used() -> None:
    text = "Wir treffen uns am 3. Oktober in Berlin. Bis dann!"
    end = FinishReasonChunk("stop")
    german = SentenceStage(SentenceSegmenter(language="de", min_sentence_length=0))
    assert sentences(run([german], [*deltas(text), end])) == [
        "Wir treffen uns am 3. Oktober in Berlin.",
        "Bis dann!",
    ]
    merging = SentenceStage(SentenceSegmenter(language="de", min_sentence_length=60))
    assert sentences(run([merging], [*deltas(text), end])) == [text]


def test_a_configured_cleaner_is_used_and_empty_sentences_are_dropped() -> None:
    chunks: list[ChatCompletionChunk] = [
        AssistantMessageSentenceChunk("Run `ls` now. 😀"),
        AssistantMessageSentenceChunk("<br/>"),
    ]
    assert sentences(run([CleanStage()], chunks)) == ["Run ls now. 😀"]
    emoji_free = CleanStage(MarkdownCleaner(remove_emoji=True))
    assert sentences(run([emoji_free], chunks)) == ["Run ls now."]


def test_stream_options_choose_the_stages() -> None:
    assert voice_stages(StreamOptions()) == []
    chosen = voice_stages(StreamOptions(stream_sentences=True))
    assert [type(s).__name__ for s in chosen] == ["SentenceStage", "CleanStage"]
    raw = voice_stages(StreamOptions(stream_sentences=True, clean_sentences=False))
    assert [type(s).__name__ for s in raw] == ["SentenceStage"]
