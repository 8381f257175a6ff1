"""The public API end to end over a real socket, on trio and asyncio.

Every OpenAI and DashScope recording is replayed by the local provider server and must come
out exactly as EXPECTED.json states; faults are injected by the same server.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import anyio
import pytest

from pipeline import (
    AssistantMessageDeltaChunk,
    AuthenticationError,
    ChatCompletionChunk,
    ProtocolError,
    ProviderConnectionError,
    ProviderStatusError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    aclose_http_clients,
    generate_chat_completion,
    generate_chat_completion_stream,
)
from pipeline.testing import DEMO_TEXT, LocalProviderServer, Replay, Synthetic, open_local_server

from ._expected import assert_matches, fixtures_of
from ._streams import collect, final, running_tasks
from ._waiting import SAFETY_NET, cancel_when, until

pytestmark = pytest.mark.anyio

KEY = "sk-e2e-test-key-0123456789"


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()


def request(base_url: str, provider: str = "openai", **extra: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "api_key": KEY,
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {provider: {"base_url": base_url}},
        **extra,
    }


def assert_chunk_order(chunks: list[ChatCompletionChunk]) -> None:
    kinds = [chunk.type for chunk in chunks]
    assert kinds[-1] == "response"
    tail = [k for k in kinds if k in ("finish_reason", "usage", "response")]
    assert tail in (["finish_reason", "usage", "response"], ["finish_reason", "response"])
    body = kinds[: len(kinds) - len(tail)]
    assert set(body) <= {"content_delta", "content_sentence", "tool_call"}


@pytest.mark.parametrize("name", fixtures_of("openai") + fixtures_of("dashscope"))
async def test_recorded_stream_replays_to_the_expected_result(
    server: LocalProviderServer, name: str
) -> None:
    provider = "alibaba" if name.startswith("dashscope") else "openai"
    url = server.base_url(Replay(fixture=name, slice_bytes=97), provider=provider)
    chunks = await collect(request(url, provider))
    assert_chunk_order(chunks)
    response = final(chunks)
    assert_matches(response, name)
    streamed = "".join(c.content for c in chunks if isinstance(c, AssistantMessageDeltaChunk))
    assert streamed == (response.message.content or "")
    calls = [c.tool_call for c in chunks if c.type == "tool_call"]  # type: ignore[union-attr]
    assert calls == (response.message.tool_calls or [])
    assert response.provider == provider


async def test_the_request_on_the_wire(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=3))
    await collect(request(url, temperature=0, max_tokens=20))
    sent = server.requests[-1]
    assert sent.path.endswith("/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.headers["accept-encoding"] == "identity"
    assert sent.json["stream"] is True
    assert sent.json["stream_options"] == {"include_usage": True}
    assert sent.json["temperature"] == 0
    assert sent.json["max_tokens"] == 20
    assert sent.json["messages"] == [{"role": "user", "content": "Hello"}]


async def test_non_streaming_completion(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=12, tool_calls=1))
    response = await generate_chat_completion(request(url))
    assert server.requests[-1].json.get("stream") in (None, False)
    assert response.message.content
    assert response.message.tool_calls
    assert len(response.message.tool_calls) == 1
    assert isinstance(response.message.tool_calls[0].function.arguments, dict)
    assert response.usage is not None
    assert response.token_usage is not None
    assert response.token_usage.output_tokens > 0


async def test_non_streaming_real_body(server: LocalProviderServer) -> None:
    url = server.base_url(Replay(fixture="openai/vercel__openai-text.json"))
    response = await generate_chat_completion(request(url))
    assert response.finish_reason == "stop"
    assert response.message.content
    assert response.message.content.startswith("**")
    assert response.usage is not None


async def test_non_streaming_retries_then_succeeds(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=5, status=429, fail_times=2))
    response = await generate_chat_completion(
        request(url, retry={"max_retries": 2, "retry_delay": 0.01})
    )
    assert response.finish_reason == "stop"
    assert len(server.requests) == 3


async def test_non_streaming_falls_back_and_reports_every_error(
    server: LocalProviderServer,
) -> None:
    first = server.base_url(Synthetic(deltas=5, status=500))
    second = server.base_url(Synthetic(deltas=5, status=400, tag="second"))
    req = request(
        first,
        retry={"enabled": False},
        fallbacks=[{"provider_kwargs": {"openai": {"base_url": second}}}],
    )
    # One provider throughout: the last error itself, with every attempt recorded.
    with pytest.raises(ProviderStatusError) as info:
        await generate_chat_completion(req)
    assert info.value.status_code == 400
    assert [(a.status_code, a.outcome) for a in info.value.attempts] == [
        (500, "failed"),
        (400, "failed"),
    ]


async def test_sentences_replace_deltas_and_the_response_keeps_raw_text(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Synthetic(deltas=200, text=DEMO_TEXT))
    chunks = await collect(request(url), {"stream_sentences": True})
    assert_chunk_order(chunks)
    kinds = {chunk.type for chunk in chunks}
    assert "content_delta" not in kinds
    sentences = [c.sentence for c in chunks if c.type == "content_sentence"]  # type: ignore[union-attr]
    assert len(sentences) >= 5
    assert all("**" not in s for s in sentences)  # cleaned for speech
    raw = final(chunks).message.content
    assert "**local demo model**" in raw


async def test_breaking_out_closes_the_server_side_connection(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=10_000, pace_ms=1))
    tasks_before = running_tasks()
    stream = await generate_chat_completion_stream(request(url))
    async with stream:
        async for _chunk in stream:
            break
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until_idle()
    assert server.streams_aborted == 1
    assert server.streams_completed == 0
    assert running_tasks() == tasks_before


async def test_dropping_an_unfinished_stream_closes_it(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=10_000, pace_ms=1))
    async for _chunk in await generate_chat_completion_stream(request(url)):
        break
    gc.collect()
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until_idle()
    assert server.streams_aborted == 1


async def test_aclose_mid_stream_and_twice(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=10_000, pace_ms=1))
    stream = await generate_chat_completion_stream(request(url))
    await stream.__anext__()
    await stream.aclose()
    await stream.aclose()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until_idle()
    assert server.streams_aborted == 1


async def test_cancellation_closes_the_response(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=50, stall_after=2))
    stream = await generate_chat_completion_stream(request(url))
    received = []

    async def read_all() -> None:
        async for chunk in stream:
            received.append(chunk)

    # One delta, then the server stalls: cancel while the reader waits for the next event.
    assert await cancel_when(partial(until, lambda: len(received) == 1), read_all)
    assert [chunk.type for chunk in received] == ["content_delta"]
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until_idle()
    assert server.streams_aborted == 1


async def test_rate_limit_is_typed_with_retry_after(server: LocalProviderServer) -> None:
    url = server.base_url(
        Synthetic(deltas=3, status=429, headers=(("retry-after", "1"),)),
    )
    with pytest.raises(RateLimitError) as info:
        await collect(request(url, retry={"enabled": False}))
    error = info.value
    assert error.status_code == 429
    assert error.retry_after == 1.0
    assert error.retryable
    assert error.provider == "openai"
    assert KEY not in str(error)
    assert KEY not in repr(error)


async def test_retry_succeeds_after_a_transient_failure(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=5, status=503, fail_times=1))
    retry = {"max_retries": 2, "retry_delay": 0.01}
    chunks = await collect(request(url, retry=retry))
    assert final(chunks).finish_reason == "stop"
    assert len(server.requests) == 2


async def test_every_attempt_failing_reports_each_error(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=5, status=500))
    with pytest.raises(ServerError) as info:
        await collect(request(url, retry={"max_retries": 1, "retry_delay": 0.01}))
    assert [(a.error_type, a.retry, a.status_code) for a in info.value.attempts] == [
        ("ServerError", 0, 500),
        ("ServerError", 1, 500),
    ]
    assert len(server.requests) == 2


async def test_authentication_error_is_not_retried(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=5, status=401))
    with pytest.raises(AuthenticationError):
        await collect(request(url, retry={"max_retries": 3, "retry_delay": 0.01}))
    assert len(server.requests) == 1


async def test_fallback_runs_when_the_first_provider_fails(server: LocalProviderServer) -> None:
    failing = server.base_url(Synthetic(deltas=5, status=401))
    working = server.base_url(Synthetic(deltas=5, tag="fallback"))
    req = request(
        failing,
        fallbacks=[{"model": "gpt-4o-mini", "provider_kwargs": {"openai": {"base_url": working}}}],
    )
    response = final(await collect(req))
    assert response.finish_reason == "stop"
    assert [r.json["model"] for r in server.requests] == ["gpt-4o", "gpt-4o-mini"]


async def test_cut_after_commit_raises_with_the_partial_response(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Synthetic(deltas=50, cut_after=10))
    stream = await generate_chat_completion_stream(request(url))
    received: list[str] = []
    with pytest.raises((ProviderConnectionError, ProtocolError)) as info:
        async with stream:
            async for chunk in stream:
                if isinstance(chunk, AssistantMessageDeltaChunk):
                    received.append(chunk.content)
    partial = info.value.partial_response
    assert partial is not None
    assert received
    assert partial.message.content == "".join(received)
    assert partial.finish_reason == "incomplete"


async def test_error_event_mid_stream_keeps_what_was_received(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=20, error_after=6))
    received: list[str] = []
    with pytest.raises(ServerError) as info:
        stream = await generate_chat_completion_stream(request(url))
        async with stream:
            async for chunk in stream:
                if isinstance(chunk, AssistantMessageDeltaChunk):
                    received.append(chunk.content)
    error = info.value
    assert error.provider_message == "The server had an error while processing your request."
    assert error.retryable
    assert error.partial_response is not None
    assert error.partial_response.message.content == "".join(received)
    assert received


async def test_error_event_before_any_output_is_retried(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=5, error_after=0, fail_times=1))
    chunks = await collect(request(url, retry={"max_retries": 1, "retry_delay": 0.01}))
    assert final(chunks).finish_reason == "stop"
    assert len(server.requests) == 2


async def test_malformed_json_mid_stream_is_a_protocol_error(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=20, malformed_after=5))
    with pytest.raises(ProtocolError) as info:
        await collect(request(url))
    assert info.value.offset is not None
    assert info.value.partial_response is not None


@pytest.mark.autojump_clock
async def test_request_timeout_bounds_a_stall(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=20, stall_after=0))
    with pytest.raises(ProviderTimeoutError, match="timed out") as info:
        await collect(request(url, timeout=0.2, retry={"enabled": False}))
    assert info.value.budget == "idle read"


async def test_connection_refused_is_a_connection_error() -> None:
    with anyio.fail_after(SAFETY_NET):
        with pytest.raises(ProviderConnectionError) as info:
            await collect(request("http://127.0.0.1:9/v1", retry={"enabled": False}))
    assert info.value.retryable
    await aclose_http_clients()
