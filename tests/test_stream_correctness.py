"""Stream correctness under faults, over real sockets on trio and asyncio.

The end is the provider's terminal event, not the end of the body; valid deltas before a bad
event are never lost; a 200 that is not an event stream is named for what it is; a missing
finish reason means the same streaming or not; error bodies are read with a bound; a broken
compressed body leaves nothing open.
"""

from __future__ import annotations

import gc
import gzip
import itertools
import json
from typing import Any

import anyio
import anyio.abc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import (
    AssistantMessageDeltaChunk,
    FinalResponseChunk,
    ProtocolError,
    ProviderError,
    ProviderStatusError,
    aclose_http_clients,
    generate_chat_completion,
    generate_chat_completion_stream,
)
from pipeline._attempt import ProgressWatch, stream_chain
from pipeline._core import FusedCore
from pipeline._events import TextDelta
from providers import codec_for
from stages.aggregator import ResponseAggregator

from ._raw_server import Seen, chunked, raw_server, read_request
from ._streams import collect, text_of
from ._waiting import SAFETY_NET

pytestmark = pytest.mark.anyio

KEY = "sk-correctness-test-key-0123456789"


def request(base_url: str, provider: str = "openai", **extra: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "api_key": KEY,
        "model": "gpt-4o" if provider == "openai" else "model-x",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {provider: {"base_url": base_url}},
        **extra,
    }


def openai_event(**delta: Any) -> bytes:
    finish = delta.pop("finish_reason", None)
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def answer_then_hold(head: bytes, body: bytes) -> Any:
    """Send ``head`` and ``body``, then keep the connection open without ending the body."""

    async def handler(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        await read_request(stream, seen)
        await stream.send(head + body)
        await anyio.sleep_forever()

    return handler


def answer(raw: bytes) -> Any:
    async def handler(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        await read_request(stream, seen)
        await stream.send(raw)

    return handler


# ---------------------------------------------------------------- 1. the terminal event

OPENAI_DONE = (
    openai_event(role="assistant", content="Hi")
    + openai_event(content=" there")
    + openai_event(finish_reason="stop")
    + b"data: [DONE]\n\n"
)
ANTHROPIC_STOP = b"".join(
    b"event: " + kind.encode() + b"\ndata: " + json.dumps(payload).encode() + b"\n\n"
    for kind, payload in [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "model": "m",
                           "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hi there"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    ]
)  # fmt: skip
GEMINI_FINISHED = b"".join(
    b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"
    for chunk in [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "index": 0}]},
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": " there"}]},
                 "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
        },
    ]
)  # fmt: skip
# After each terminal event: a delta the library must not append.
AFTER = {
    "openai": openai_event(content=" LEAKED"),
    "anthropic": b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":" LEAKED"}}\n\n',
    "google": b'data: {"candidates":[{"content":{"parts":[{"text":" LEAKED"}]}}]}\r\n\r\n',
}
TERMINATED = {"openai": OPENAI_DONE, "anthropic": ANTHROPIC_STOP, "google": GEMINI_FINISHED}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
@pytest.mark.parametrize("request_timeout", [None, 30.0])
async def test_the_terminal_event_ends_the_stream_though_the_body_stays_open(
    provider: str, request_timeout: float | None
) -> None:
    body = chunked(TERMINATED[provider] + AFTER[provider])
    async with raw_server(answer_then_hold(SSE_HEAD, body)) as (url, seen):
        base = url if provider == "openai" else url.removesuffix("/v1")
        with anyio.fail_after(SAFETY_NET):
            chunks = await collect(request(base, provider, timeout=request_timeout))
        assert text_of(chunks) == "Hi there"
        last = chunks[-1]
        assert isinstance(last, FinalResponseChunk)
        assert last.response.message.content == "Hi there"
        assert last.response.finish_reason == "stop"
        assert [c.type for c in chunks][-2:] in (
            ["usage", "response"],
            ["finish_reason", "response"],
        )
        assert seen.requests == 1


# ---------------------------------------------------------------- 2. nothing valid is lost


async def test_deltas_before_a_broken_event_in_the_same_read_are_kept() -> None:
    deltas = openai_event(role="assistant", content="a") + openai_event(content="b")
    deltas += openai_event(content="c")
    body = chunked(deltas + b'data: {"choices": [{"delta": {"content": "br\n\n')
    async with raw_server(answer_then_hold(SSE_HEAD, body)) as (url, seen):
        received: list[str] = []
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProtocolError) as info:
            async with await generate_chat_completion_stream(request(url)) as stream:
                async for chunk in stream:
                    if isinstance(chunk, AssistantMessageDeltaChunk):
                        received.append(chunk.content)
        assert received == ["a", "b", "c"]
        assert info.value.offset is not None
        partial = info.value.partial_response
        assert partial is not None
        assert partial.message.content == "abc"
        assert seen.requests == 1  # committed: never retried


