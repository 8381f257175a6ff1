"""The Gemini decoder on every recorded stream (whole, byte by byte, random splits) and on
the shapes no recording has: blocked prompts, candidates without parts, errors."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import ChatCompletionResponse, ProtocolError, RateLimitError, ServerError
from pipeline._core import FusedCore
from pipeline._events import ResponseReady
from pipeline._types import CompletionsProvider
from providers._google_wire import PartialArguments, signature_bytes, signature_text
from providers.google import GoogleCodec
from stages.aggregator import ResponseAggregator
from stages.sse import SSEDecoder
from stages.tool_calls import ToolCallAssembler

from ._expected_gemini import (
    assert_gemini_matches,
    gemini_fixtures,
    gemini_streams,
    gemini_wire,
    recorded_signatures,
)
from .conftest import FIXTURES

STREAMS = gemini_streams()


def decode(pieces: Iterable[bytes]) -> ChatCompletionResponse:
    core = FusedCore(
        [
            SSEDecoder(provider="google"),
            GoogleCodec().stream_decoder(),
            ToolCallAssembler(provider="google"),
            ResponseAggregator(provider=CompletionsProvider.GOOGLE),
        ]
    )
    events = [event for piece in pieces for event in core.feed(piece)]
    events += core.flush()
    assert isinstance(events[-1], ResponseReady)
    return events[-1].response


def decode_body(body: bytes) -> ChatCompletionResponse:
    core = FusedCore([ToolCallAssembler(), ResponseAggregator(provider=CompletionsProvider.GOOGLE)])
    events = [out for event in GoogleCodec().decode_response(body) for out in core.feed(event)]
    events += core.flush()
    assert isinstance(events[-1], ResponseReady)
    return events[-1].response


def sse(*payloads: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(p).encode() + b"\r\n\r\n" for p in payloads)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def test_every_recorded_stream_is_covered() -> None:
    recorded = {
        f"gemini/{path.name}"
        for path in (FIXTURES / "gemini").iterdir()
        if path.name.endswith((".sse", ".chunks.txt"))
    }
    assert set(STREAMS) == recorded


@pytest.mark.parametrize("name", STREAMS)
def test_whole_and_byte_at_a_time(name: str) -> None:
    wire = gemini_wire(name)
    whole = decode([wire])
    assert_gemini_matches(whole, name)
    assert decode(wire[i : i + 1] for i in range(len(wire))) == whole


@pytest.mark.parametrize("name", STREAMS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0), max_size=40))
def test_random_splits_give_the_same_result(name: str, cuts: list[int]) -> None:
    wire = gemini_wire(name)
    assert decode(split_at(wire, cuts)) == decode([wire])


def test_crlf_framing_is_what_the_raw_recording_uses() -> None:
    raw = (FIXTURES / "gemini/louter__fc_turn1.sse").read_bytes()
    assert b"\r\n\r\n" in raw
    assert_gemini_matches(decode([raw.replace(b"\r\n", b"\n")]), "gemini/louter__fc_turn1.sse")


def test_the_json_array_body_decodes_like_a_stream() -> None:
    name = "gemini/louter__count_alt_json_array.json"
    assert_gemini_matches(decode_body((FIXTURES / name).read_bytes()), name)


@pytest.mark.parametrize("name", [n for n in gemini_fixtures() if recorded_signatures(n)])
def test_every_recorded_signature_round_trips_exactly(name: str) -> None:
    for text in recorded_signatures(name):
        assert signature_text(signature_bytes(text)) == text


def test_non_canonical_base64_reads_as_the_bytes_protobuf_would() -> None:
    data = bytes(range(200, 256))
    canonical = base64.b64encode(data).decode()
    for variant in (base64.urlsafe_b64encode(data).decode(), canonical.rstrip("=")):
        assert signature_bytes(variant) == data
    with pytest.raises(ValueError, match="not base64"):
        signature_bytes("not base64 at all!")


def test_generated_ids_are_stable_across_replays() -> None:
    name = "gemini/vertex-gemini__stream-fc-args-noargs-parallel.chunks.txt"
    first = decode([gemini_wire(name)]).message.tool_calls or []
    again = decode([gemini_wire(name)]).message.tool_calls or []
    assert [c.id for c in first] == [c.id for c in again]
    assert first[0].id == "gemini_call__vr4aYiWEJnYodAPkujX0QM_0_0"


def test_a_blocked_prompt_is_a_content_filter_finish() -> None:
    body = sse(
        {
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
            "modelVersion": "gemini-2.5-flash",
        }
    )
    response = decode([body])
    assert response.finish_reason == "content_filter"
    assert response.message.content is None
    assert response.token_usage is not None
    assert response.token_usage.input_tokens == 7


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("MAX_TOKENS", "length"),
        ("MALFORMED_FUNCTION_CALL", "malformed_function_call"),
    ],
)
def test_a_candidate_without_parts_keeps_the_text_before_it(raw: str, normalized: str) -> None:
    text = {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}}]}
    # "When streaming, content is empty if content filters block the output".
    stopped = {"candidates": [{"finishReason": raw, "index": 0}]}
    response = decode([sse(text, stopped)])
    assert response.message.content == "Hel"
    assert response.finish_reason == normalized


def test_cached_and_tool_use_prompt_tokens_are_counted() -> None:
    usage = {
        "promptTokenCount": 100,
        "cachedContentTokenCount": 60,
        "toolUsePromptTokenCount": 5,
        "candidatesTokenCount": 3,
        "thoughtsTokenCount": 4,
    }
    done = {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}
    response = decode([sse(done | {"usageMetadata": usage})])
    assert response.token_usage is not None
    assert response.token_usage.input_tokens == 105
    assert response.token_usage.cache_read_tokens == 60
    assert response.token_usage.output_tokens == 7
    assert response.token_usage.reasoning_tokens == 4


def test_a_signed_thought_part_keeps_its_signature_on_the_reasoning_block() -> None:
    thought = {"candidates": [{"content": {"parts": [{"text": "hmm", "thought": True}]}}]}
    signed = {
        "candidates": [
            {"content": {"parts": [{"text": "", "thought": True, "thoughtSignature": "AAEC"}]}}
        ]
    }
    done = {"candidates": [{"content": {"parts": [{"text": "Yes"}]}, "finishReason": "STOP"}]}
    message = decode([sse(thought, signed, done)]).message
    assert message.content == "Yes"
    assert message.reasoning is not None
    assert [(b.text, b.signature) for b in message.reasoning] == [("hmm", "AAEC")]


def test_a_stream_without_finish_reason_was_cut_short() -> None:
    text = {"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]}
    with pytest.raises(ProtocolError, match="finishReason") as caught:
        decode([sse(text)])
    assert caught.value.retryable


def test_malformed_json_names_the_byte_offset() -> None:
    good = sse({"candidates": [{"content": {"parts": [{"text": "a"}]}}]})
    with pytest.raises(ProtocolError, match=f"at byte {len(good)}"):
        decode([good + b'data: {"candidates": [\r\n\r\n'])


def test_an_error_object_mid_stream_is_typed() -> None:
    error = {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(RateLimitError, match="slow down") as caught:
        decode([sse(error)])
    assert caught.value.retryable
    with pytest.raises(ServerError) as overloaded:
        decode([sse({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})])
    assert overloaded.value.error_type == "UNAVAILABLE"


@pytest.mark.parametrize(
    ("items", "wanted"),
    [
        ([{"jsonPath": "$.a", "stringValue": "x"}, {"jsonPath": "$.a", "stringValue": "y"}],
         {"a": "xy"}),
        ([{"jsonPath": "$.n", "numberValue": 2.5}, {"jsonPath": "$.b", "boolValue": True},
          {"jsonPath": "$.z", "nullValue": None}], {"n": 2.5, "b": True, "z": None}),
        ([{"jsonPath": "$.list[1].k", "stringValue": "v"}], {"list": [None, {"k": "v"}]}),
        ([{"jsonPath": "$['odd key'].x", "numberValue": 1}], {"odd key": {"x": 1}}),
    ],
)  # fmt: skip
def test_partial_arguments_are_placed_by_json_path(
    items: list[dict[str, Any]], wanted: dict[str, Any]
) -> None:
    partial = PartialArguments()
    for item in items:
        partial.apply(item)
    assert json.loads(partial.json()) == wanted


def test_partial_arguments_with_a_bad_path_are_a_protocol_error() -> None:
    start = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f",
             "willContinue": True}}]}}]}  # fmt: skip
    bad = {"candidates": [{"content": {"parts": [{"functionCall": {"partialArgs": [
           {"jsonPath": "location", "stringValue": "x"}], "willContinue": True}}]}}]}  # fmt: skip
    with pytest.raises(ProtocolError, match="jsonPath"):
        decode([sse(start, bad)])
