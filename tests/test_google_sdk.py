"""Differential test: our decoding of a Gemini stream equals what the official SDK makes of it.

The same bytes (every recorded stream, and Hypothesis-generated valid streams) are served by
the local server to ``google-genai`` and to our public API. The SDK's chunks are accumulated the
way its users do (text parts, thought parts, function calls with their arguments and
signatures, the finish reason, the last usage) and compared with our final response.

The SDK's async client runs on asyncio only, so its *sync* client runs in a worker thread
(``anyio.to_thread.run_sync``): the test itself then runs on trio and asyncio alike.
"""

from __future__ import annotations

import base64
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from google import genai
from google.genai import types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import (
    ChatCompletionResponse,
    FinalResponseChunk,
    aclose_http_clients,
    generate_chat_completion_stream,
)
from pipeline.testing import LocalProviderServer, Replay, open_local_server

from ._expected_gemini import gemini_streams

NORMALIZED = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}


@dataclass
class SDKResult:
    """What a google-genai user accumulates from ``generate_content_stream``."""

    text: str = ""
    thoughts: str = ""
    thought_signatures: list[bytes] = field(default_factory=list)
    message_signatures: list[bytes] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    finish: str | None = None
    usage: types.GenerateContentResponseUsageMetadata | None = None


def accumulate(chunks: list[types.GenerateContentResponse]) -> SDKResult:
    result = SDKResult()
    open_call: dict[str, Any] | None = None
    for chunk in chunks:
        if chunk.usage_metadata is not None:
            result.usage = chunk.usage_metadata
        for candidate in chunk.candidates or ():
            for part in (candidate.content.parts if candidate.content else None) or ():
                call = part.function_call
                if call is not None:
                    if call.name:
                        open_call = {
                            "name": call.name,
                            "args": dict(call.args or {}),
                            "id": call.id,
                            "signature": part.thought_signature,
                        }
                        result.calls.append(open_call)
                    # Vertex streams arguments; the SDK leaves assembling them to its user.
                    for partial in call.partial_args or ():
                        assert open_call is not None
                        key = (partial.json_path or "").removeprefix("$.")
                        if partial.string_value is not None:
                            previous = open_call["args"].get(key, "")
                            open_call["args"][key] = previous + partial.string_value
                        elif partial.number_value is not None:
                            open_call["args"][key] = partial.number_value
                        elif partial.bool_value is not None:
                            open_call["args"][key] = partial.bool_value
                    if not call.will_continue:
                        open_call = None
                elif part.thought:
                    result.thoughts += part.text or ""
                    if part.thought_signature:
                        result.thought_signatures.append(part.thought_signature)
                else:
                    result.text += part.text or ""
                    if part.thought_signature:
                        result.message_signatures.append(part.thought_signature)
            if candidate.finish_reason is not None:
                result.finish = candidate.finish_reason.value
    return result


def sdk_stream(base_url: str) -> SDKResult:
    options = types.HttpOptions(base_url=base_url)
    with genai.Client(api_key="sdk-test-key", http_options=options) as client:
        chunks = list(client.models.generate_content_stream(model="gemini-x", contents="Hi"))
    return accumulate(chunks)


async def ours(base_url: str) -> ChatCompletionResponse:
    request = {
        "provider": "google",
        "api_key": "our-test-key",
        "model": "gemini-x",
        "messages": [{"role": "user", "content": "Hi"}],
        "provider_kwargs": {"google": {"base_url": base_url}},
        "retry": {"enabled": False},
    }
    stream = await generate_chat_completion_stream(request)
    async with stream:
        chunks = [chunk async for chunk in stream]
    last = chunks[-1]
    assert isinstance(last, FinalResponseChunk)
    return last.response