_BROKEN = openai_event(role="assistant", content="a") + openai_event(content="b")
_BROKEN += openai_event(content="c") + b'data: {"choices": [{"delta": {"content": "br\n\n'


@settings(max_examples=150, deadline=None)
@given(cuts=st.lists(st.integers(0, len(_BROKEN)), max_size=8))
def test_any_split_of_valid_deltas_and_a_broken_event_keeps_the_deltas(cuts: list[int]) -> None:
    codec = codec_for("openai")
    core = FusedCore(stream_chain(codec, ProgressWatch(), ResponseAggregator()))
    bounds = [0, *sorted(cuts), len(_BROKEN)]
    texts: list[str] = []
    failure: Exception | None = None
    for start, end in itertools.pairwise(bounds):
        outputs, failure = core.feed_partial(_BROKEN[start:end])
        texts += [c.content for c in outputs if isinstance(c, AssistantMessageDeltaChunk)]
        if failure is not None:
            break
    else:
        outputs, failure = core.flush_partial()
    assert texts == ["a", "b", "c"]
    assert isinstance(failure, ProtocolError)


def test_a_failing_core_hands_on_what_it_made_before() -> None:
    class FailsOnSecond:
        def __init__(self) -> None:
            self.seen = 0

        def feed(self, item: int, /) -> list[int]:
            self.seen += 1
            if self.seen == 2:
                raise ValueError("second")
            return [item * 10]

        def flush(self) -> list[int]:
            return []

    class Split:
        def feed(self, item: int, /) -> list[int]:
            return [item, item + 1, item + 2]

        def flush(self) -> list[int]:
            return []

    class Record:
        def __init__(self) -> None:
            self.got: list[int] = []

        def feed(self, item: int, /) -> list[int]:
            self.got.append(item)
            return [item]

        def flush(self) -> list[int]:
            return []

    record = Record()
    outputs, error = FusedCore([Split(), FailsOnSecond(), record]).feed_partial(1)
    assert outputs == [10]
    assert record.got == [10]  # the core after the failure saw the output before it
    assert isinstance(error, ValueError)
    assert FusedCore([Split()]).feed_partial(1) == ([1, 2, 3], None)


def test_the_first_error_in_stream_order_is_the_one_reported() -> None:
    # The first core fails on the third item; the second core already fails on the first:
    # that earlier failure is what a chain fed one item at a time would have met first.
    class FailsOnThird:
        def __init__(self) -> None:
            self.seen = 0

        def feed(self, item: int, /) -> list[int]:
            self.seen += 1
            if self.seen == 3:
                raise ValueError("third, upstream")
            return [item]

        def flush(self) -> list[int]:
            return []

    class FailsOnFirst:
        def feed(self, item: int, /) -> list[int]:
            raise KeyError("first, downstream")

        def flush(self) -> list[int]:
            return []

    class Many:
        def feed(self, item: int, /) -> list[int]:
            return [1, 2, 3]

        def flush(self) -> list[int]:
            return []

    outputs, error = FusedCore([Many(), FailsOnThird(), FailsOnFirst()]).feed_partial(0)
    assert outputs == []
    assert isinstance(error, KeyError)


async def test_events_before_a_bad_line_in_the_same_read_are_kept() -> None:
    # The SSE framing itself fails (a line that is not UTF-8) after three good events.
    deltas = openai_event(role="assistant", content="a") + openai_event(content="b")
    deltas += openai_event(content="c")
    bad = b'data: {"choices": [{"delta": {"content": "\xff"}}]}\n\n'
    body = chunked(deltas + bad)
    async with raw_server(answer_then_hold(SSE_HEAD, body)) as (url, seen):
        received: list[str] = []
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProtocolError) as info:
            async with await generate_chat_completion_stream(request(url)) as stream:
                async for chunk in stream:
                    if isinstance(chunk, AssistantMessageDeltaChunk):
                        received.append(chunk.content)
        assert received == ["a", "b", "c"]
        assert info.value.offset == len(deltas) + bad.index(b"\xff")  # the byte named
        partial = info.value.partial_response
        assert partial is not None
        assert partial.message.content == "abc"
        assert seen.requests == 1


# ---------------------------------------------------------------- 3. not an event stream


def http_200(content_type: str | None, body: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\n"
    if content_type is not None:
        head += b"content-type: " + content_type.encode() + b"\r\n"
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


async def test_a_200_html_page_is_a_protocol_error_naming_it_not_a_retry() -> None:
    page = b"<html><body>Bad gateway (proxy)</body></html>"
    async with raw_server(answer(http_200("text/html", page))) as (url, seen):
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProtocolError) as info:
            await collect(request(url))
    assert "text/html" in str(info.value)
    assert "Bad gateway" in str(info.value)
    assert not info.value.retryable
    assert seen.requests == 1


