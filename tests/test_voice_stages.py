"""The built-in voice stages as chunk cores: order, options, and what passes through."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

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
    aclose_http_clients,
    fuse,
    generate_chat_completion_stream,
)
from pipeline._chunks import voice_stages
from pipeline.testing import LocalProviderServer, Synthetic, open_local_server
from stages import MarkdownCleaner, SentenceSegmenter


def run(stages: list[object], chunks: list[ChatCompletionChunk]) -> list[object]:
    core = fuse(*stages)  # type: ignore[arg-type]
    out = [item for chunk in chunks for item in core.feed(chunk)]
    return out + list(core.flush())


def deltas(text: str) -> list[ChatCompletionChunk]:
    return [AssistantMessageDeltaChunk(word + " ") for word in text.split(" ")]


def sentences(out: list[object]) -> list[str]:
    return [c.sentence for c in out if isinstance(c, AssistantMessageSentenceChunk)]


WEATHER = ToolCall("c1", "function", FunctionCall({"city": "Paris"}, "get_weather"))


def kinds(out: list[object]) -> list[str]:
    return [type(c).__name__.removeprefix("AssistantMessage") for c in out]


def test_the_words_before_a_tool_call_are_spoken_before_it() -> None:
    out = run(
        [SentenceStage(), CleanStage()],
        [
            *deltas("**Sure** thing. Let me _check_ the weather for you"),
            ToolCallChunk(WEATHER),
            FinishReasonChunk("tool_calls"),
        ],
    )
    assert kinds(out) == ["SentenceChunk", "SentenceChunk", "ToolCallChunk", "FinishReasonChunk"]
    assert sentences(out) == ["Sure thing.", "Let me check the weather for you"]


def test_a_sentence_held_back_as_too_short_is_spoken_before_the_tool_call() -> None:
    # min_sentence_length joins a short sentence to the next one, but no next one may come
    # before the tool runs: it is released as it is.
    stage = SentenceStage(SentenceSegmenter(min_sentence_length=60))
    out = run([stage], [*deltas("One moment."), ToolCallChunk(WEATHER), *deltas("Sunny. Enjoy!")])
    assert kinds(out) == ["SentenceChunk", "ToolCallChunk", "SentenceChunk"]
    assert sentences(out) == ["One moment.", "Sunny. Enjoy!"]


def test_text_between_and_after_tool_calls_keeps_its_place() -> None:
    other = ToolCall("c2", "function", FunctionCall({}, "get_time"))
    out = run(
        [SentenceStage(), CleanStage()],
        [
            *deltas("Checking both."),
            ToolCallChunk(WEATHER),
            ToolCallChunk(other),  # no text between: no empty sentence
            *deltas("Here is what I found"),
            FinishReasonChunk("stop"),
        ],
    )
    assert kinds(out) == [
        "SentenceChunk",
        "ToolCallChunk",
        "ToolCallChunk",
        "SentenceChunk",
        "FinishReasonChunk",
    ]
    assert sentences(out) == ["Checking both.", "Here is what I found"]


def test_the_segmenter_starts_afresh_after_a_tool_call() -> None:
    # What follows a tool call is split as if the stream began there: an unclosed quote or
    # code span before the call does not swallow the sentences after it.
    before = 'He said "wait and `run'
    after = "It is sunny. Take a hat. Bye now."
    split = run([SentenceStage()], [*deltas(before), ToolCallChunk(WEATHER), *deltas(after)])
    alone = run([SentenceStage()], deltas(after))
    assert sentences(split)[1:] == sentences(alone) == ["It is sunny.", "Take a hat.", "Bye now."]


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


# ---------------------------------------------------------------- end to end, over a socket

SPOKEN = "Sure thing. Let me check the weather for you"


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
@pytest.mark.parametrize("min_sentence_length", [0, 6, 200])
async def test_over_a_socket_the_words_before_a_tool_call_come_before_it(
    server: LocalProviderServer, provider: str, min_sentence_length: int
) -> None:
    url = server.base_url(Synthetic(deltas=9, text=SPOKEN, tool_calls=1), provider=provider)
    request = {
        "provider": provider,
        "api_key": "sk-voice-stages-0123456789",
        "model": "m",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "provider_kwargs": {provider: {"base_url": url}},
    }
    options = {"stream_sentences": True, "min_sentence_length": min_sentence_length}
    stream = await generate_chat_completion_stream(request, options)
    async with stream:
        chunks = [chunk async for chunk in stream]
    spoken = [c.type for c in chunks if c.type in ("content_sentence", "tool_call")]
    said = [c.sentence for c in chunks if isinstance(c, AssistantMessageSentenceChunk)]
    if min_sentence_length > len(SPOKEN):
        assert spoken == ["content_sentence", "tool_call"]
        assert said == [SPOKEN]
    else:
        assert spoken == ["content_sentence", "content_sentence", "tool_call"]
        assert said == ["Sure thing.", "Let me check the weather for you"]
    tool_calls = [c for c in chunks if isinstance(c, ToolCallChunk)]
    assert [c.tool_call.function.name for c in tool_calls] == ["get_weather"]
    assert chunks[-1].type == "response"


@pytest.mark.anyio
async def test_over_a_socket_the_last_words_come_before_the_finish_reason(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Synthetic(deltas=9, text=SPOKEN))
    request = {
        "provider": "openai",
        "api_key": "sk-voice-stages-0123456789",
        "model": "m",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "provider_kwargs": {"openai": {"base_url": url}},
    }
    stream = await generate_chat_completion_stream(request, {"stream_sentences": True})
    async with stream:
        chunks = [chunk async for chunk in stream]
    assert [c.type for c in chunks][:3] == ["content_sentence", "content_sentence", "finish_reason"]
    assert [c.sentence for c in chunks if isinstance(c, AssistantMessageSentenceChunk)] == [
        "Sure thing.",
        "Let me check the weather for you",
    ]
