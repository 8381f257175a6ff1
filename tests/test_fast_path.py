"""The fused fast path against the full stream cores: same chunks, response and errors.

Every recorded stream of every provider, whole, one byte per read and split at random, and
random streams that mix plain deltas with every other kind of event, broken ones included.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline._attempt import ProgressWatch, stream_chain
from pipeline._core import FusedCore
from pipeline._fast_path import FastDeltaCore, stream_core
from pipeline._types import CompletionsProvider
from pipeline.testing._anthropic_wire import AnthropicFormat
from pipeline.testing._fixtures import chunk_lines
from pipeline.testing._gemini_wire import GeminiFormat
from pipeline.testing._openai_wire import OpenAIFormat
from providers import codec_for
from stages.aggregator import ResponseAggregator
from stages.sse import SSEDecoder, SSEEvent
from tests.conftest import FIXTURES

OPENAI, ALIBABA = CompletionsProvider.OPENAI, CompletionsProvider.ALIBABA
ANTHROPIC, GOOGLE = CompletionsProvider.ANTHROPIC, CompletionsProvider.GOOGLE


class CountingSSE(SSEDecoder):
    """Counts the events the SSE core dispatched itself (the fast path's never reach it)."""

    __slots__ = ("dispatched",)

    def __init__(self, *, provider: str, raw_json_lines: bool) -> None:
        super().__init__(provider=provider, raw_json_lines=raw_json_lines)
        self.dispatched = 0

    def feed(self, chunk: bytes, /) -> list[SSEEvent]:
        events = super().feed(chunk)
        self.dispatched += len(events)
        return events

    def flush(self) -> list[SSEEvent]:
        events = super().flush()
        self.dispatched += len(events)
        return events


def run(body: bytes, cuts: list[int], *, fast: bool, provider: CompletionsProvider) -> Any:
    """Feed ``body`` cut at ``cuts`` the way an attempt does; everything observable."""
    watch, aggregator = ProgressWatch(), ResponseAggregator(provider=provider)
    chain = stream_chain(codec_for(provider), watch, aggregator)
    sse = chain[0] = CountingSSE(provider=provider.value, raw_json_lines=provider is GOOGLE)
    core = stream_core(chain, watch=watch, aggregator=aggregator) if fast else FusedCore(chain)
    assert isinstance(core, FastDeltaCore) == fast
    bounds = [0, *sorted(set(cuts)), len(body)]
    # Output per read, not only in total: the fast path must never hand anything on later.
    output: list[list[Any]] = []
    error: Exception | None = None
    for start, stop in itertools.pairwise(bounds):
        if start == stop:
            continue
        produced, error = core.feed_partial(body[start:stop])
        output.append(produced)
        if error is not None or watch.ended:
            break
    if error is None:
        produced, error = core.flush_partial()
        output.append(produced)
    failure = None if error is None else (type(error), str(error), getattr(error, "offset", 0))
    observed = (output, failure, watch.seen, watch.ended, aggregator.snapshot())
    return observed, sse.dispatched


def assert_same(body: bytes, cuts: list[int], provider: CompletionsProvider) -> int:
    """The fast path gives what the full cores give; returns how many events it took."""
    full, everything = run(body, cuts, fast=False, provider=provider)
    fast, rest = run(body, cuts, fast=True, provider=provider)
    assert fast == full
    return everything - rest


# ---------------------------------------------------------------- recorded streams

WIRES: dict[str, tuple[CompletionsProvider, Callable[[list[bytes]], tuple[bytes, ...]]]] = {
    "openai": (OPENAI, OpenAIFormat().wrap_payloads),
    "dashscope": (ALIBABA, OpenAIFormat().wrap_payloads),
    "anthropic": (ANTHROPIC, AnthropicFormat().wrap_payloads),
    "gemini": (GOOGLE, GeminiFormat().wrap_payloads),
}


def recorded_bodies() -> list[tuple[str, bytes, CompletionsProvider]]:
    bodies = []
    for folder, (provider, wrap) in WIRES.items():
        for path in sorted((FIXTURES / folder).iterdir()):
            body = _body(path, wrap)
            if body is not None:
                bodies.append((f"{folder}/{path.name}", body, provider))
    return bodies


def _body(path: Path, wrap: Callable[[list[bytes]], tuple[bytes, ...]]) -> bytes | None:
    if path.name.endswith(".sse"):
        return path.read_bytes()
    if path.name.endswith(".chunks.txt"):
        return b"".join(wrap(chunk_lines(path.read_bytes())))
    return None


RECORDED = recorded_bodies()


@pytest.mark.parametrize(("name", "body", "provider"), RECORDED, ids=[r[0] for r in RECORDED])
def test_recorded_streams_whole_bytewise_and_random_splits(
    name: str, body: bytes, provider: CompletionsProvider
) -> None:
    skipped = assert_same(body, [], provider)
    full, _ = run(body, [], fast=False, provider=provider)
    deltas = sum(1 for read in full[0] for chunk in read if chunk.type == "content_delta")
    if deltas > 2:
        assert skipped > 0, "the fast path never ran on a stream of plain deltas"
    assert_same(body, list(range(1, len(body))), provider)
    rng = random.Random(name)
    for _ in range(20):
        assert_same(body, rng.sample(range(1, len(body)), min(len(body) - 1, 12)), provider)


def test_every_wire_has_recordings_and_the_fast_path_takes_most_text() -> None:
    assert {name.split("/")[0] for name, _, _ in RECORDED} == set(WIRES)
    for folder, name in (
        ("openai", "louter__count.sse"),
        ("anthropic", "vercel__anthropic-text.chunks.txt"),
        ("gemini", "louter__long_text.sse"),
    ):
        body, provider = next((b, p) for n, b, p in RECORDED if n == f"{folder}/{name}")
        full, _ = run(body, [], fast=False, provider=provider)
        deltas = sum(1 for read in full[0] for chunk in read if chunk.type == "content_delta")
        # Every content delta takes the fast path but the first (it starts the response) and,
        # on Gemini, the last (its chunk also carries the finish reason).
        assert assert_same(body, [], provider) >= deltas - 2, name


# ---------------------------------------------------------------- random streams

texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "é", "\\n", '"', "\u2028", "日本", "😀", "\n\n", "\r", "\\ud83d"]
)
endings = st.sampled_from([b"\n\n", b"\n\n", b"\n\n", b"\r\n\r\n", b"\r\r", b"\n\r\n", b"\n"])
broken = st.sampled_from(
    [b"data: {oops\n\n", b"data: {\xff}\n\n", b'data: {"a": "\xff"}\n\n', b"data: [1]\n\n"]
)


