"""Differential test: the official ``anthropic`` SDK's accumulator and our public API read the
same bytes, served by the local server, to the same text, tool calls, thinking blocks and
signatures, stop reason and usage. Every recording, then Hypothesis-generated valid streams.

The SDK runs on anyio, so both sides run on trio and on asyncio.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import anthropic
import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import FinalResponseChunk, aclose_http_clients, generate_chat_completion_stream
from pipeline.testing import Replay, open_local_server

from ._expected import fixtures_of
from ._expected_anthropic import FINISH

BACKENDS = ["trio", "asyncio"]


def sdk_view(message: Any) -> dict[str, Any]:
    content = message.content
    return {
        "text": "".join(b.text for b in content if b.type == "text"),
        "tools": [(b.id, b.name, b.input) for b in content if b.type == "tool_use"],
        "thinking": [
            ("redacted", b.data)
            if b.type == "redacted_thinking"
            else ("thinking", b.thinking, b.signature)
            for b in content
            if b.type in ("thinking", "redacted_thinking")
        ],
        "finish": FINISH.get(message.stop_reason, message.stop_reason),
        "usage": message.usage.model_dump(exclude_none=True),
    }


def our_view(response: Any) -> dict[str, Any]:
    message = response.message
    return {
        "text": message.content or "",
        "tools": [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()],
        "thinking": [
            ("redacted", b.redacted_data)
            if b.redacted_data is not None
            else ("thinking", b.text, b.signature or "")
            for b in message.reasoning or ()
        ],
        "finish": response.finish_reason,
        "usage": response.usage,
    }


async def both_views(fixtures: Path | None, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    async with open_local_server(fixtures_dir=fixtures) as server:
        url = server.base_url(Replay(fixture=name), provider="anthropic")
        client = anthropic.AsyncAnthropic(
            base_url=url, api_key="sk-ant-differential-0123", max_retries=0
        )
        try:
            async with client.messages.stream(
                model="claude-sonnet-4-5",
                max_tokens=64,
                messages=[{"role": "user", "content": "Hi"}],
            ) as stream:
                sdk = sdk_view(await stream.get_final_message())
        finally:
            await client.close()
        request = {
            "provider": "anthropic",
            "api_key": "sk-ant-differential-0123",
            "model": "claude-sonnet-4-5",
            "messages": [{"role": "user", "content": "Hi"}],
            "provider_kwargs": {"anthropic": {"base_url": url}},
        }
        ours_stream = await generate_chat_completion_stream(request)
        async with ours_stream:
            chunks = [chunk async for chunk in ours_stream]
        await aclose_http_clients()
        assert server.errors == []
    last = chunks[-1]
    assert isinstance(last, FinalResponseChunk)
    return sdk, our_view(last.response)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", fixtures_of("anthropic"))
def test_every_recording_decodes_as_the_sdk_does(name: str, backend: str) -> None:
    sdk, ours = anyio.run(both_views, None, name, backend=backend)
    assert ours == sdk


# ---------------------------------------------------------------- generated streams

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_signature = st.text("ABCDEFGHabcdefgh0123456789+/", min_size=8, max_size=40).map(
    lambda s: s + "=="
)

_block = st.one_of(
    st.tuples(st.just("text"), st.lists(_text, min_size=1, max_size=4)),
    st.tuples(
        st.just("tool_use"),
        st.dictionaries(_text, _json, max_size=3),
        st.lists(st.integers(min_value=0), max_size=4),
    ),
    st.tuples(st.just("thinking"), st.lists(_text, max_size=4), _signature),
    st.tuples(st.just("redacted_thinking"), _signature),
)


def _event(payload: dict[str, Any]) -> bytes:
    return (
        b"event: " + payload["type"].encode() + b"\ndata: " + json.dumps(payload).encode() + b"\n\n"
    )


def build_stream(blocks: list[Any], stop_reason: str, usage: dict[str, Any], pings: bool) -> bytes:
    start_usage = {"input_tokens": usage["input"], "output_tokens": 1, **usage["cache"]}
    message = {
        "id": "msg_gen",
        "type": "message",
        "role": "assistant",
        "model": "claude-gen",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    out = [_event({"type": "message_start", "message": message})]
    for index, block in enumerate(blocks):
        kind = block[0]

        def delta(d: dict[str, Any], index: int = index) -> bytes:
            return _event({"type": "content_block_delta", "index": index, "delta": d})

        if kind == "text":
            start = {"type": "text", "text": ""}
            deltas = [delta({"type": "text_delta", "text": t}) for t in block[1]]
        elif kind == "tool_use":
            start = {
                "type": "tool_use",
                "id": f"toolu_{index}",
                "name": f"tool{index}",
                "input": {},
            }
            raw = json.dumps(block[1], ensure_ascii=False)
            points = sorted({0, len(raw), *(c % (len(raw) + 1) for c in block[2])})
            deltas = [
                delta({"type": "input_json_delta", "partial_json": raw[a:b]})
                for a, b in itertools.pairwise(points)
            ]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [delta({"type": "thinking_delta", "thinking": t}) for t in block[1]]
            deltas.append(delta({"type": "signature_delta", "signature": block[2]}))
        else:
            start = {"type": "redacted_thinking", "data": block[1]}
            deltas = []
        out.append(_event({"type": "content_block_start", "index": index, "content_block": start}))
        if pings:
            out.append(_event({"type": "ping"}))
        out += deltas
        out.append(_event({"type": "content_block_stop", "index": index}))
    final_usage = {
        "output_tokens": usage["output"],
        **({"input_tokens": usage["input"] + 1} if usage["restate"] else {}),
    }
    out.append(
        _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": final_usage,
            }
        )
    )
    out.append(_event({"type": "message_stop"}))
    return b"".join(out)


_usage = st.fixed_dictionaries(
    {
        "input": st.integers(0, 10_000),
        "output": st.integers(1, 10_000),
        "restate": st.booleans(),
        "cache": st.fixed_dictionaries(
            {},
            optional={
                "cache_read_input_tokens": st.integers(0, 50_000),
                "cache_creation_input_tokens": st.integers(0, 50_000),
            },
        ),
    }
)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(_block, min_size=1, max_size=5),
    stop_reason=st.sampled_from(
        ["end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn", "refusal"]
    ),
    usage=_usage,
    pings=st.booleans(),
)
def test_generated_streams_decode_as_the_sdk_does(
    backend: str, blocks: list[Any], stop_reason: str, usage: dict[str, Any], pings: bool
) -> None:
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "anthropic").mkdir()
        (Path(root) / "anthropic" / "generated.sse").write_bytes(
            build_stream(blocks, stop_reason, usage, pings)
        )
        sdk, ours = anyio.run(both_views, Path(root), "anthropic/generated.sse", backend=backend)
    assert ours == sdk
    assert len(ours["tools"]) == sum(b[0] == "tool_use" for b in blocks)
