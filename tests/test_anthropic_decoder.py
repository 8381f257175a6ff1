"""The Anthropic decoder core on every recording (whole, byte by byte, random splits), and on
what no recording has: unknown events, error events, repeated message_start, usage merging,
non-streaming bodies, and tool inputs cut by max_tokens."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

import jiter
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import (
    ChatCompletionResponse,
    ProtocolError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from pipeline._core import FusedCore
from pipeline._events import ResponseReady
from pipeline._types import CompletionsProvider
from providers._anthropic_partial import complete_prefix
from providers.anthropic import AnthropicCodec
from stages.aggregator import ResponseAggregator
from stages.sse import SSEDecoder
from stages.tool_calls import ToolCallAssembler

from ._expected import fixtures_of
from ._expected_anthropic import anthropic_wire, assert_matches_anthropic
from .conftest import FIXTURES

STREAMS = fixtures_of("anthropic")


def decode(pieces: Iterable[bytes], codec: AnthropicCodec | None = None) -> ChatCompletionResponse:
    core = FusedCore(
        [
            SSEDecoder(provider="anthropic"),
            (codec or AnthropicCodec()).stream_decoder(),
            ToolCallAssembler(provider="anthropic"),
            ResponseAggregator(provider=CompletionsProvider.ANTHROPIC),
        ]
    )
    events = [event for piece in pieces for event in core.feed(piece)]
    events += core.flush()
    assert isinstance(events[-1], ResponseReady)
    return events[-1].response


def decode_body(body: bytes) -> ChatCompletionResponse:
    core = FusedCore(
        [ToolCallAssembler(), ResponseAggregator(provider=CompletionsProvider.ANTHROPIC)]
    )
    events = [out for event in AnthropicCodec().decode_response(body) for out in core.feed(event)]
    events += core.flush()
    assert isinstance(events[-1], ResponseReady)
    return events[-1].response


def sse(*payloads: dict[str, Any]) -> bytes:
    return b"".join(
        b"event: " + p["type"].encode() + b"\ndata: " + json.dumps(p).encode() + b"\n\n"
        for p in payloads
    )


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def start(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    message = {"id": "msg_1", "model": "claude-x", "content": [], "usage": usage or {}}
    return {"type": "message_start", "message": message}


def stop(reason: str = "end_turn", usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": reason}, "usage": usage or {}}


def text_block(index: int, text: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "text", "text": ""},
        },
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": text},
        },
        {"type": "content_block_stop", "index": index},
    ]


def test_every_recorded_stream_is_covered() -> None:
    recorded = {
        f"anthropic/{path.name}"
        for path in (FIXTURES / "anthropic").iterdir()
        if path.name.endswith((".sse", ".chunks.txt"))
    }
    assert set(STREAMS) == recorded


@pytest.mark.parametrize("name", STREAMS)
def test_whole_and_byte_at_a_time(name: str) -> None:
    wire = anthropic_wire(name)
    whole = decode([wire])
    assert_matches_anthropic(whole, name)
    assert decode(wire[i : i + 1] for i in range(len(wire))) == whole


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(STREAMS), cuts=st.lists(st.integers(min_value=0), max_size=40))
def test_random_splits_give_the_same_response(name: str, cuts: list[int]) -> None:
    wire = anthropic_wire(name)
    assert decode(split_at(wire, cuts)) == decode([wire])


def test_usage_is_merged_field_by_field() -> None:
    first = {
        "input_tokens": 43,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 7,
        "cache_creation": {"ephemeral_5m_input_tokens": 5, "ephemeral_1h_input_tokens": 2},
        "output_tokens": 1,
    }
    later = {"input_tokens": 61, "output_tokens": 9, "cache_read_input_tokens": None}
    response = decode([sse(start(first), *text_block(0, "hi"), stop(usage=later))])
    assert response.usage == {**first, "input_tokens": 61, "output_tokens": 9}
    tokens = response.token_usage
    assert tokens is not None
    assert (tokens.input_tokens, tokens.output_tokens) == (61 + 100 + 7, 9)
    assert (tokens.cache_read_tokens, tokens.cache_write_tokens) == (100, 7)
    assert (tokens.cache_write_5m_tokens, tokens.cache_write_1h_tokens) == (5, 2)


def test_unknown_events_blocks_and_deltas_are_ignored() -> None:
    wire = sse(
        start(),
        {"type": "ping"},
        {"type": "brand_new_event", "payload": 1},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use"}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": "{"},
        },
        {"type": "content_block_stop", "index": 0},
        *text_block(1, "Hello"),
        {"type": "content_block_delta", "index": 1, "delta": {"type": "citations_delta"}},
        stop(),
        {"type": "message_stop"},
    )
    response = decode([wire])
    assert response.message.content == "Hello"
    assert response.message.tool_calls is None


def test_a_repeated_message_start_keeps_the_first_id() -> None:
    second = {**start(), "message": {**start()["message"], "id": "msg_2"}}
    response = decode([sse(start(), second, *text_block(0, "a"), stop())])
    assert response.response_id == "msg_1"


def test_tool_input_that_arrives_whole_and_empty_input() -> None:
    whole = {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}
    empty = {"type": "tool_use", "id": "t2", "name": "g", "input": {}}
    wire = sse(
        start(),
        {"type": "content_block_start", "index": 0, "content_block": whole},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": empty},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {"type": "content_block_stop", "index": 1},
        stop("tool_use"),
    )
    calls = decode([wire]).message.tool_calls or []
    assert [(c.index, c.id, c.function.arguments) for c in calls] == [
        (0, "t1", {"a": 1}),
        (1, "t2", {}),
    ]


@pytest.mark.parametrize(
    ("kind", "cls", "retryable"),
    [
        ("overloaded_error", ServerError, True),
        ("rate_limit_error", RateLimitError, True),
        ("api_error", ServerError, True),
        ("invalid_request_error", Exception, False),
    ],
)
def test_error_events_raise_typed_errors(kind: str, cls: type[Exception], retryable: bool) -> None:
    error = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    with pytest.raises(ProviderError) as info:
        decode([sse(start(), error)])
    assert isinstance(info.value, cls)
    assert info.value.retryable is retryable
    assert info.value.error_type == kind


def test_a_delta_for_a_block_that_never_started_names_its_offset() -> None:
    wire = sse(
        start(),
        {"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "x"}},
    )
    with pytest.raises(ProtocolError, match="block 3") as info:
        decode([wire])
    assert info.value.offset == len(sse(start()))


def test_a_stream_without_a_stop_reason_is_cut_short() -> None:
    with pytest.raises(ProtocolError, match="stop_reason") as info:
        decode([sse(start(), *text_block(0, "a"))])
    assert info.value.retryable


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause_turn"),
        ("model_context_window_exceeded", "length"),
    ],
)
def test_stop_reasons(raw: str, normalized: str) -> None:
    assert decode([sse(start(), *text_block(0, "a"), stop(raw))]).finish_reason == normalized


def test_non_streaming_body_decodes_the_same_blocks() -> None:
    body = {
        "id": "msg_9",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "Let me think.", "signature": "sig=="},
            {"type": "redacted_thinking", "data": "EmwKAh=="},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": [1, 2]}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "cache_read_input_tokens": 4, "output_tokens": 5},
    }
    response = decode_body(json.dumps(body).encode())
    assert response.message.content == "Calling."
    assert [(b.text, b.signature, b.redacted_data) for b in response.message.reasoning or []] == [
        ("Let me think.", "sig==", None),
        ("", None, "EmwKAh=="),
    ]
    assert response.message.tool_calls[0].function.arguments == {"x": [1, 2]}  # type: ignore[index]
    assert response.finish_reason == "tool_calls"
    assert response.token_usage.input_tokens == 7  # type: ignore[union-attr]


def test_a_200_body_that_is_an_error_raises_it() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(ServerError):
        AnthropicCodec().decode_response(json.dumps(body).encode())


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    value=st.dictionaries(st.text(max_size=5), _json_values, max_size=4),
    cut=st.integers(min_value=0),
)
def test_a_cut_tool_input_keeps_what_the_sdk_keeps(value: dict[str, Any], cut: int) -> None:
    text = json.dumps(value)
    prefix = text[: cut % (len(text) + 1)]
    expected = jiter.from_json(prefix.encode(), partial_mode=True) if prefix.strip() else {}
    assert complete_prefix(prefix) == expected