def _json(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False).replace("\\\\ud83d", "\\ud83d")
    return text.encode("utf-8", "surrogatepass")


def _data(value: Any, ending: bytes = b"\n\n") -> bytes:
    return b"data: " + _json(value) + ending


def _openai_chunk(delta: dict[str, Any], **top: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
    return {"id": "c1", "object": "chat.completion.chunk", "choices": [choice], **top}


@st.composite
def openai_events(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 13))
    text = draw(texts)
    ending = draw(endings)
    if kind <= 4:
        delta: dict[str, Any] = {"content": text}
        if draw(st.booleans()):
            delta["role"] = "assistant"
        return _data(_openai_chunk(delta, usage=None), ending)
    if kind == 5:
        call: dict[str, Any] = {"index": draw(st.integers(0, 1)), "function": {"arguments": "{}"}}
        if draw(st.booleans()):
            call.update(id=draw(st.sampled_from(["a", "b", ""])), type="function")
            call["function"]["name"] = "f"
        return _data(_openai_chunk({"tool_calls": [call]}), ending)
    if kind == 6:
        return _data(_openai_chunk({"reasoning_content": text or "r"}), ending)
    if kind == 7:
        value = _openai_chunk({}) | {
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]
        }
        return _data(value, ending)
    if kind == 8:
        return _data(_openai_chunk({}, usage={"prompt_tokens": 1, "completion_tokens": 2}), ending)
    if kind == 9:
        return draw(st.sampled_from([b": ping\n\n", b":\n", b"event: x\n", b"id: 7\n"]))
    if kind == 10:
        return _data(_openai_chunk({"content": text}, error=draw(st.sampled_from([None, 0, {}]))))
    if kind == 11:
        value = _openai_chunk({"content": text}, extra=1)
        value["choices"][0] = value["choices"][0] | draw(
            st.sampled_from(
                [{"index": 1}, {"new": 1}, {"delta": {"content": text, "x": 1}}, {"index": True}]
            )
        )
        return _data(value, ending)
    if kind == 12:
        return b'data: {"choices":\ndata: []}\n\n'
    return draw(st.sampled_from([b"data: [DONE]\n\n", b'data: {"error":1}\n\n']) | broken)


def _anthropic(kind: str, ending: bytes = b"\n\n", **payload: Any) -> bytes:
    return b"event: " + kind.encode() + b"\n" + _data({"type": kind, **payload}, ending)