async def test_a_200_json_error_object_is_the_providers_typed_error() -> None:
    error = {"error": {"message": "You exceeded your quota", "type": "insufficient_quota",
                       "code": "insufficient_quota"}}  # fmt: skip
    raw = http_200("application/json", json.dumps(error).encode())
    async with raw_server(answer(raw)) as (url, _):
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProviderStatusError) as info:
            await collect(request(url, retry={"enabled": False}))
    assert info.value.provider_message == "You exceeded your quota"
    assert info.value.error_code == "insufficient_quota"


async def test_an_empty_200_without_a_content_type_is_a_protocol_error() -> None:
    async with raw_server(answer(http_200(None, b""))) as (url, _):
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProtocolError, match="none"):
            await collect(request(url, retry={"enabled": False}))


# ---------------------------------------------------------------- 4. one rule for the finish


async def test_a_missing_finish_reason_is_the_same_error_streaming_or_not() -> None:
    whole = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                     "finish_reason": None}],
    }  # fmt: skip
    streamed = chunked(openai_event(role="assistant", content="Hi") + b"data: [DONE]\n\n")
    errors: list[ProviderError] = []
    async with raw_server(answer(http_200("application/json", json.dumps(whole).encode()))) as (
        url,
        _,
    ):
        with pytest.raises(ProtocolError) as info:
            await generate_chat_completion(request(url, retry={"enabled": False}))
        errors.append(info.value)
    async with raw_server(answer(SSE_HEAD + streamed + b"0\r\n\r\n")) as (url, _):
        with pytest.raises(ProtocolError) as info:
            await collect(request(url, retry={"enabled": False}))
        errors.append(info.value)
    for error in errors:
        assert error.retryable
        assert error.partial_response is not None
        assert error.partial_response.message.content == "Hi"
        assert error.partial_response.finish_reason == "incomplete"


# ---------------------------------------------------------------- 6. bounded error bodies


async def test_a_huge_error_body_is_read_only_as_far_as_the_message_needs() -> None:
    total = 60 * 1024 * 1024
    sent = [0]

    async def huge_error(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        await read_request(stream, seen)
        piece = b'{"error": {"message": "overloaded", "padding": "' + b"x" * 65536
        head = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        await stream.send(head + b"content-length: %d\r\n\r\n" % total)
        try:
            while sent[0] < total:
                await stream.send(piece)
                sent[0] += len(piece)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return  # the client closed the connection: it stopped reading

    async with raw_server(huge_error) as (url, seen):
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProviderStatusError) as info:
            await collect(request(url, retry={"enabled": False}))
        await seen.wait_until(lambda: seen.requests == 1)
    assert info.value.status_code == 503
    assert sent[0] < total // 4  # the client hung up long before the end


# ---------------------------------------------------------------- 8. broken compressed bodies


@pytest.mark.parametrize("provider", ["openai"])
async def test_a_gzip_stream_is_decoded_and_a_broken_one_leaves_nothing_open(
    provider: str,
) -> None:
    head = SSE_HEAD.replace(b"\r\n\r\n", b"\r\ncontent-encoding: gzip\r\n\r\n")
    good = chunked(gzip.compress(OPENAI_DONE)) + b"0\r\n\r\n"
    async with raw_server(answer(head + good)) as (url, _):
        with anyio.fail_after(SAFETY_NET):
            chunks = await collect(request(url))
    assert text_of(chunks) == "Hi there"
    broken = chunked(b"\x1f\x8b\x08\x00garbage that is not deflate data") + b"0\r\n\r\n"
    for _ in range(3):
        async with raw_server(answer(head + broken)) as (url, _):
            with anyio.fail_after(SAFETY_NET), pytest.raises(ProtocolError) as info:
                await collect(request(url, retry={"enabled": False}))
        assert "gzip" in str(info.value)
        assert info.value.offset == 0
    gc.collect()  # an abandoned body generator would warn here (warnings are errors)
    await aclose_http_clients()


async def test_an_unsupported_content_encoding_is_refused_by_name() -> None:
    head = SSE_HEAD.replace(b"\r\n\r\n", b"\r\ncontent-encoding: br\r\n\r\n")
    async with raw_server(answer(head + chunked(b"\x00\x01") + b"0\r\n\r\n")) as (url, _):
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProtocolError, match="'br'"):
            await collect(request(url, retry={"enabled": False}))


def test_text_deltas_are_what_the_hypothesis_split_counts() -> None:
    # Guards the split test above against counting nothing: the chain does yield deltas.
    codec = codec_for("openai")
    aggregator = ResponseAggregator()
    core = FusedCore(stream_chain(codec, ProgressWatch(), aggregator))
    outputs, failure = core.feed_partial(OPENAI_DONE)
    assert failure is None
    assert "".join(c.content for c in outputs if isinstance(c, AssistantMessageDeltaChunk)) == (
        "Hi there"
    )
    assert not any(isinstance(c, TextDelta) for c in outputs)  # public chunks only
