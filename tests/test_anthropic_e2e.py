"""Anthropic through the public API, over a real socket, on trio and asyncio.

Every recorded Anthropic stream is replayed by the local provider server, whole and one byte
per write, and must come out as EXPECTED.json states; errors, mid-stream faults, thinking and
structured output go through the same server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pipeline import (
    AssistantMessageDeltaChunk,
    AuthenticationError,
    ProviderStatusError,
    RateLimitError,
    ServerError,
    aclose_http_clients,
    generate_chat_completion,
    generate_chat_completion_stream,
)
from pipeline.testing import LocalProviderServer, Replay, Synthetic, open_local_server

from ._expected import fixtures_of
from ._expected_anthropic import assert_matches_anthropic
from ._streams import collect, final

pytestmark = pytest.mark.anyio

KEY = "sk-ant-e2e-test-key-0123456789"


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()
        assert running.errors == []


def request(base_url: str, **extra: Any) -> dict[str, Any]:
    kwargs = extra.pop("kwargs", {})
    return {
        "provider": "anthropic",
        "api_key": KEY,
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {"anthropic": {"base_url": base_url, **kwargs}},
        **extra,
    }


@pytest.mark.parametrize("slice_bytes", [None, 1], ids=["whole", "byte-at-a-time"])
@pytest.mark.parametrize("name", fixtures_of("anthropic"))
async def test_recorded_stream_replays_to_the_expected_result(
    server: LocalProviderServer, name: str, slice_bytes: int | None
) -> None:
    url = server.base_url(Replay(fixture=name, slice_bytes=slice_bytes), provider="anthropic")
    chunks = await collect(request(url))
    response = final(chunks)
    assert_matches_anthropic(response, name)
    streamed = "".join(c.content for c in chunks if isinstance(c, AssistantMessageDeltaChunk))
    assert streamed == (response.message.content or "")
    calls = [c.tool_call for c in chunks if c.type == "tool_call"]  # type: ignore[union-attr]
    assert calls == (response.message.tool_calls or [])
    kinds = [c.type for c in chunks]
    assert kinds[-3:] == ["finish_reason", "usage", "response"]
    assert response.provider == "anthropic"


async def test_the_request_on_the_wire(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=3), provider="anthropic")
    await collect(request(url, temperature=0, top_p=0.5, stop=["END"]))
    sent = server.requests[-1]
    assert sent.path.endswith("/v1/messages")
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.headers["accept-encoding"] == "identity"
    assert sent.json == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Hello"}],
        "max_tokens": 4096,
        "temperature": 0,
        "top_p": 0.5,
        "stop_sequences": ["END"],
        "stream": True,
    }


async def test_key_and_base_url_from_the_environment(
    server: LocalProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment-0123")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url(Synthetic(2), provider="anthropic"))
    req = request("http://unused.invalid", api_key=None)
    del req["api_key"], req["provider_kwargs"]
    response = final(await collect(req))
    assert response.finish_reason == "stop"
    assert server.requests[-1].headers["x-api-key"] == "sk-ant-from-the-environment-0123"


async def test_thinking_stream_keeps_blocks_out_of_content_and_sentences(
    server: LocalProviderServer,
) -> None:
    spec = Synthetic(deltas=12, thoughts=5, redacted_thinking=1, tool_calls=2)
    url = server.base_url(spec, provider="anthropic")
    thinking = {"type": "enabled", "budget_tokens": 2048}
    chunks = await collect(request(url, kwargs={"thinking": thinking}), {"stream_sentences": True})
    response = final(chunks)
    reasoning = response.message.reasoning
    assert [bool(b.redacted_data) for b in reasoning] == [False, True]
    assert reasoning[0].text.startswith("Thinking step 1.")
    assert reasoning[0].signature
    assert all(b.provider == "anthropic" for b in reasoning)
    spoken = " ".join(c.sentence for c in chunks if c.type == "content_sentence")  # type: ignore[union-attr]
    assert "Thinking" not in spoken
    assert "Thinking" not in (response.message.content or "")
    assert len(response.message.tool_calls) == 2
    assert response.finish_reason == "tool_calls"
    body = server.requests[-1].json
    assert body["thinking"] == thinking
    assert body["max_tokens"] == 4096 + 2048


async def test_non_streaming_completion_with_thinking_and_tools(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(
        Synthetic(deltas=6, thoughts=3, redacted_thinking=1, tool_calls=2), provider="anthropic"
    )
    response = await generate_chat_completion(request(url))
    assert server.requests[-1].json.get("stream") is None
    assert response.message.content
    assert [c.function.arguments["location"] for c in response.message.tool_calls] == [
        "Paris",
        "Tokyo",
    ]
    assert [b.redacted_data is not None for b in response.message.reasoning] == [False, True]
    assert response.finish_reason == "tool_calls"
    assert response.token_usage.output_tokens > 0


async def test_recorded_non_streaming_body(server: LocalProviderServer) -> None:
    url = server.base_url(Replay(fixture="anthropic/vercel__anthropic-text.json"), "anthropic")
    response = await generate_chat_completion(request(url))
    body = json.loads((server.fixtures_dir / "anthropic/vercel__anthropic-text.json").read_text())
    assert response.message.content == body["content"][0]["text"]
    assert response.finish_reason == "stop"
    assert response.usage == body["usage"]
    assert response.token_usage.input_tokens == 12
    assert response.token_usage.cache_write_5m_tokens == 0


@pytest.mark.parametrize(
    ("status", "cls", "retryable", "kind"),
    [
        (400, ProviderStatusError, False, "invalid_request_error"),
        (401, AuthenticationError, False, "authentication_error"),
        (403, AuthenticationError, False, "permission_error"),
        (404, ProviderStatusError, False, "not_found_error"),
        (413, ProviderStatusError, False, "request_too_large"),
        (429, RateLimitError, True, "rate_limit_error"),
        (500, ServerError, True, "api_error"),
        (529, ServerError, True, "overloaded_error"),
    ],
)
async def test_error_statuses_map_to_typed_errors(
    server: LocalProviderServer, status: int, cls: type[Exception], retryable: bool, kind: str
) -> None:
    scenario = Synthetic(3, status=status, headers=(("retry-after", "7"),))
    url = server.base_url(scenario, provider="anthropic")
    with pytest.raises(cls) as info:
        await collect(request(url, retry={"enabled": False}))
    error = info.value
    assert isinstance(error, ProviderStatusError)
    assert error.status_code == status
    assert error.retryable is retryable
    assert error.error_type == kind
    assert error.provider_message
    assert error.retry_after == 7
    assert KEY not in str(error)


async def test_recorded_error_body_keeps_the_provider_message(server: LocalProviderServer) -> None:
    scenario = Replay(fixture="anthropic/vercel__error-400-invalid-request.json", status=400)
    with pytest.raises(ProviderStatusError) as info:
        await generate_chat_completion(request(server.base_url(scenario, "anthropic")))
    assert "unexpected `tool_use_id`" in (info.value.provider_message or "")
    assert info.value.error_type == "invalid_request_error"


async def test_overloaded_mid_stream_before_output_is_retried(server: LocalProviderServer) -> None:
    scenario = Synthetic(5, error_after=1, fail_times=1, tag="retry")
    url = server.base_url(scenario, provider="anthropic")
    response = final(await collect(request(url, retry={"max_retries": 1, "retry_delay": 0})))
    assert response.finish_reason == "stop"
    assert len(server.requests) == 2


async def test_overloaded_mid_stream_after_output_keeps_the_partial_response(
    server: LocalProviderServer,
) -> None:
    scenario = Synthetic(8, error_after=6)
    url = server.base_url(scenario, provider="anthropic")
    stream = await generate_chat_completion_stream(request(url))
    received: list[str] = []
    with pytest.raises(ServerError) as info:
        async with stream:
            async for chunk in stream:
                if isinstance(chunk, AssistantMessageDeltaChunk):
                    received.append(chunk.content)
    error = info.value
    assert error.error_type == "overloaded_error"
    assert error.retryable
    assert error.partial_response is not None
    assert error.partial_response.message.content == "".join(received)
    assert received


async def test_forced_tool_structured_output_returns_the_json_as_content(
    server: LocalProviderServer,
) -> None:
    name = "anthropic/vercel__anthropic-json-tool.1.chunks.txt"
    schema = {"type": "object", "properties": {"elements": {"type": "array"}}}
    url = server.base_url(Replay(fixture=name), provider="anthropic")
    req = request(url, response_schema=schema, kwargs={"structured_output": "tool"})
    chunks = await collect(req)
    response = final(chunks)
    assert json.loads(response.message.content) == {
        "elements": [{"location": "San Francisco", "temperature": 58, "condition": "sunny"}]
    }
    assert response.message.tool_calls is None
    assert response.finish_reason == "stop"
    body = server.requests[-1].json
    assert body["tools"][-1] == {
        "name": "json",
        "description": "Respond with a JSON object.",
        "input_schema": schema,
    }
    assert body["tool_choice"] == {"type": "tool", "name": "json"}
    assert "output_config" not in body


async def test_native_structured_output(server: LocalProviderServer) -> None:
    name = "anthropic/vercel__anthropic-json-output-format.1.chunks.txt"
    schema = {"type": "object", "properties": {"characters": {"type": "array"}}}
    url = server.base_url(Replay(fixture=name), provider="anthropic")
    response = final(await collect(request(url, response_schema=schema)))
    assert len(json.loads(response.message.content)["characters"]) == 3
    body = server.requests[-1].json
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "tools" not in body
