"""Sentence mode takes one read's chunks together: that must never change a sentence.

The stream gives the sentence stage the chunks of one body read in one call, and the stage
segments the text of consecutive deltas as one string. These tests hold that to the chunk-by-
chunk path, which is the reference:

- over a real socket, on trio and asyncio: every recorded stream of every provider, sent as
  one write of the whole body and one byte per write, gives exactly the chunks that feeding
  its delta-mode chunks one at a time through the voice stages gives (sentences, and their
  order relative to tool calls, the finish reason, usage and the response), and the same
  chunks whole and byte by byte;
- sans-IO: any cut of a chunk sequence into blocks gives the output of feeding it chunk by
  chunk, on the gold texts with tool calls and finish chunks mixed in.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import (
    AssistantMessageDeltaChunk,
    AssistantMessageSentenceChunk,
    ChatCompletionChunk,
    FinalResponseChunk,
    FinishReasonChunk,
    FunctionCall,
    PipelineError,
    StreamOptions,
    ToolCall,
    ToolCallChunk,
    UsageChunk,
    aclose_http_clients,
    generate_chat_completion_stream,
)
from pipeline._chunks import SentenceStage, voice_stages
from pipeline._core import FusedCore
from pipeline.testing import (
    DEFAULT_SCENARIO,
    DEMO_TEXT,
    LocalProviderServer,
    Replay,
    Synthetic,
    open_local_server,
)

from ._expected import fixtures_of
from .conftest import FIXTURES, GOLD

PROVIDER_OF = {
    "openai": "openai",
    "dashscope": "alibaba",
    "anthropic": "anthropic",
    "gemini": "google",
}
STREAMS = [
    name
    for directory in PROVIDER_OF
    for name in fixtures_of(directory)
    if not name.endswith(".json")  # non-streaming bodies have no chunks to batch
]
WHOLE = 1 << 22
"""A burst larger than any fixture: the whole body in one write, read in as few reads as can be."""

SENTENCES = StreamOptions(stream_sentences=True)
OPTIONS = [
    SENTENCES,
    StreamOptions(stream_sentences=True, clean_sentences=False, min_sentence_length=0),
]


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()
        assert running.errors == []


def request(base_url: str, provider: str) -> dict[str, Any]:
    return {
        "provider": provider,
        "api_key": "sk-batching-test-key-0123456789",
        "model": "m",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {provider: {"base_url": base_url}},
    }


def comparable(chunks: Sequence[ChatCompletionChunk]) -> list[object]:
    """The chunks with the response reduced to its message (attempt timings differ per run)."""
    return [c.response.message if isinstance(c, FinalResponseChunk) else c for c in chunks]


async def read(url: str, provider: str, options: StreamOptions) -> tuple[list[object], str]:
    """Every chunk of one stream, and the name of the error that ended it ("" if none)."""
    chunks: list[ChatCompletionChunk] = []
    stream = await generate_chat_completion_stream(request(url, provider), options)
    try:
        async with stream:
            async for chunk in stream:
                chunks.append(chunk)
    except PipelineError as error:
        return comparable(chunks), type(error).__name__
    return comparable(chunks), ""


def chunk_by_chunk(chunks: Sequence[Any], options: StreamOptions) -> list[object]:
    """The reference: the voice stages fed one chunk at a time, then flushed."""
    stages = FusedCore(voice_stages(options))
    out: list[object] = []
    for chunk in chunks:
        out.extend(stages.feed(chunk))
    out.extend(stages.flush())
    return out


async def assert_batching_changes_nothing(
    server: LocalProviderServer, scenario: Replay | Synthetic, provider: str
) -> None:
    """Sentence mode, whole and byte by byte, against delta mode fed chunk by chunk."""
    outputs = []
    for burst, size in ((WHOLE, None), (None, _slice(scenario))):
        # The reference reads the same URL: synthetic tool-call ids derive from the scenario.
        delivery = dataclasses.replace(scenario, burst_bytes=burst, slice_bytes=size)
        url = server.base_url(delivery, provider=provider)
        deltas, error = await read(url, provider, StreamOptions())
        wanted = chunk_by_chunk(deltas, SENTENCES)
        got, got_error = await read(url, provider, SENTENCES)
        assert got_error == error
        if error:  # what came before the failure is a prefix of the reference
            got, wanted = got, wanted[: len(got)]
        assert got == wanted, delivery
        outputs.append(got)
    if isinstance(scenario, Replay):
        assert outputs[0] == outputs[1]


def _slice(scenario: Replay | Synthetic) -> int:
    # Tens of kilobytes one byte per write take seconds on two busy cores; a few bytes per
    # write still cut every delta's event apart and split UTF-8 sequences.
    if isinstance(scenario, Synthetic):
        return 5
    return 7 if (FIXTURES / scenario.fixture).stat().st_size > 16_000 else 1


pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("name", STREAMS)
async def test_every_recorded_stream_gives_the_chunk_by_chunk_sentences(
    server: LocalProviderServer, name: str
) -> None:
    provider = PROVIDER_OF[name.split("/", 1)[0]]
    await assert_batching_changes_nothing(server, Replay(fixture=name), provider)


@pytest.mark.parametrize("provider", sorted(set(PROVIDER_OF.values())))
async def test_markdown_text_then_tool_calls_keeps_its_order(
    server: LocalProviderServer, provider: str
) -> None:
    # Several paragraphs of markdown across many deltas, then two tool calls: the text before
    # the calls must be flushed before the first call whatever the reads look like.
    scenario = Synthetic(deltas=DEFAULT_SCENARIO.deltas, text=DEMO_TEXT, tool_calls=2)
    await assert_batching_changes_nothing(server, scenario, provider)


# ---------------------------------------------------------------- sans-IO: any blocks


def _gold_texts() -> list[str]:
    texts: list[str] = []
    for path in sorted(GOLD.glob("sbd_*.json")):
        texts.extend(record["text"] for record in json.loads(path.read_text(encoding="utf-8")))
    markdown = json.loads((GOLD / "markdown_livekit.json").read_text(encoding="utf-8"))
    texts.extend(case["input"] for case in markdown)
    return texts


GOLD_TEXTS = _gold_texts()
CALL = ToolCallChunk(ToolCall(id="call_1", type="function", function=FunctionCall({}, "f")))
ENDS: list[ChatCompletionChunk] = [
    FinishReasonChunk("stop"),
    UsageChunk({"total_tokens": 3}),
]


def _as_deltas(text: str, cuts: list[int]) -> list[ChatCompletionChunk]:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [AssistantMessageDeltaChunk(text[a:b]) for a, b in itertools.pairwise(points)]


@st.composite
def chunk_sequences(draw: st.DrawFn) -> list[ChatCompletionChunk]:
    """Deltas of one to three gold texts, tool calls between them, the end chunks last."""
    chunks: list[ChatCompletionChunk] = []
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(GOLD_TEXTS) | st.text(max_size=60))
        chunks.extend(_as_deltas(text, draw(st.lists(st.integers(0), max_size=20))))
        if draw(st.booleans()):
            chunks.append(CALL)
    return chunks + ENDS


@settings(max_examples=300, deadline=None)
@given(
    chunk_sequences(),
    st.lists(st.integers(0), max_size=8),
    st.sampled_from(OPTIONS),
)
def test_any_cut_into_blocks_gives_the_chunk_by_chunk_output(
    chunks: list[ChatCompletionChunk], cuts: list[int], options: StreamOptions
) -> None:
    wanted = chunk_by_chunk(chunks, options)
    points = sorted({0, len(chunks), *(c % (len(chunks) + 1) for c in cuts)})
    stages = FusedCore(voice_stages(options))
    got: list[object] = []
    for a, b in itertools.pairwise(points):
        got.extend(stages.feed_block(chunks[a:b]))
    got.extend(stages.flush())
    assert got == wanted


def test_text_before_a_tool_call_is_released_before_it_in_one_block() -> None:
    stage = SentenceStage()
    out = stage.feed_block(
        [
            AssistantMessageDeltaChunk("Let me check"),
            AssistantMessageDeltaChunk(" the weather"),
            CALL,
            AssistantMessageDeltaChunk("It is sunny. "),
            AssistantMessageDeltaChunk("Enjoy"),
            *ENDS,
        ]
    )
    assert out == [
        AssistantMessageSentenceChunk("Let me check the weather"),
        CALL,
        AssistantMessageSentenceChunk("It is sunny."),
        AssistantMessageSentenceChunk("Enjoy"),
        *ENDS,
    ]
