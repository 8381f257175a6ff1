"""DashScope (``alibaba``) end to end over a real socket, on trio and asyncio: thinking included.

Every recorded DashScope stream replays to its EXPECTED.json result whether the server sends it
one event per write, one byte per write or the whole body at once; the recorded non-streaming
bodies decode to what they hold. Reasoning is exposed as ``message.reasoning`` (provider
``"alibaba"``), never as content or sentences, and is never sent back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pipeline import (
    AssistantMessageDeltaChunk,
    AssistantMessageSentenceChunk,
    ProviderStatusError,
    RequestValidationError,
    UserMessage,
    aclose_http_clients,
    generate_chat_completion,
)
from pipeline.testing import LocalProviderServer, Replay, Synthetic, open_local_server

from ._expected import assert_matches, assert_text, expected, fixtures_of
from ._streams import collect, final
from .conftest import FIXTURES

pytestmark = pytest.mark.anyio

KEY = "sk-dashscope-test-key-0123456789"
REASONING = "dashscope/vercel__qwen-reasoning.chunks.txt"
WHOLE = 1 << 20
"""A slice larger than any fixture: the body goes out in one write."""


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()


def request(base_url: str, **extra: Any) -> dict[str, Any]:
    options = extra.pop("options", {})
    return {
        "provider": "alibaba",
        "api_key": KEY,
        "model": "qwen3-max",
        "messages": [{"role": "user", "content": "How many r's are in strawberry?"}],
        "provider_kwargs": {"alibaba": {"base_url": base_url, **options}},
        **extra,
    }


def recorded_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return body


# ---------------------------------------------------------------- recorded streams


@pytest.mark.parametrize("slice_bytes", [None, 1, WHOLE], ids=["per-event", "bytewise", "whole"])
@pytest.mark.parametrize("name", fixtures_of("dashscope"))
async def test_every_recorded_stream_replays_to_its_expected_result(
    server: LocalProviderServer, name: str, slice_bytes: int | None
) -> None:
    url = server.base_url(Replay(fixture=name, slice_bytes=slice_bytes), provider="alibaba")
    chunks = await collect(request(url))
    response = final(chunks)
    assert_matches(response, name)
    assert response.provider == "alibaba"
    streamed = "".join(c.content for c in chunks if isinstance(c, AssistantMessageDeltaChunk))
    assert streamed == (response.message.content or "")
    assert server.requests[-1].path.endswith("/chat/completions")


@pytest.mark.parametrize("slice_bytes", [None, WHOLE], ids=["per-event", "whole"])
async def test_reasoning_is_exposed_as_reasoning_and_never_spoken(
    server: LocalProviderServer, slice_bytes: int | None
) -> None:
    # Byte-at-a-time delivery of this stream is covered by the replay test above.
    url = server.base_url(Replay(fixture=REASONING, slice_bytes=slice_bytes), provider="alibaba")
    chunks = await collect(request(url), {"stream_sentences": True})
    message = final(chunks).message
    assert message.reasoning is not None
    assert [block.provider for block in message.reasoning] == ["alibaba"]
    reasoning = message.reasoning[0].text
    assert_text(reasoning, expected()[REASONING]["assembled"]["choices"][0]["reasoning_content"])
    assert message.provider == "alibaba"
    sentences = [c.sentence for c in chunks if isinstance(c, AssistantMessageSentenceChunk)]
    assert sentences
    assert not any(c.type == "content_delta" for c in chunks)
    # The reasoning opens with words the answer never uses.
    assert reasoning.startswith("We are asked:")
    assert "We are asked" not in " ".join(sentences)
    assert "We are asked" not in (message.content or "")


async def test_streaming_with_thinking_sends_the_thinking_options(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Replay(fixture=REASONING), provider="alibaba")
    options = {"enable_thinking": True, "thinking_budget": 2048}
    response = final(await collect(request(url, options=options)))
    assert_matches(response, REASONING)
    sent = server.requests[-1].json
    assert (sent["enable_thinking"], sent["thinking_budget"], sent["stream"]) == (True, 2048, True)


# ---------------------------------------------------------------- recorded non-streaming bodies


@pytest.mark.parametrize(
    "name",
    [
        "dashscope/vercel__qwen-text.json",
        "dashscope/vercel__qwen-reasoning.json",
        "dashscope/vercel__qwen-tool-call.json",
    ],
)
async def test_every_recorded_body_decodes_to_what_it_holds(
    server: LocalProviderServer, name: str
) -> None:
    url = server.base_url(Replay(fixture=name), provider="alibaba")
    response = await generate_chat_completion(request(url))
    body = recorded_body(name)
    choice = body["choices"][0]
    recorded = choice["message"]
    assert response.provider == "alibaba"
    assert response.finish_reason == choice["finish_reason"]
    assert response.message.content == (recorded.get("content") or None)
    assert response.usage == body["usage"]
    if recorded.get("reasoning_content"):
        assert response.message.reasoning is not None
        assert [(b.text, b.provider) for b in response.message.reasoning] == [
            (recorded["reasoning_content"], "alibaba")
        ]
    else:
        assert response.message.reasoning is None
    calls = recorded.get("tool_calls") or []
    assert [
        (c.id, c.function.name, c.function.arguments) for c in response.message.tool_calls or []
    ] == [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


async def test_the_recorded_error_body_becomes_a_typed_error(server: LocalProviderServer) -> None:
    name = "dashscope/vercel__error-400-invalid-parameter.json"
    url = server.base_url(Replay(fixture=name, status=400), provider="alibaba")
    with pytest.raises(ProviderStatusError) as info:
        await generate_chat_completion(request(url))
    error = recorded_body(name)["error"]
    assert info.value.status_code == 400
    assert info.value.provider == "alibaba"
    assert info.value.provider_message == error["message"]
    assert info.value.error_code == "invalid_parameter_error"
    assert not info.value.retryable
    assert len(server.requests) == 1


# ---------------------------------------------------------------- thinking needs streaming


async def test_thinking_without_streaming_is_refused_before_anything_is_sent(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Synthetic(deltas=3), provider="alibaba")
    with pytest.raises(RequestValidationError) as info:
        await generate_chat_completion(request(url, options={"enable_thinking": True}))
    assert info.value.problems == (
        "provider_kwargs.alibaba.enable_thinking: alibaba accepts it only on a streaming "
        "request; use generate_chat_completion_stream",
    )
    assert server.requests == []


async def test_a_thinking_fallback_is_refused_before_the_first_attempt_is_sent(
    server: LocalProviderServer,
) -> None:
    first = server.base_url(Synthetic(deltas=3))
    second = server.base_url(Synthetic(deltas=3, tag="second"), provider="alibaba")
    req = {
        "provider": "openai",
        "api_key": KEY,
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {"openai": {"base_url": first}},
        "fallbacks": [
            {
                "provider": "alibaba",
                "api_key": KEY,
                "provider_kwargs": {"alibaba": {"base_url": second, "enable_thinking": True}},
            }
        ],
    }
    with pytest.raises(RequestValidationError, match="enable_thinking"):
        await generate_chat_completion(req)
    assert server.requests == []


async def test_thinking_switched_off_works_without_streaming(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=3), provider="alibaba")
    response = await generate_chat_completion(request(url, options={"enable_thinking": False}))
    assert response.message.content
    assert server.requests[-1].json["enable_thinking"] is False


# ---------------------------------------------------------------- reasoning is never sent back


def strings_in(value: Any) -> list[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(s for item in value.values() for s in strings_in(item))]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return []


@pytest.mark.parametrize("next_provider", ["alibaba", "openai", "anthropic", "google"])
async def test_reasoning_is_not_sent_back_to_dashscope_nor_elsewhere(
    server: LocalProviderServer, next_provider: str
) -> None:
    url = server.base_url(Replay(fixture=REASONING), provider="alibaba")
    first = final(await collect(request(url))).message
    assert first.reasoning
    assert first.content
    reply = server.base_url(Synthetic(deltas=3, tag="turn2"), provider=next_provider)
    turn_two = {
        **request(reply),
        "provider": next_provider,
        "messages": [UserMessage("How many r's are in strawberry?"), first, UserMessage("Sure?")],
        "provider_kwargs": {next_provider: {"base_url": reply}},
    }
    await collect(turn_two)
    sent = strings_in(server.requests[-1].json)
    # The answer goes back; its reasoning, in any field, does not.
    assert any(first.content in text for text in sent)
    reasoning = first.reasoning[0].text
    assert not any(reasoning[:60] in text or reasoning[-60:] in text for text in sent)
    assert "reasoning_content" not in sent
    if next_provider in ("alibaba", "openai"):
        assert server.requests[-1].json["messages"][1] == {
            "role": "assistant",
            "content": first.content,
        }
