"""Gemini through the public API over a real socket, on trio and asyncio.

Every recorded Gemini stream is replayed by the local provider server, whole and one byte per
write, and must come out as EXPECTED.json states; a two-turn tool conversation is checked on
what the server received; faults come from the same server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pipeline import (
    AssistantMessageDeltaChunk,
    ChatCompletionChunk,
    RateLimitError,
    ServerError,
    aclose_http_clients,
    deserialize_conversation,
    generate_chat_completion,
    generate_chat_completion_stream,
    serialize_conversation,
)
from pipeline._core import FusedCore
from pipeline._events import ResponseReady
from pipeline._types import (
    CompletionsProvider,
    Message,
    ToolResultMessage,
    UserMessage,
)
from pipeline.testing import LocalProviderServer, Replay, Synthetic, open_local_server
from pipeline.testing._gemini_wire import synthetic_signature
from providers.google import GoogleCodec
from stages.aggregator import ResponseAggregator
from stages.tool_calls import ToolCallAssembler

from ._expected_gemini import assert_gemini_matches, gemini_streams, recorded_signatures
from ._streams import collect, final
from .conftest import FIXTURES

pytestmark = pytest.mark.anyio

KEY = "AIza-e2e-test-key-0123456789"
PARALLEL = "gemini/vertex-gemini__stream-fc-args-parallel.chunks.txt"


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()


def request(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "google",
        "api_key": KEY,
        "model": "gemini-3-pro-preview",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {"google": {"base_url": base_url}},
        "retry": {"enabled": False},
        **extra,
    }


@pytest.mark.parametrize("slice_bytes", [None, 1])
@pytest.mark.parametrize("name", gemini_streams())
async def test_recorded_stream_replays_to_the_expected_result(
    server: LocalProviderServer, name: str, slice_bytes: int | None
) -> None:
    if slice_bytes == 1 and name.endswith("long_text.sse"):
        slice_bytes = 7  # 62 kB one byte per write is slow on 2 cores; still splits UTF-8
    url = server.base_url(Replay(fixture=name, slice_bytes=slice_bytes), provider="google")
    chunks = await collect(request(url))
    response = final(chunks)
    assert_gemini_matches(response, name)
    streamed = "".join(c.content for c in chunks if isinstance(c, AssistantMessageDeltaChunk))
    assert streamed == (response.message.content or "")
    calls = [c.tool_call for c in chunks if c.type == "tool_call"]  # type: ignore[union-attr]
    assert calls == (response.message.tool_calls or [])
    kinds = [c.type for c in chunks]
    assert kinds[-3:] == ["finish_reason", "usage", "response"]
    sent = server.requests[-1]
    assert sent.path.endswith("/v1beta/models/gemini-3-pro-preview:streamGenerateContent")
    assert sent.query == "alt=sse"
    assert sent.headers["x-goog-api-key"] == KEY
    assert KEY not in sent.target
    assert server.errors == []


async def test_the_json_array_body_over_http(server: LocalProviderServer) -> None:
    name = "gemini/louter__count_alt_json_array.json"
    response = await generate_chat_completion(
        request(server.base_url(Replay(fixture=name), provider="google"))
    )
    assert_gemini_matches(response, name)
    assert server.requests[-1].path.endswith(":generateContent")


async def test_a_recorded_generate_content_body(server: LocalProviderServer) -> None:
    name = "gemini/vercel__google-text.json"
    url = server.base_url(Replay(fixture=name), provider="google")
    response = await generate_chat_completion(request(url))
    body = json.loads((FIXTURES / name).read_bytes())
    part = body["candidates"][0]["content"]["parts"][0]
    assert response.message.content == part["text"]
    assert response.finish_reason == "stop"
    assert response.message.thought_signature is not None
    assert base64.b64encode(response.message.thought_signature).decode() == part["thoughtSignature"]
    assert response.usage == body["usageMetadata"]
    assert response.response_id == body["responseId"]
    assert response.model == "gemini-3-pro-preview"


async def test_the_stream_without_alt_sse_is_one_json_array(server: LocalProviderServer) -> None:
    # The library always asks for SSE; the server also speaks the array form, and the codec
    # decodes it as the same response.
    spec = Synthetic(deltas=4, thoughts=2, tool_calls=2, signatures=True)
    url = server.base_url(spec, provider="google")
    async with httpx.AsyncClient() as client:
        raw = await client.post(
            f"{url}/v1beta/models/gemini-3-pro-preview:streamGenerateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]},
        )
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.content.startswith(b"[")
    core = FusedCore([ToolCallAssembler(), ResponseAggregator(provider=CompletionsProvider.GOOGLE)])
    events = [out for e in GoogleCodec().decode_response(raw.content) for out in core.feed(e)]
    last = (events + core.flush())[-1]
    assert isinstance(last, ResponseReady)
    streamed = final(await collect(request(url)))
    assert last.response.message.content == streamed.message.content
    assert last.response.message.reasoning == streamed.message.reasoning
    assert last.response.token_usage == streamed.token_usage
    # Same arguments and signatures; ids are derived from the same response id.
    assert last.response.message.tool_calls == streamed.message.tool_calls


async def test_two_turn_tool_conversation_sends_the_signature_back(
    server: LocalProviderServer,
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "getWeather",
                "description": "Weather for a place",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
            },
        }
    ]
    turn1_url = server.base_url(Replay(fixture=PARALLEL), provider="google")
    first = final(await collect(request(turn1_url, tools=tools)))
    calls = first.message.tool_calls or []
    assert [c.function.arguments for c in calls] == [
        {"location": "Boston"},
        {"location": "San Francisco"},
    ]
    [signature] = recorded_signatures(PARALLEL)
    history: list[Message] = [
        UserMessage("Weather in Boston and San Francisco?"),
        first.message,
        ToolResultMessage(calls[0].id, {"temperature": 12}),
        ToolResultMessage(calls[1].id, {"temperature": 19}),
    ]
    turn2_url = server.base_url(Synthetic(deltas=3, text="Cold and mild."), provider="google")
    second = final(await collect(request(turn2_url, tools=tools, messages=history)))
    assert second.message.content == "Cold and mild."
    sent = server.requests[-1].json

    # The stored conversation reads back to the same request bytes.
    stored = json.loads(json.dumps(serialize_conversation(history)))
    restored = deserialize_conversation(stored)
    await collect(request(turn2_url, tools=tools, messages=restored))
    assert server.requests[-1].json == sent

    model, results = sent["contents"][1], sent["contents"][2]
    assert model == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "getWeather", "args": {"location": "Boston"}},
                "thoughtSignature": signature,
            },
            {"functionCall": {"name": "getWeather", "args": {"location": "San Francisco"}}},
        ],
    }
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "getWeather", "response": {"temperature": 12}}},
            {"functionResponse": {"name": "getWeather", "response": {"temperature": 19}}},
        ],
    }
    assert len(sent["contents"]) == 3


async def test_synthetic_thoughts_signatures_and_parallel_calls(
    server: LocalProviderServer,
) -> None:
    spec = Synthetic(deltas=3, thoughts=4, tool_calls=2, signatures=True)
    url = server.base_url(spec, provider="google")
    chunks = await collect(request(url))
    response = final(chunks)
    assert response.finish_reason == "tool_calls"
    assert response.message.reasoning is not None
    reasoning = response.message.reasoning[0].text
    assert reasoning.startswith("Thinking step 1.")
    # Reasoning is never content, so never spoken.
    streamed = "".join(c.content for c in chunks if isinstance(c, AssistantMessageDeltaChunk))
    assert "Thinking" not in streamed
    calls = response.message.tool_calls or []
    assert [c.thought_signature is not None for c in calls] == [True, False]
    assert base64.b64encode(calls[0].thought_signature or b"").decode() == synthetic_signature(spec)
    assert response.token_usage is not None
    assert response.token_usage.reasoning_tokens == 4
    whole = await generate_chat_completion(request(url))
    assert whole.message.tool_calls == calls
    assert whole.message.content == response.message.content


async def test_a_text_reply_signature_on_an_empty_final_part(server: LocalProviderServer) -> None:
    spec = Synthetic(deltas=5, signatures=True)
    response = final(await collect(request(server.base_url(spec, provider="google"))))
    assert response.finish_reason == "stop"
    assert response.message.thought_signature is not None
    signature = base64.b64encode(response.message.thought_signature).decode()
    assert signature == synthetic_signature(spec)
    assert response.message.content is not None
    assert response.message.content.strip()


async def test_response_schema_sent_as_given_and_the_answer_parsed(
    server: LocalProviderServer,
) -> None:
    schema = {
        "$defs": {
            "city": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": False,
            }
        },
        "type": "object",
        "properties": {"city": {"anyOf": [{"$ref": "#/$defs/city"}, {"type": "null"}]}},
        "additionalProperties": False,
    }
    answer = '{"city": {"name": "Paris"}}'
    url = server.base_url(Synthetic(deltas=3, text=answer), provider="google")
    response = await generate_chat_completion(request(url, response_schema=schema))
    config = server.requests[-1].json["generationConfig"]
    assert config["responseJsonSchema"] == schema
    assert config["responseMimeType"] == "application/json"
    assert json.loads(response.message.content or "") == {"city": {"name": "Paris"}}


async def test_rate_limit_with_retry_info(server: LocalProviderServer) -> None:
    fixture = "gemini/vercel__error-429-retryinfo.json"
    url = server.base_url(Replay(fixture=fixture, status=429), provider="google")
    with pytest.raises(RateLimitError) as caught:
        await collect(request(url))
    assert caught.value.retry_after == pytest.approx(34.4)
    assert caught.value.status_code == 429
    assert KEY not in str(caught.value)


async def test_a_429_is_retried_after_its_retry_delay(server: LocalProviderServer) -> None:
    # The server's own 429 carries RetryInfo "1s"; the retry then succeeds.
    spec = Synthetic(deltas=2, status=429, fail_times=1)
    req = request(server.base_url(spec, provider="google")) | {
        "retry": {"enabled": True, "max_retries": 1, "retry_delay": 0.01}
    }
    response = final(await collect(req))
    assert response.finish_reason == "stop"
    assert len(server.requests) == 2


async def test_an_error_wrapped_in_an_array(server: LocalProviderServer) -> None:
    body = (
        '[{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]'
    )
    url = server.base_url(Synthetic(deltas=2, status=503, body=body), provider="google")
    with pytest.raises(ServerError) as caught:
        await generate_chat_completion(request(url))
    assert caught.value.provider_message == "The model is overloaded."
    assert caught.value.error_type == "UNAVAILABLE"


async def test_mid_stream_error_keeps_what_was_received(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=6, error_after=3), provider="google")
    received: list[ChatCompletionChunk] = []
    with pytest.raises(ServerError, match="mid-stream") as caught:
        stream = await generate_chat_completion_stream(request(url))
        async with stream:
            async for chunk in stream:
                received.append(chunk)
    partial = caught.value.partial_response
    assert partial is not None
    streamed = "".join(c.content for c in received if isinstance(c, AssistantMessageDeltaChunk))
    assert partial.message.content == streamed
    assert streamed
    assert caught.value.error_type == "UNAVAILABLE"