def assert_same(response: ChatCompletionResponse, sdk: SDKResult) -> None:
    message = response.message
    assert (message.content or "") == sdk.text
    if sdk.thoughts or sdk.thought_signatures:
        assert message.reasoning is not None
        assert "".join(block.text for block in message.reasoning) == sdk.thoughts
        signed = [b.signature for b in message.reasoning if b.signature]
        assert [base64.b64decode(s) for s in signed] == sdk.thought_signatures[-1:]
    else:
        assert message.reasoning is None
    calls = message.tool_calls or []
    assert [(c.function.name, c.function.arguments, c.thought_signature) for c in calls] == [
        (c["name"], c["args"], c["signature"]) for c in sdk.calls
    ]
    for call, theirs in zip(calls, sdk.calls, strict=True):
        if theirs["id"]:
            assert call.id == theirs["id"]
    assert message.thought_signature == (sdk.message_signatures or [None])[-1]
    assert sdk.finish is not None
    wanted = "tool_calls" if sdk.calls else NORMALIZED.get(sdk.finish, sdk.finish.lower())
    assert response.finish_reason == wanted
    usage, counted = sdk.usage, response.token_usage
    assert usage is not None
    assert counted is not None
    thoughts = usage.thoughts_token_count
    assert counted.input_tokens == (usage.prompt_token_count or 0) + (
        usage.tool_use_prompt_token_count or 0
    )
    assert counted.output_tokens == (usage.candidates_token_count or 0) + (thoughts or 0)
    assert counted.reasoning_tokens == thoughts
    assert counted.cache_read_tokens == usage.cached_content_token_count


async def compare(server: LocalProviderServer, fixture: str) -> None:
    url = server.base_url(Replay(fixture=fixture), provider="google")
    theirs = await anyio.to_thread.run_sync(sdk_stream, url)
    assert_same(await ours(url), theirs)
    assert server.errors == []


@pytest.mark.anyio
@pytest.mark.parametrize("name", gemini_streams())
async def test_every_recording_decodes_as_the_sdk_decodes_it(name: str) -> None:
    async with open_local_server() as server:
        await compare(server, name)
        await aclose_http_clients()


# ---------------------------------------------------------------- generated streams

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_SIGNATURE = st.binary(min_size=1, max_size=48).map(lambda b: base64.b64encode(b).decode())
_ARGS = st.dictionaries(
    st.sampled_from(["city", "unit", "days", "exact"]),
    st.one_of(_TEXT, st.integers(-1000, 1000), st.booleans()),
    max_size=3,
)


@st.composite
def _part(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["text", "thought", "call"]))
    part: dict[str, Any]
    if kind == "call":
        call: dict[str, Any] = {"name": draw(st.sampled_from(["get_weather", "lookup"]))}
        args = draw(_ARGS)
        if args:
            call["args"] = args
        if draw(st.booleans()):
            call["id"] = draw(st.text("abcdefghij0123456789", min_size=8, max_size=8))
        part = {"functionCall": call}
    else:
        part = {"text": draw(_TEXT)}
        if kind == "thought":
            part["thought"] = True
    if draw(st.integers(0, 3)) == 0:
        part["thoughtSignature"] = draw(_SIGNATURE)
    return part


@st.composite
def gemini_streams_generated(draw: st.DrawFn) -> bytes:
    chunks: list[dict[str, Any]] = []
    count = draw(st.integers(1, 6))
    prompt = draw(st.integers(1, 500))
    for position in range(count):
        candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": draw(st.lists(_part(), max_size=3))},
            "index": 0,
        }
        usage: dict[str, Any] = {"promptTokenCount": prompt}
        if position == count - 1:
            reason = draw(st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "OTHER"]))
            candidate["finishReason"] = reason
            usage["candidatesTokenCount"] = draw(st.integers(0, 900))
            for name in ("thoughtsTokenCount", "cachedContentTokenCount"):
                if draw(st.booleans()):
                    usage[name] = draw(st.integers(0, 900))
        chunks.append(
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": "gemini-x",
                "responseId": "generated",
            }
        )
    separator = draw(st.sampled_from([b"\r\n\r\n", b"\n\n"]))
    spacing = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    return b"".join(
        b"data: " + json.dumps(c, separators=spacing).encode() + separator for c in chunks
    )


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=gemini_streams_generated())
def test_generated_valid_streams_decode_as_the_sdk_decodes_them(backend: str, body: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "gemini").mkdir()
        (Path(root) / "gemini" / "generated.sse").write_bytes(body)

        async def run() -> None:
            async with open_local_server(fixtures_dir=root) as server:
                await compare(server, "gemini/generated.sse")
                await aclose_http_clients()

        anyio.run(run, backend=backend)