@st.composite
def anthropic_events(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 12))
    text = draw(texts)
    ending = draw(endings)
    index = draw(st.sampled_from([0, 0, 0, 1, 2]))
    if kind <= 4:
        delta = {"type": "text_delta", "text": text}
        if draw(st.booleans()):
            delta["extra"] = "x"
        return _anthropic("content_block_delta", ending, index=index, delta=delta)
    if kind == 5:
        block = draw(
            st.sampled_from(
                [
                    {"type": "text", "text": ""},
                    {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                    {"type": "thinking", "thinking": ""},
                    {"type": "server_tool_use", "id": "s"},
                ]
            )
        )
        return _anthropic("content_block_start", ending, index=index, content_block=block)
    if kind == 6:
        delta = draw(
            st.sampled_from(
                [
                    {"type": "input_json_delta", "partial_json": '{"a": 1}'},
                    {"type": "thinking_delta", "thinking": "hm"},
                    {"type": "signature_delta", "signature": "c2ln"},
                    {"type": "citations_delta", "citation": {}},
                ]
            )
        )
        return _anthropic("content_block_delta", ending, index=index, delta=delta)
    if kind == 7:
        return _anthropic("content_block_stop", ending, index=index)
    if kind == 8:
        stop = {"stop_reason": "end_turn", "stop_sequence": None}
        return _anthropic("message_delta", ending, delta=stop, usage={"output_tokens": 3})
    if kind == 9:
        return draw(st.sampled_from([b'event: ping\ndata: {"type": "ping"}\n\n', b": c\n\n"]))
    if kind == 10:
        # The event line says one thing, the payload another: the payload decides.
        delta = {"type": "text_delta", "text": text}
        return b"event: ping\n" + _data({"type": "content_block_delta", "index": 0, "delta": delta})
    if kind == 11:
        return draw(
            st.sampled_from(
                [
                    _anthropic("message_stop"),
                    _anthropic("error", error={"type": "overloaded_error", "message": "o"}),
                    b"event: content_block_delta\r\n" + _data({"type": "x"}),
                ]
            )
        )
    return draw(broken)


def _gemini(parts: list[dict[str, Any]], ending: bytes, **candidate: Any) -> bytes:
    usage = {"promptTokenCount": 4, "candidatesTokenCount": 9}
    value = {"candidates": [{"content": {"parts": parts, "role": "model"}, **candidate}]}
    return _data(value | {"usageMetadata": usage, "modelVersion": "g", "responseId": "r"}, ending)


@st.composite
def gemini_events(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 11))
    text = draw(texts)
    ending = draw(st.sampled_from([b"\r\n\r\n", b"\r\n\r\n", b"\n\n"]) | endings)
    if kind <= 4:
        extra = draw(st.sampled_from([{}, {}, {"index": 0}, {"index": 1}, {"safetyRatings": []}]))
        return _gemini([{"text": text}], ending, **extra)
    if kind == 5:
        part = draw(
            st.sampled_from(
                [
                    {"text": "t", "thought": True},
                    {"text": "", "thoughtSignature": "c2ln"},
                    {"functionCall": {"name": "f", "args": {"a": 1}}},
                    {"text": "a", "functionCall": None},
                ]
            )
        )
        return _gemini([part], ending)
    if kind == 6:
        return _gemini([{"text": text}], ending, finishReason="STOP")
    if kind == 7:
        return _gemini([{"text": text}, {"text": "b"}], ending)
    if kind == 8:
        return _data({"error": draw(st.sampled_from([None, {"code": 503, "message": "m"}]))})
    if kind == 9:
        return _data({"candidates": [], "promptFeedback": {"blockReason": "SAFETY"}}, ending)
    if kind == 10:
        # A mid-stream error sent line by line (pretty-printed, outside any data field).
        error = {"error": {"code": 503, "message": text or "m", "status": "UNAVAILABLE"}}
        eol = draw(st.sampled_from([b"\n", b"\r\n"]))
        lines = json.dumps(error, indent=1, ensure_ascii=False).encode("utf-8", "surrogatepass")
        return lines.replace(b"\n", eol) + eol
    return draw(broken)


STREAMS = {
    OPENAI: (_data(_openai_chunk({"role": "assistant", "content": ""}, model="m")), openai_events),
    ALIBABA: (
        _data(_openai_chunk({"role": "assistant", "content": "a"}, model="q")),
        openai_events,
    ),
    ANTHROPIC: (
        _anthropic("message_start", message={"id": "m", "model": "c", "usage": {}})
        + _anthropic("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        anthropic_events,
    ),
    GOOGLE: (_gemini([{"text": "Hi"}], b"\r\n\r\n"), gemini_events),
}


@pytest.mark.parametrize("provider", list(STREAMS), ids=lambda p: p.value)
@settings(max_examples=250, deadline=None)
@given(data=st.data(), cuts=st.lists(st.integers(1, 4000), max_size=8))
def test_random_streams_and_splits(
    provider: CompletionsProvider, data: st.DataObject, cuts: list[int]
) -> None:
    start, events = STREAMS[provider]
    body = start + b"".join(data.draw(st.lists(events(), max_size=12)))
    assert_same(body, [cut for cut in cuts if cut < len(body)], provider)
