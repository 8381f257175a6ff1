"""Supervised attempts over real sockets: hedging, time budgets, catchable errors, records.

Trio runs on an autojumping mock clock (stalls and backoffs cost no wall time); asyncio runs on
real time with short delays, and asserts order and outcome only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import providers.openai
from pipeline import (
    AllAttemptsFailedError,
    AssistantMessageDeltaChunk,
    ChatCompletionChunk,
    FinalResponseChunk,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    aclose_http_clients,
    generate_chat_completion,
    generate_chat_completion_stream,
)
from pipeline.testing import LocalProviderServer, Synthetic, open_local_server

from ._streams import collect, final, in_flight, running_tasks, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.autojump_clock]

KEY = "sk-supervised-test-key-0123456789"
DASH_KEY = "sk-dashscope-test-key-0123456789"
NO_RETRY = {"enabled": False}


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()


def request(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "api_key": KEY,
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {"openai": {"base_url": base_url}},
        **extra,
    }


def fallback_to(base_url: str, **extra: Any) -> dict[str, Any]:
    """A fallback to DashScope (another provider) on the local server."""
    return {
        "provider": "alibaba",
        "api_key": DASH_KEY,
        "model": "qwen-plus",
        "provider_kwargs": {"alibaba": {"base_url": base_url}},
        **extra,
    }


# ---------------------------------------------------------------- hedging


async def test_a_hedge_wins_when_the_primary_stalls(server: LocalProviderServer) -> None:
    stalled = server.base_url(Synthetic(deltas=5, stall_after=0))
    quick = server.base_url(Synthetic(deltas=5, text="from the hedge"), provider="alibaba")
    req = request(stalled, hedge_after=0.05, retry=NO_RETRY, fallbacks=[fallback_to(quick)])
    chunks = await collect(req)
    response = final(chunks)
    assert response.provider == "alibaba"
    assert text_of(chunks) == response.message.content
    assert "hedge" in response.message.content
    records = response.attempts
    assert [(r.provider, r.outcome, r.hedge) for r in records] == [
        ("openai", "cancelled", False),
        ("alibaba", "succeeded", True),
    ]
    assert records[1].time_to_first_token is not None
    # The loser's socket is closed at once: the server sees its stream end.
    with anyio.fail_after(5):
        await server.wait_until(lambda: server.active_streams == 0)
    assert server.streams_aborted == 1
    assert in_flight() == 0


async def test_a_hedge_loses_when_the_primary_answers_first(server: LocalProviderServer) -> None:
    slow = server.base_url(Synthetic(deltas=5, first_token_delay_ms=100, text="primary wins"))
    stalled = server.base_url(Synthetic(deltas=5, stall_after=0), provider="alibaba")
    req = request(slow, hedge_after=0.02, retry=NO_RETRY, fallbacks=[fallback_to(stalled)])
    chunks = await collect(req)
    response = final(chunks)
    assert response.provider == "openai"
    assert text_of(chunks) == response.message.content  # nothing of the loser reached us
    assert [(r.provider, r.outcome) for r in response.attempts] == [
        ("openai", "succeeded"),
        ("alibaba", "cancelled"),
    ]
    with anyio.fail_after(5):
        await server.wait_until(lambda: server.active_streams == 0)
    assert in_flight() == 0


async def test_a_hedge_and_its_primary_both_failing_raise_both(
    server: LocalProviderServer,
) -> None:
    # The primary stalls past the hedge delay, then its connection is cut.
    cut = server.base_url(Synthetic(deltas=5, stall_after=0, stall_seconds=0.2, cut_after=0))
    refused = server.base_url(Synthetic(deltas=5, status=500), provider="alibaba")
    req = request(cut, hedge_after=0.02, retry=NO_RETRY, fallbacks=[fallback_to(refused)])
    with pytest.raises(AllAttemptsFailedError) as info:
        await collect(req)
    assert {type(e).__name__ for e in info.value.errors} >= {"ServerError"}
    assert len(info.value.errors) == 2
    assert sorted(r.provider for r in info.value.attempts) == ["alibaba", "openai"]
    assert all(r.outcome == "failed" for r in info.value.attempts)
    assert in_flight() == 0


async def test_hedging_works_without_streaming(server: LocalProviderServer) -> None:
    stalled = server.base_url(Synthetic(deltas=5, first_token_delay_ms=60_000))
    quick = server.base_url(Synthetic(deltas=5, text="whole hedge"), provider="alibaba")
    req = request(stalled, hedge_after=0.05, retry=NO_RETRY, fallbacks=[fallback_to(quick)])
    response = await generate_chat_completion(req)
    assert response.provider == "alibaba"
    assert "hedge" in (response.message.content or "")
    assert [r.outcome for r in response.attempts] == ["cancelled", "succeeded"]
    assert in_flight() == 0


# ---------------------------------------------------------------- time budgets


async def test_keep_alive_bytes_do_not_reset_the_first_token_timeout(
    server: LocalProviderServer,
) -> None:
    chatty = server.base_url(Synthetic(deltas=5, stall_after=0, keepalive_ms=100))
    quick = server.base_url(Synthetic(deltas=5, text="the fallback speaks"), provider="alibaba")
    req = request(chatty, first_token_timeout=1.0, retry=NO_RETRY, fallbacks=[fallback_to(quick)])
    chunks = await collect(req)
    response = final(chunks)
    assert response.provider == "alibaba"
    first = response.attempts[0]
    assert (first.outcome, first.error_type) == ("failed", "ProviderTimeoutError")
    assert first.time_to_head is not None  # the head came; only the token never did


async def test_the_first_token_timeout_is_typed_when_nothing_is_left(
    server: LocalProviderServer,
) -> None:
    chatty = server.base_url(Synthetic(deltas=5, stall_after=0, keepalive_ms=50))
    with pytest.raises(ProviderTimeoutError) as info:
        await collect(request(chatty, first_token_timeout=0.3, retry=NO_RETRY))
    assert info.value.budget == "first token"
    assert info.value.retryable
    assert in_flight() == 0


async def test_a_slow_consumer_is_never_charged_to_the_provider(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Synthetic(deltas=1000))
    stream = await generate_chat_completion_stream(request(url, timeout=2, retry=NO_RETRY))
    received = []
    async with stream:
        async for chunk in stream:
            if isinstance(chunk, AssistantMessageDeltaChunk):
                received.append(chunk.content)
                await anyio.sleep(0.004)  # 4 s in all: twice the timeout
            elif isinstance(chunk, FinalResponseChunk):
                assert chunk.response.finish_reason == "stop"
    assert len(received) == 1000


async def test_a_whole_call_deadline_is_the_callers_cancel_scope(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Synthetic(deltas=50, pace_ms=100))
    received = 0
    with anyio.move_on_after(0.5) as scope:
        async with await generate_chat_completion_stream(request(url)) as stream:
            async for chunk in stream:
                received += isinstance(chunk, AssistantMessageDeltaChunk)
    assert scope.cancelled_caught
    assert 0 < received < 50
    with anyio.fail_after(5):
        await server.wait_until(lambda: server.active_streams == 0)
    assert in_flight() == 0


# ---------------------------------------------------------------- errors you can catch


async def test_except_rate_limit_error_works_after_the_default_retries(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Synthetic(deltas=5, status=429, headers=(("retry-after", "0.01"),)))
    with pytest.raises(RateLimitError) as info:
        await collect(request(url))  # retry=None: the contract's defaults, 3 retries
    assert len(server.requests) == 4
    assert [r.retry for r in info.value.attempts] == [0, 1, 2, 3]
    assert {r.status_code for r in info.value.attempts} == {429}


async def test_retry_none_and_an_empty_retry_dict_behave_the_same(
    server: LocalProviderServer,
) -> None:
    for retry in (None, {}):
        url = server.base_url(
            Synthetic(deltas=5, status=503, headers=(("retry-after", "0"),), tag=str(retry))
        )
        with pytest.raises(ProviderError) as info:
            await generate_chat_completion(request(url, retry=retry))
        assert len(info.value.attempts) == 4


async def test_a_bug_in_a_codec_is_not_swallowed_by_a_fallback(
    server: LocalProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object, event: object) -> list[object]:
        raise TypeError("a bug in the decoder")

    monkeypatch.setattr(providers.openai.OpenAIStreamDecoder, "feed", broken)
    url = server.base_url(Synthetic(deltas=5))
    spare = server.base_url(Synthetic(deltas=5, tag="spare"), provider="alibaba")
    with pytest.raises(TypeError, match="a bug in the decoder"):
        await collect(request(url, fallbacks=[fallback_to(spare)]))
    assert [r.provider for r in server.requests] == ["openai"]  # the fallback never ran
    assert in_flight() == 0


# ---------------------------------------------------------------- records and logs


async def test_records_and_log_lines_of_a_retry_then_fallback_then_success(
    server: LocalProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    failing = server.base_url(Synthetic(deltas=5, status=500))
    good = server.base_url(Synthetic(deltas=5), provider="alibaba")
    req = request(
        failing, retry={"max_retries": 1, "retry_delay": 0.01}, fallbacks=[fallback_to(good)]
    )
    with caplog.at_level(logging.INFO, logger="pipeline"):
        chunks = await collect(req)
    records = final(chunks).attempts
    assert [(r.provider, r.retry, r.outcome, r.status_code) for r in records] == [
        ("openai", 0, "failed", 500),
        ("openai", 1, "failed", 500),
        ("alibaba", 0, "succeeded", 200),
    ]
    assert records[0].error_type == "ServerError"
    assert all(r.duration is not None and r.duration >= 0 for r in records)
    assert records[2].time_to_head is not None
    assert records[2].time_to_first_token is not None
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "pipeline"]
    assert [level for level, _ in lines] == ["INFO", "WARNING"]
    assert lines[0][1].startswith("retrying openai/gpt-4o")
    assert lines[1][1].startswith("falling back from openai/gpt-4o (retry 1) to alibaba/qwen-plus")
    assert not any(KEY in message or DASH_KEY in message for _, message in lines)


# ---------------------------------------------------------------- random fault schedules

_FAULTS = st.one_of(
    st.just({}),
    st.builds(lambda s: {"status": s}, st.sampled_from([429, 500, 503, 400])),
    st.builds(lambda n: {"cut_after": n}, st.integers(0, 6)),
    st.builds(lambda n: {"cut_after": n, "cut_with_reset": True}, st.integers(0, 6)),
    st.builds(lambda n: {"malformed_after": n}, st.integers(0, 6)),
    st.builds(lambda n: {"error_after": n}, st.integers(0, 6)),
)


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(faults=st.lists(_FAULTS, min_size=1, max_size=4))
def test_random_fault_schedules_never_lose_duplicate_or_replay_a_delta(
    backend: str, faults: list[dict[str, Any]]
) -> None:
    async def scenario() -> None:
        async with open_local_server() as server:
            text = "one two three four five six seven eight"
            urls = [
                server.base_url(Synthetic(deltas=8, text=text, tag=str(i), **fault))
                for i, fault in enumerate(faults)
            ]
            req = request(
                urls[0],
                retry=NO_RETRY,
                fallbacks=[{"provider_kwargs": {"openai": {"base_url": u}}} for u in urls[1:]],
            )
            received: list[str] = []
            try:
                stream = await generate_chat_completion_stream(req)
                async with stream:
                    async for chunk in stream:
                        if isinstance(chunk, AssistantMessageDeltaChunk):
                            received.append(chunk.content)
                        elif isinstance(chunk, FinalResponseChunk):
                            assert chunk.response.message.content == "".join(received)
                assert "".join(received) == text
            except ProviderError as error:
                partial = error.partial_response
                if received:  # committed: what we saw is exactly what the error keeps
                    assert partial is not None
                    assert partial.message.content == "".join(received)
                    assert text.startswith("".join(received))
                else:
                    assert partial is None or not partial.message.content
            finally:
                await aclose_http_clients()
            assert in_flight() == 0

    anyio.run(scenario, backend=backend)


# ---------------------------------------------------------------- tasks


@pytest.mark.parametrize("hedged", [False, True])
async def test_only_a_call_that_can_hedge_starts_tasks(
    server: LocalProviderServer, hedged: bool
) -> None:
    # Without a hedge there is never a second attempt at once: the attempts run in the caller's
    # task, and a thousand concurrent calls carry no task group each while they connect.
    slow = server.base_url(Synthetic(deltas=3, first_token_delay_ms=500))
    also_slow = server.base_url(Synthetic(deltas=3, first_token_delay_ms=500), provider="alibaba")
    extra: dict[str, Any] = {"retry": NO_RETRY, "fallbacks": [fallback_to(also_slow)]}
    if hedged:
        extra["hedge_after"] = 60.0  # the timer waits beside the attempt
    before = running_tasks()
    during: list[str] = []

    async def watch() -> None:
        await server.wait_until(lambda: server.streams_started == 1)
        during.extend(running_tasks())

    stream = await generate_chat_completion_stream(request(slow, **extra))
    async with anyio.create_task_group() as group, stream:
        group.start_soon(watch)
        first = await stream.__anext__()
    assert isinstance(first, AssistantMessageDeltaChunk)
    assert during, "the watcher saw the request arrive"
    shared = "pipeline idle read alarm"  # one per event loop (trio), not one per call
    started = len([t for t in during if t != shared]) - len([t for t in before if t != shared])
    started -= 1  # the watcher itself
    assert started == (2 if hedged else 0)  # the attempt's task and its hedge timer


# ---------------------------------------------------------------- cancellation


async def test_cancelling_during_a_hedge_race_closes_both_sockets(
    server: LocalProviderServer,
) -> None:
    stalled = server.base_url(Synthetic(deltas=5, stall_after=0))
    also_stalled = server.base_url(Synthetic(deltas=5, stall_after=0), provider="alibaba")
    req = request(stalled, hedge_after=0.05, retry=NO_RETRY, fallbacks=[fallback_to(also_stalled)])
    before = running_tasks()
    with anyio.move_on_after(1.0) as scope:
        await collect(req)
    assert scope.cancelled_caught
    assert server.streams_started == 2  # the race was on when the cancellation came
    with anyio.fail_after(5):
        await server.wait_until(lambda: server.active_streams == 0)
    assert in_flight() == 0
    assert set(running_tasks()) <= set(before)  # no attempt or hedge timer is left running


async def test_closing_from_another_task_during_a_backoff_ends_the_stream(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Synthetic(deltas=5, status=503, headers=(("retry-after", "30"),)))
    stream = await generate_chat_completion_stream(request(url))
    received: list[ChatCompletionChunk] = []

    async def consume() -> None:
        received.extend([chunk async for chunk in stream])

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        with anyio.fail_after(5):
            await server.wait_until(lambda: len(server.requests) == 1)
        await anyio.sleep(0.05)  # the 503 is answered: now in the 30 s backoff
        await stream.aclose()
    assert received == []
    assert len(server.requests) == 1  # the retry never went out
    assert in_flight() == 0
