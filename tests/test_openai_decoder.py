"""The OpenAI stream decoder on every recorded stream: whole, byte by byte, random splits."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import ChatCompletionResponse, ProtocolError, ServerError
from pipeline._core import FusedCore
from pipeline._events import ResponseReady
from providers.alibaba import alibaba_codec
from providers.openai import OpenAICodec
from stages.aggregator import ResponseAggregator
from stages.sse import SSEDecoder
from stages.tool_calls import ToolCallAssembler

from ._expected import assert_matches, fixtures_of, openai_wire
from .conftest import FIXTURES

OPENAI = fixtures_of("openai")
DASHSCOPE = fixtures_of("dashscope")


def decode(pieces: Iterable[bytes], *, dashscope: bool = False) -> ChatCompletionResponse:
    codec = alibaba_codec() if dashscope else OpenAICodec()
    core = FusedCore(
        [
            SSEDecoder(provider="openai"),
            codec.stream_decoder(),
            ToolCallAssembler(),
            ResponseAggregator(provider=codec.provider),
        ]
    )
    events = [event for piece in pieces for event in core.feed(piece)]
    events += core.flush()
    assert isinstance(events[-1], ResponseReady)
    return events[-1].response


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@pytest.mark.parametrize("directory", ["openai", "dashscope"])
def test_every_recorded_stream_is_covered(directory: str) -> None:
    streams = {
        f"{directory}/{path.name}"
        for path in (FIXTURES / directory).iterdir()
        if path.name.endswith((".sse", ".chunks.txt"))
    }
    assert streams
    assert set(fixtures_of(directory)) == streams


@pytest.mark.parametrize("name", OPENAI + DASHSCOPE)
def test_whole_body(name: str) -> None:
    assert_matches(decode([openai_wire(name)], dashscope=name in DASHSCOPE), name)


@pytest.mark.parametrize("name", OPENAI + DASHSCOPE)
def test_one_byte_at_a_time(name: str) -> None:
    data = openai_wire(name)
    whole = decode([data], dashscope=name in DASHSCOPE)
    bytewise = decode((data[i : i + 1] for i in range(len(data))), dashscope=name in DASHSCOPE)
    assert bytewise == whole


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(OPENAI + DASHSCOPE), cuts=st.lists(st.integers(0, 10**6), max_size=40))
def test_random_splits(name: str, cuts: list[int]) -> None:
    data = openai_wire(name)
    dashscope = name in DASHSCOPE
    assert decode(split_at(data, cuts), dashscope=dashscope) == decode([data], dashscope=dashscope)


def test_crlf_and_cr_line_ends_decode_the_same() -> None:
    data = openai_wire("openai/oai-py__tool_parallel_2.sse")
    whole = decode([data])
    assert decode([data.replace(b"\n", b"\r\n")]) == whole
    assert decode([data.replace(b"\n", b"\r")]) == whole


def test_malformed_json_names_the_byte_offset() -> None:
    good = b'data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    bad = b"data: {not json\n\n"
    with pytest.raises(ProtocolError) as info:
        decode([good + bad])
    assert info.value.offset == len(good)
    assert f"at byte {len(good)}" in str(info.value)


def test_stream_cut_before_finish_is_a_protocol_error() -> None:
    body = b'data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    with pytest.raises(ProtocolError, match="before the provider sent a finish_reason"):
        decode([body])


def test_mid_stream_error_object_raises_the_providers_message() -> None:
    body = (
        b'data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        b'data: {"error":{"message":"The server had an error","type":"server_error"}}\n\n'
    )
    with pytest.raises(ServerError) as info:
        decode([body])
    assert info.value.provider_message == "The server had an error"
    assert info.value.retryable


def test_usage_is_normalized() -> None:
    response = decode([openai_wire("openai/oai-py__tool_parallel_2.sse")])
    assert response.token_usage is not None
    assert response.token_usage.input_tokens == 149
    assert response.token_usage.output_tokens == 60
    assert response.token_usage.reasoning_tokens == 0
    assert response.token_usage.total_tokens == 209


def test_choices_without_index_zero_first_and_azure_empty_choices() -> None:
    body = (
        b'data: {"id":"a","model":"m","choices":[],"prompt_filter_results":[]}\n\n'
        b'data: {"id":"a","model":"m","choices":[{"index":0,"delta":{"content":"ok"},'
        b'"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    response = decode([body])
    assert response.message.content == "ok"
    assert response.finish_reason == "stop"


def _chunk(delta: str, finish: str | None = None) -> bytes:
    reason = f'"{finish}"' if finish else "null"
    return (
        f'data: {{"id":"c","model":"m","choices":[{{"index":0,"delta":{delta},'
        f'"finish_reason":{reason}}}]}}\n\n'
    ).encode()


def test_a_new_id_at_a_reused_index_is_a_new_call() -> None:
    body = b"".join(
        [
            _chunk('{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":""}}]}'),
            _chunk('{"tool_calls":[{"index":0,"function":{"arguments":"{\\"x\\":1}"}}]}'),
            _chunk(
                '{"tool_calls":[{"index":0,"id":"b","function":{"name":"g","arguments":"{}"}}]}'
            ),
            _chunk('{"tool_calls":[{"index":0,"id":"","function":{"arguments":""}}]}'),
            _chunk("{}", "tool_calls"),
        ]
    )
    calls = decode([body]).message.tool_calls
    assert calls is not None
    assert [(c.index, c.id, c.function.name, c.function.arguments) for c in calls] == [
        (0, "a", "f", {"x": 1}),
        (1, "b", "g", {}),
    ]


def test_cached_and_reasoning_tokens_are_normalized() -> None:
    usage = (
        b'data: {"id":"c","model":"o3","choices":[],"usage":{"prompt_tokens":100,'
        b'"completion_tokens":40,"total_tokens":140,"prompt_tokens_details":{"cached_tokens":64},'
        b'"completion_tokens_details":{"reasoning_tokens":32}}}\n\n'
    )
    response = decode([_chunk('{"content":"ok"}', "stop") + usage])
    assert response.token_usage is not None
    assert response.token_usage.input_tokens == 100
    assert response.token_usage.cache_read_tokens == 64
    assert response.token_usage.reasoning_tokens == 32
    assert response.token_usage.output_tokens == 40
    assert response.usage is not None
    assert response.usage["prompt_tokens_details"] == {"cached_tokens": 64}
