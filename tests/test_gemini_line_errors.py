"""Gemini's mid-stream error sent as JSON line by line, outside any ``data:`` field.

google-genai gathers such lines until their braces balance and raises the error they hold; the
SSE standard alone would ignore them, and with them the error.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import ProtocolError, ServerError, generate_chat_completion_stream
from pipeline._errors import RateLimitError
from pipeline._events import SSEEvent
from providers import codec_for
from stages._raw_json import RawJsonLines
from stages.sse import SSEDecoder

from ._raw_server import Seen, chunked, raw_server, read_request
from ._waiting import SAFETY_NET

KEY = "gemini-line-error-test-key-0123456789"

TEXT = b"".join(
    b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"
    for chunk in [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "index": 0}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": " there"}]}}]},
    ]
)
ERROR = json.dumps(
    {
        "error": {
            "code": 503,
            "message": 'The model is overloaded {"really"}. Please try again later.',
            "status": "UNAVAILABLE",
        }
    },
    indent=2,
).encode()
BODY = TEXT + ERROR.replace(b"\n", b"\r\n") + b"\r\n"


def events(body: bytes, cuts: list[int], *, raw: bool = True) -> list[SSEEvent]:
    decoder = SSEDecoder(provider="google", raw_json_lines=raw)
    out: list[SSEEvent] = []
    bounds = [0, *sorted(set(cuts)), len(body)]
    for start, stop in itertools.pairwise(bounds):
        out += decoder.feed(body[start:stop])
    return out + decoder.flush()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, len(BODY) - 1), max_size=10))
def test_any_split_gives_the_data_events_then_the_whole_error(cuts: list[int]) -> None:
    out = events(BODY, cuts)
    assert len(out) == 3
    assert json.loads(out[2].data) == json.loads(ERROR)
    assert out[2].offset == len(TEXT)  # where its first line starts
    assert out[2].event is None


def test_without_the_option_the_lines_are_ignored_as_the_standard_says() -> None:
    assert len(events(BODY, [], raw=False)) == 2


def test_braces_in_strings_and_escaped_quotes_do_not_count() -> None:
    lines = RawJsonLines()
    assert lines.add('{"a": "}\\"{",') is None
    assert lines.add('  "b": {"c": "{"}') is None
    assert lines.add("}") == '{"a": "}\\"{",\n  "b": {"c": "{"}\n}'
    assert not lines.open


def test_a_value_cut_short_by_the_end_of_the_body_is_handed_on_for_the_decoder() -> None:
    out = events(TEXT + b'{\n  "error": {\n', [])
    assert out[-1].data == '{\n  "error": {'
    decoder = codec_for("google").stream_decoder()
    for event in out[:-1]:
        decoder.feed(event)
    with pytest.raises(ProtocolError) as info:
        decoder.feed(out[-1])
    assert info.value.offset == len(TEXT)


def test_json_sent_line_by_line_is_bounded() -> None:
    decoder = SSEDecoder(provider="google", raw_json_lines=True, max_line_bytes=64)
    with pytest.raises(ProtocolError, match="line by line longer than 64") as info:
        decoder.feed(b"{\n" + b'"k": "' + b"x" * 80 + b'",\n')
    assert info.value.offset == 0


def test_a_line_that_is_not_utf8_names_its_byte() -> None:
    decoder = SSEDecoder(provider="google", raw_json_lines=True)
    with pytest.raises(ProtocolError) as info:
        decoder.feed(b'{\n  "m": "\xff"\n')
    assert info.value.offset == 2 + 8


def test_an_array_wrapped_error_is_the_providers_error() -> None:
    decoder = codec_for("google").stream_decoder()
    wrapped = json.dumps([{"error": {"code": 429, "message": "quota", "status": "X"}}])
    with pytest.raises(RateLimitError, match="quota"):
        decoder.feed(SSEEvent(wrapped, None, None, 0))


def held(body: bytes) -> Any:
    async def handler(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        await read_request(stream, seen)
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        await stream.send(head + b"transfer-encoding: chunked\r\n\r\n" + body)
        await anyio.sleep_forever()

    return handler


@pytest.mark.anyio
@pytest.mark.parametrize("split", [False, True], ids=["one-read", "line-per-read"])
async def test_the_error_ends_the_stream_as_a_typed_error_with_the_text_so_far(
    split: bool,
) -> None:
    error_part = [ERROR.replace(b"\n", b"\r\n") + b"\r\n"]
    if split:
        error_part = [line + b"\r\n" for line in ERROR.split(b"\n")]
    body = chunked(TEXT, *error_part)
    async with raw_server(held(body)) as (url, seen):
        request = {
            "provider": "google",
            "api_key": KEY,
            "model": "gemini-x",
            "messages": [{"role": "user", "content": "Hello"}],
            "provider_kwargs": {"google": {"base_url": url.removesuffix("/v1")}},
        }
        received: list[str] = []
        with anyio.fail_after(SAFETY_NET), pytest.raises(ServerError) as info:
            async with await generate_chat_completion_stream(request) as stream:
                async for chunk in stream:
                    if chunk.type == "content_delta":
                        received.append(chunk.content)  # type: ignore[union-attr]
        assert received == ["Hi", " there"]
        assert info.value.provider_message == (
            'The model is overloaded {"really"}. Please try again later.'
        )
        assert info.value.error_type == "UNAVAILABLE"
        partial = info.value.partial_response
        assert partial is not None
        assert partial.message.content == "Hi there"
        assert seen.requests == 1  # committed: not retried
