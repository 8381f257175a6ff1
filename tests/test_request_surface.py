"""The request surface on the wire: what the OpenAI-compatible codecs send, and what they refuse.

Every assertion reads the bytes the local provider server received through the public API, on
trio and asyncio: ``top_p``, ``stop``, ``seed``, ``parallel_tool_calls`` and ``extra_body``
reach the server, and an unknown or unsupported option is refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pipeline import (
    RequestValidationError,
    aclose_http_clients,
    generate_chat_completion,
    generate_chat_completion_stream,
)
from pipeline.testing import LocalProviderServer, ReceivedRequest, Synthetic, open_local_server

pytestmark = pytest.mark.anyio

KEY = "sk-surface-test-key-0123456789"
OPENAI_COMPATIBLE = ["openai", "alibaba"]


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()


def request(
    server: LocalProviderServer, provider: str = "openai", *, options: Any = None, **extra: Any
) -> dict[str, Any]:
    url = server.base_url(Synthetic(deltas=3), provider=provider)
    return {
        "provider": provider,
        "api_key": KEY,
        "model": "m",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {provider: {"base_url": url, **(options or {})}},
        **extra,
    }


async def send(
    req: dict[str, Any], server: LocalProviderServer, *, stream: bool
) -> ReceivedRequest:
    if stream:
        async with await generate_chat_completion_stream(req) as chunks:
            assert [c async for c in chunks][-1].type == "response"
    else:
        await generate_chat_completion(req)
    return server.requests[-1]


# ---------------------------------------------------------------- fields that reach the server


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("provider", OPENAI_COMPATIBLE)
async def test_top_p_stop_and_seed_reach_the_server(
    server: LocalProviderServer, provider: str, stream: bool
) -> None:
    req = request(server, provider, top_p=0.25, stop=["\n\nUser:", "END"], seed=1234)
    sent = await send(req, server, stream=stream)
    assert sent.json["top_p"] == 0.25
    assert sent.json["stop"] == ["\n\nUser:", "END"]
    assert sent.json["seed"] == 1234
    assert b'"stop":["\\n\\nUser:","END"]' in sent.body


@pytest.mark.parametrize("provider", OPENAI_COMPATIBLE)
async def test_unset_fields_are_not_sent(server: LocalProviderServer, provider: str) -> None:
    sent = await send(request(server, provider, stop=[]), server, stream=True)
    for name in ("top_p", "stop", "seed", "parallel_tool_calls", "extra_body"):
        assert name not in sent.json


async def test_zero_values_are_sent_not_taken_for_unset(server: LocalProviderServer) -> None:
    sent = await send(request(server, top_p=0, seed=0), server, stream=True)
    assert (sent.json["top_p"], sent.json["seed"]) == (0, 0)


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize("provider", OPENAI_COMPATIBLE)
async def test_parallel_tool_calls_reaches_the_server(
    server: LocalProviderServer, provider: str, value: bool
) -> None:
    tool = {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
    }
    req = request(server, provider, options={"parallel_tool_calls": value}, tools=[tool])
    sent = await send(req, server, stream=True)
    assert sent.json["parallel_tool_calls"] is value


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("provider", OPENAI_COMPATIBLE)
async def test_extra_body_is_merged_last_and_as_given(
    server: LocalProviderServer, provider: str, stream: bool
) -> None:
    extra = {
        "logit_bias": {"50256": -100},
        "metadata": {"nested": [1, None, {"deep": "é"}]},
        "max_tokens": 7,
    }
    req = request(server, provider, options={"extra_body": extra}, max_tokens=20)
    sent = await send(req, server, stream=stream)
    assert sent.json["logit_bias"] == {"50256": -100}
    assert sent.json["metadata"] == {"nested": [1, None, {"deep": "é"}]}
    # Last: the caller's value replaces the library's own.
    assert sent.json["max_tokens"] == 7
    # After the library's own fields, stream_options included, and encoded as given.
    assert list(sent.json)[-2:] == ["logit_bias", "metadata"]
    assert '"metadata":{"nested":[1,null,{"deep":"é"}]}'.encode() in sent.body
    assert sent.json["model"] == "m"


async def test_dashscope_options_are_top_level_body_fields(server: LocalProviderServer) -> None:
    options = {"enable_search": True, "enable_thinking": False, "thinking_budget": 256}
    sent = await send(request(server, "alibaba", options=options), server, stream=False)
    assert sent.json["enable_search"] is True
    assert sent.json["enable_thinking"] is False
    assert sent.json["thinking_budget"] == 256
    assert "base_url" not in sent.json


async def test_openai_options_are_top_level_body_fields(server: LocalProviderServer) -> None:
    options = {"service_tier": "flex", "reasoning_effort": "low"}
    sent = await send(request(server, options=options), server, stream=True)
    assert (sent.json["service_tier"], sent.json["reasoning_effort"]) == ("flex", "low")


async def test_a_fallback_sends_the_sampling_fields_it_inherits(
    server: LocalProviderServer,
) -> None:
    failing = server.base_url(Synthetic(deltas=3, status=401))
    working = server.base_url(Synthetic(deltas=3, tag="fallback"), provider="alibaba")
    req = {
        "provider": "openai",
        "api_key": KEY,
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hello"}],
        "top_p": 0.5,
        "stop": ["END"],
        "seed": 9,
        "provider_kwargs": {"openai": {"base_url": failing}},
        "fallbacks": [
            {
                "provider": "alibaba",
                "api_key": "sk-dashscope-fallback-0123456789",
                "model": "qwen3-max",
                "seed": 10,
                "provider_kwargs": {"alibaba": {"base_url": working, "extra_body": {"x": 1}}},
            }
        ],
    }
    sent = await send(req, server, stream=True)
    assert [r.json["model"] for r in server.requests] == ["gpt-4o", "qwen3-max"]
    assert (sent.json["top_p"], sent.json["stop"], sent.json["seed"], sent.json["x"]) == (
        0.5,
        ["END"],
        10,
        1,
    )
    assert "x" not in server.requests[0].json


# ---------------------------------------------------------------- refused before any I/O


@pytest.mark.parametrize("stream", [True, False])
async def test_a_misspelled_option_is_refused_before_anything_is_sent(
    server: LocalProviderServer, stream: bool
) -> None:
    req = request(server, options={"base_uri": "http://127.0.0.1:9/v1"})
    with pytest.raises(RequestValidationError) as info:
        await send(req, server, stream=stream)
    assert info.value.problems == (
        "provider_kwargs.openai.base_uri: unknown option; did you mean 'base_url'?",
    )
    assert server.requests == []


async def test_a_seed_for_anthropic_is_refused_before_anything_is_sent(
    server: LocalProviderServer,
) -> None:
    req = request(server, fallbacks=[{"provider": "anthropic", "api_key": "sk-ant-x-0123456789"}])
    req["seed"] = 3
    with pytest.raises(RequestValidationError) as info:
        await send(req, server, stream=True)
    assert info.value.problems == (
        "fallbacks[0].seed: not supported by anthropic (inherited from the request)",
    )
    assert server.requests == []


async def test_too_many_stop_sequences_are_refused_before_anything_is_sent(
    server: LocalProviderServer,
) -> None:
    with pytest.raises(RequestValidationError, match="stop: 5 sequences, at most 4 for alibaba"):
        await send(request(server, "alibaba", stop=list("abcde")), server, stream=True)
    assert server.requests == []
