"""Adversarial tests of the streaming path: leaks, cancellation, retries, typed errors.

Every test runs on trio and asyncio against a real socket: the local provider server, or a raw
TCP listener for what that server cannot do (never answer, send broken HTTP). Each asserts the
pooled clients' ``in_flight`` counters return to zero, so a leak on any path fails a test.

Nothing here depends on how fast the machine is. A test cancels or closes when an event says
the client reached the state under test (the server received the request, the client holds its
first chunks), never after a guessed delay. Tests about durations (retry waits, timeouts) carry
``autojump_clock``: their trio case runs in virtual time, where a duration is exact; their
asyncio case asserts only what load cannot change (order, outcome, a lower bound). Deadlines
that remain are safety nets against a hang (:data:`SAFETY_NET`), never a claim about speed.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from pipeline import (
    AllAttemptsFailedError,
    AssistantMessageDeltaChunk,
    ChatCompletionChunk,
    FinalResponseChunk,
    ProtocolError,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    aclose_http_clients,
    generate_chat_completion,
    generate_chat_completion_stream,
)
from pipeline.testing import LocalProviderServer, Synthetic, open_local_server

from ._raw_server import Seen, answer_with, never_answer, raw_server
from ._streams import collect, in_flight
from ._waiting import SAFETY_NET, cancel_when, until
from .conftest import on_virtual_clock

pytestmark = pytest.mark.anyio

KEY = "sk-robustness-test-key-0123456789"
FAST_RETRY = {"max_retries": 1, "retry_delay": 0.01}


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        assert in_flight() == 0
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


def fallback(base_url: str, **extra: Any) -> dict[str, Any]:
    return {"provider_kwargs": {"openai": {"base_url": base_url}}, **extra}


async def settle(server: LocalProviderServer) -> None:
    """Wait until the server saw every stream end."""
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until(lambda: server.active_streams == 0)


async def released() -> None:
    """Wait until a background close handed every shard back."""
    await until(lambda: in_flight() == 0)


async def in_retry_wait(server: LocalProviderServer, requests: int = 1) -> None:
    """Wait until the client got the answer to its ``requests``-th request and let go of it.

    The shard is taken before a request is sent and handed back once its error is read, so
    both together mean the client is in (or entering) the wait before its next attempt.
    """
    await until(lambda: len(server.requests) == requests and in_flight() == 0)


# ---------------------------------------------------------------- cancellation


async def test_cancel_while_waiting_for_the_response_head() -> None:
    async with raw_server(never_answer) as (url, seen):
        stream = await generate_chat_completion_stream(request(url))
        got_request = partial(seen.wait_until, lambda: seen.requests == 1)
        assert await cancel_when(got_request, stream.__anext__)
        assert (seen.accepted, seen.requests) == (1, 1)
        assert in_flight() == 0
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        assert seen.accepted == 1  # finished: no new request after the cancellation


async def test_cancel_in_the_middle_of_sending_the_body_leaves_nothing_behind() -> None:
    # A body far larger than the socket buffers, to a server that stops reading after the
    # first bytes: the client is blocked mid-send when the cancellation arrives. The body's
    # stream must leave no suspended generator for the garbage collector (trio warns).
    first_bytes = anyio.Event()

    async def read_a_little(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        await stream.receive()
        first_bytes.set()
        await anyio.sleep_forever()

    async with raw_server(read_a_little) as (url, seen):
        huge = request(url, messages=[{"role": "user", "content": "x" * 8_000_000}])
        stream = await generate_chat_completion_stream(huge)
        assert await cancel_when(first_bytes.wait, stream.__anext__)
        assert seen.accepted == 1
        assert in_flight() == 0
        del stream
        gc.collect()
        await anyio.lowlevel.checkpoint()  # a finalizer's warning would surface here


@pytest.mark.autojump_clock
async def test_cancel_during_the_retry_sleep_finishes_the_stream(
    server: LocalProviderServer,
) -> None:
    # 60 s: the longest Retry-After the supervisor honours (and more than SAFETY_NET).
    url = server.base_url(Synthetic(deltas=5, status=429, headers=(("retry-after", "60"),)))
    stream = await generate_chat_completion_stream(request(url, retry={"max_retries": 3}))
    started = anyio.current_time()
    assert await cancel_when(partial(in_retry_wait, server), stream.__anext__)
    assert anyio.current_time() - started < 60  # the wait was cut short, not slept through
    assert len(server.requests) == 1
    assert in_flight() == 0
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert len(server.requests) == 1  # the cancelled retry is not sent later


async def test_cancel_during_a_read_closes_and_finishes(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=50, stall_after=3))
    stream = await generate_chat_completion_stream(request(url))
    received: list[ChatCompletionChunk] = []

    async def read_all() -> None:
        async for chunk in stream:
            received.append(chunk)

    # After two deltas the server stalls: the reader is then blocked reading the third.
    assert await cancel_when(partial(until, lambda: len(received) == 2), read_all)
    assert [c.type for c in received] == ["content_delta"] * 2  # the 3rd event is the stall
    assert in_flight() == 0
    await settle(server)
    assert server.streams_aborted == 1
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_aclose_inside_a_cancelled_scope_still_closes(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=10_000, pace_ms=1))
    stream = await generate_chat_completion_stream(request(url))
    await stream.__anext__()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await stream.aclose()
        await anyio.lowlevel.checkpoint()  # the cancellation is delivered, not swallowed
        pytest.fail("not cancelled")
    assert scope.cancelled_caught
    assert in_flight() == 0
    await settle(server)
    assert server.streams_aborted == 1


@pytest.mark.autojump_clock
async def test_a_retry_never_outlives_the_callers_cancellation(
    server: LocalProviderServer,
) -> None:
    # The request timeout and the caller's deadline expire together: the attempt's timeout
    # may win the race, but the retry it asks for must not run past the caller's deadline.
    url = server.base_url(Synthetic(deltas=20, stall_after=0))
    stream = await generate_chat_completion_stream(
        request(url, timeout=0.2, retry={"max_retries": 5, "retry_delay": 0.01})
    )
    with anyio.move_on_after(0.2) as scope:
        await stream.__anext__()
    assert scope.cancelled_caught
    assert len(server.requests) <= 2
    assert in_flight() == 0
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def close_from_another_task(
    stream: Any, wait: Callable[[list[ChatCompletionChunk]], Awaitable[None]]
) -> list[object]:
    """Iterate ``stream`` in one task, ``aclose`` it from another once ``wait(received)`` returns.

    ``received`` is the list of chunks the reading task has got so far.
    """
    outcome: list[object] = []
    received: list[ChatCompletionChunk] = []

    async def read() -> None:
        try:
            async for chunk in stream:
                received.append(chunk)
        except Exception as exc:
            outcome.append(exc)
        else:
            outcome.append("ended")

    async def wait_then_close() -> None:
        await wait(received)
        await stream.aclose()

    with anyio.fail_after(SAFETY_NET):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            tg.start_soon(wait_then_close)
    return outcome


async def test_aclose_from_another_task_ends_the_reader_quietly(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Synthetic(deltas=50, stall_after=2))
    stream = await generate_chat_completion_stream(request(url))

    async def reading(received: list[ChatCompletionChunk]) -> None:
        # One delta, then the server stalls: the reader is blocked reading the next event.
        await until(lambda: len(received) == 1)

    assert await close_from_another_task(stream, reading) == ["ended"]
    assert in_flight() == 0
    await settle(server)
    assert server.streams_aborted == 1


async def test_aclose_from_another_task_interrupts_the_wait_for_the_head() -> None:
    async with raw_server(never_answer) as (url, seen):
        stream = await generate_chat_completion_stream(request(url))

        async def sent(received: list[ChatCompletionChunk]) -> None:
            await seen.wait_until(lambda: seen.requests == 1)

        assert await close_from_another_task(stream, sent) == ["ended"]
        assert in_flight() == 0


async def test_aclose_from_another_task_interrupts_a_retry_wait(
    server: LocalProviderServer,
) -> None:
    url = server.base_url(Synthetic(deltas=5, status=503, headers=(("retry-after", "60"),)))
    stream = await generate_chat_completion_stream(request(url))

    async def first_failure(received: list[ChatCompletionChunk]) -> None:
        await in_retry_wait(server)

    assert await close_from_another_task(stream, first_failure) == ["ended"]
    assert len(server.requests) == 1
    assert in_flight() == 0


# ---------------------------------------------------------------- dropped streams


async def test_a_dropped_stream_is_closed_and_released(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=10_000, pace_ms=1))
    stream = await generate_chat_completion_stream(request(url))
    await stream.__anext__()
    assert in_flight() == 1
    del stream
    gc.collect()
    await settle(server)
    await released()
    assert server.streams_aborted == 1


async def test_a_stream_dropped_in_a_worker_thread_is_closed(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=10_000, pace_ms=1))
    holder = [await generate_chat_completion_stream(request(url))]
    await holder[0].__anext__()
    await anyio.to_thread.run_sync(holder.clear)  # the last reference goes away off the loop
    gc.collect()
    await settle(server)
    await released()
    assert server.streams_aborted == 1


async def test_a_stream_dropped_outside_any_task_is_closed(
    server: LocalProviderServer, anyio_backend: str
) -> None:
    url = server.base_url(Synthetic(deltas=10_000, pace_ms=1))
    holder = [await generate_chat_completion_stream(request(url))]
    await holder[0].__anext__()
    if anyio_backend == "trio":
        import trio

        trio.lowlevel.current_trio_token().run_sync_soon(holder.clear)
    else:
        import asyncio

        asyncio.get_running_loop().call_soon(holder.clear)
    await until(lambda: not holder)
    gc.collect()
    await settle(server)
    await released()
    assert server.streams_aborted == 1


# ---------------------------------------------------------------- retries and fallbacks


@pytest.mark.autojump_clock
async def test_retry_after_ms_is_honoured(server: LocalProviderServer) -> None:
    url = server.base_url(
        Synthetic(deltas=3, status=429, headers=(("retry-after-ms", "300"),), fail_times=1)
    )
    started = anyio.current_time()
    with anyio.fail_after(SAFETY_NET):
        chunks = await collect(request(url, retry={"max_retries": 2, "retry_delay": 0.001}))
    elapsed = anyio.current_time() - started
    assert elapsed >= 0.29  # a lower bound: load only ever adds to it
    if on_virtual_clock():
        assert elapsed < 0.31  # the 300 ms asked for, not the 1 ms retry_delay or longer
    assert isinstance(chunks[-1], FinalResponseChunk)
    assert len(server.requests) == 2


@pytest.mark.autojump_clock
async def test_a_huge_retry_after_moves_straight_to_the_fallback(
    server: LocalProviderServer,
) -> None:
    first = server.base_url(Synthetic(deltas=3, status=429, headers=(("retry-after", "3600"),)))
    second = server.base_url(Synthetic(deltas=3, tag="fallback"))
    started = anyio.current_time()
    with anyio.fail_after(SAFETY_NET):
        chunks = await collect(
            request(first, retry={"max_retries": 5}, fallbacks=[fallback(second)])
        )
    # On the virtual clock an hour's wait would be skipped, not avoided: the time shows it.
    assert anyio.current_time() - started < 3600
    assert isinstance(chunks[-1], FinalResponseChunk)
    assert len(server.requests) == 2


async def test_failure_after_the_commit_point_is_not_replayed(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=30, cut_after=5, cut_with_reset=True))
    second = server.base_url(Synthetic(deltas=3, tag="fallback"))
    received: list[str] = []
    stream = await generate_chat_completion_stream(
        request(url, retry={"max_retries": 3, "retry_delay": 0.01}, fallbacks=[fallback(second)])
    )
    with pytest.raises(ProviderConnectionError) as info:
        async with stream:
            async for chunk in stream:
                if isinstance(chunk, AssistantMessageDeltaChunk):
                    received.append(chunk.content)
    assert len(server.requests) == 1
    partial = info.value.partial_response
    assert partial is not None
    assert partial.message.content == "".join(received)
    assert received
    assert partial.finish_reason == "incomplete"
    assert in_flight() == 0


async def test_every_failure_is_listed_once_and_typed(server: LocalProviderServer) -> None:
    first = server.base_url(Synthetic(deltas=3, status=500))
    second = server.base_url(Synthetic(deltas=3, cut_after=0, tag="cut"))
    third = server.base_url(Synthetic(deltas=3, status=400, tag="bad"))
    req = request(
        first,
        retry=FAST_RETRY,
        fallbacks=[fallback(second, retry={"enabled": False}), fallback(third)],
    )
    # One provider throughout: the last error itself, every attempt on record.
    with anyio.fail_after(SAFETY_NET), pytest.raises(ProviderStatusError) as info:
        await collect(req)
    records = info.value.attempts
    assert info.value.status_code == 400
    assert [r.error_type for r in records[:2]] == ["ServerError", "ServerError"]
    assert records[2].error_type in {"ProviderConnectionError", "ProtocolError"}
    assert records[3].status_code == 400
    assert [r.outcome for r in records] == ["failed"] * 4
    assert len(server.requests) == 4
    assert info.value.partial_response is None


async def test_a_single_connection_failure_keeps_its_transport_cause() -> None:
    async with raw_server(answer_with(b"garbage\r\n\r\n")) as (url, _):
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProviderConnectionError) as info:
            await collect(request(url, retry={"enabled": False}))
    assert not isinstance(info.value, AllAttemptsFailedError)
    assert info.value.__cause__ is not None  # the httpx error is kept for debugging


async def test_a_user_stage_error_is_not_an_attempt_failure(server: LocalProviderServer) -> None:
    class Explode:
        def feed(self, chunk: ChatCompletionChunk, /) -> Sequence[ChatCompletionChunk]:
            raise ValueError("stage bug")

        def flush(self) -> Sequence[ChatCompletionChunk]:
            return ()

    url = server.base_url(Synthetic(deltas=3))
    second = server.base_url(Synthetic(deltas=3, tag="fallback"))
    with anyio.fail_after(SAFETY_NET), pytest.raises(ValueError, match="stage bug"):
        await collect(request(url, fallbacks=[fallback(second)]), stages=[Explode()])
    assert len(server.requests) == 1
    assert in_flight() == 0


# ---------------------------------------------------------------- timeouts


@pytest.mark.autojump_clock
async def test_timeout_is_per_attempt(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=3, stall_after=0, fail_times=1))
    started = anyio.current_time()
    with anyio.fail_after(SAFETY_NET):
        chunks = await collect(request(url, timeout=0.3, retry=FAST_RETRY))
    elapsed = anyio.current_time() - started
    assert isinstance(chunks[-1], FinalResponseChunk)
    assert elapsed >= 0.3  # the first attempt waited out its own timeout
    if on_virtual_clock():
        assert elapsed < 0.6  # ...once: the second attempt was not cut by the first's clock
    assert len(server.requests) == 2


@pytest.mark.autojump_clock
async def test_timeout_bounds_each_wait_not_the_whole_body(server: LocalProviderServer) -> None:
    # 40 deltas 20 ms apart take longer than the timeout, but no single wait does.
    url = server.base_url(Synthetic(deltas=40, pace_ms=20))
    received: list[str] = []
    stream = await generate_chat_completion_stream(request(url, timeout=0.3, retry=FAST_RETRY))
    with anyio.fail_after(SAFETY_NET):
        async with stream:
            async for chunk in stream:
                if isinstance(chunk, AssistantMessageDeltaChunk):
                    received.append(chunk.content)
                elif isinstance(chunk, FinalResponseChunk):
                    assert chunk.response.message.content == "".join(received)
    assert len(received) == 40
    assert len(server.requests) == 1


@pytest.mark.autojump_clock
async def test_an_idle_read_timeout_after_the_commit_keeps_the_partial(
    server: LocalProviderServer,
) -> None:
    # Five deltas at once, then a stall: the timeout fires in the body, after the commit point.
    url = server.base_url(Synthetic(deltas=40, stall_after=5))
    received: list[str] = []
    stream = await generate_chat_completion_stream(request(url, timeout=1.0, retry=FAST_RETRY))
    with (
        anyio.fail_after(SAFETY_NET),
        pytest.raises(ProviderTimeoutError, match="timed out") as info,
    ):
        async with stream:
            async for chunk in stream:
                if isinstance(chunk, AssistantMessageDeltaChunk):
                    received.append(chunk.content)
    assert info.value.budget == "idle read"
    assert received
    assert info.value.partial_response is not None
    assert info.value.partial_response.message.content == "".join(received)
    assert len(server.requests) == 1


@pytest.mark.autojump_clock
async def test_timeout_while_waiting_for_the_head_is_typed_and_retried() -> None:
    async with raw_server(never_answer) as (url, seen):
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProviderTimeoutError) as info:
            await collect(request(url, timeout=0.15, retry=FAST_RETRY))
        assert info.value.budget == "response head"
        assert [r.error_type for r in info.value.attempts] == ["ProviderTimeoutError"] * 2
        # Each attempt connected (the listener may count the second one a moment later).
        await seen.wait_until(lambda: seen.accepted == 2)
        assert in_flight() == 0


async def test_non_streaming_timeout_and_cancellation() -> None:
    async with raw_server(never_answer) as (url, _):
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProviderTimeoutError, match="timed out"):
            await generate_chat_completion(request(url, timeout=0.1, retry={"enabled": False}))
        with anyio.move_on_after(0.1) as scope:
            await generate_chat_completion(request(url, retry={"enabled": False}))
        assert scope.cancelled_caught
        assert in_flight() == 0


# ---------------------------------------------------------------- typed errors


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\nZZ\r\nnot chunked",
            id="bad-chunk",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"content-encoding: gzip\r\ncontent-length: 10\r\n\r\nnotgzip!!!",
            id="gzip",
            # httpx leaves its inner body generators suspended after a DecodingError; trio
            # warns when it collects them. Nothing outside httpx can reach them to finish them.
            marks=pytest.mark.filterwarnings("ignore::ResourceWarning"),
        ),
        pytest.param(b"HTTP/1.1 500 Oops\r\ncontent-length: 100\r\n\r\nshort", id="short-error"),
        pytest.param(b"", id="closed"),
    ],
)
async def test_broken_http_is_a_typed_provider_error(raw: bytes) -> None:
    async with raw_server(answer_with(raw)) as (url, _):
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProviderError) as info:
            await collect(request(url, retry={"enabled": False}))
        assert info.value.provider == "openai"
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProviderError):
            await generate_chat_completion(request(url, retry={"enabled": False}))
        assert in_flight() == 0


async def test_rate_limit_without_retries_is_the_error_itself(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=3, status=429))
    with pytest.raises(RateLimitError):
        await collect(request(url, retry={"enabled": False}))


# ---------------------------------------------------------------- order and concurrency


async def test_chunk_order_with_tool_calls_one_byte_at_a_time(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=12, tool_calls=2, slice_bytes=1))
    chunks = await collect(request(url))
    kinds = [c.type for c in chunks]
    assert kinds[-3:] == ["finish_reason", "usage", "response"]
    assert kinds.count("tool_call") == 2
    assert kinds.index("tool_call") > max(i for i, k in enumerate(kinds) if k == "content_delta")
    response = chunks[-1].response  # type: ignore[union-attr]
    text = "".join(c.content for c in chunks if isinstance(c, AssistantMessageDeltaChunk))
    assert response.message.content == text
    assert response.finish_reason == "tool_calls"


async def test_two_hundred_concurrent_streams_leave_nothing_behind(
    server: LocalProviderServer,
) -> None:
    ok = server.base_url(Synthetic(deltas=20, slice_bytes=50))
    failing = server.base_url(Synthetic(deltas=20, status=503, tag="fail"))
    cut = server.base_url(Synthetic(deltas=20, cut_after=4, tag="cut"))
    slow = server.base_url(Synthetic(deltas=20, stall_after=2, tag="stall"))
    results: dict[str, int] = {"ok": 0, "failed": 0, "cut": 0, "cancelled": 0, "broke": 0}

    async def one(i: int) -> None:
        kind = i % 5
        if kind == 0:
            chunks = await collect(request(ok))
            assert isinstance(chunks[-1], FinalResponseChunk)
            results["ok"] += 1
        elif kind == 1:
            with pytest.raises(ServerError):
                await collect(request(failing, retry={"enabled": False}))
            results["failed"] += 1
        elif kind == 2:
            with pytest.raises((ProviderConnectionError, ProtocolError)):
                await collect(request(cut, retry={"enabled": False}))
            results["cut"] += 1
        elif kind == 3:
            with anyio.move_on_after(0.3) as scope:
                await collect(request(slow))
            assert scope.cancelled_caught
            results["cancelled"] += 1
        else:
            stream = await generate_chat_completion_stream(request(ok))
            async with stream:
                async for _ in stream:
                    break
            results["broke"] += 1

    with anyio.fail_after(SAFETY_NET):
        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
    assert results == {"ok": 40, "failed": 40, "cut": 40, "cancelled": 40, "broke": 40}
    assert in_flight() == 0
    await settle(server)
    await aclose_http_clients()
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until_idle()


async def test_non_streaming_connection_failure_keeps_its_transport_cause() -> None:
    async with raw_server(answer_with(b"garbage\r\n\r\n")) as (url, _):
        with anyio.fail_after(SAFETY_NET), pytest.raises(ProviderConnectionError) as info:
            await generate_chat_completion(request(url, retry={"enabled": False}))
    assert info.value.__cause__ is not None


def test_a_long_retry_budget_caps_the_backoff_instead_of_overflowing() -> None:
    from pipeline._plan import plan_requests
    from pipeline._schedule import MAX_BACKOFF, Schedule
    from pipeline._validation import to_request

    typed = to_request(
        request("http://127.0.0.1:9/v1", retry={"max_retries": 400, "backoff_multiplier": 10.0})
    )
    schedule = Schedule(plan_requests(typed))
    error = ServerError("boom", provider="openai", retryable=True)
    launch = schedule.start()
    delays = []
    for _ in range(400):
        next_launch = schedule.failed(launch, error, running=0)
        assert next_launch is not None
        delays.append(next_launch.delay)
        launch = next_launch
    assert all(d <= MAX_BACKOFF for d in delays)
    assert schedule.failed(launch, error, running=0) is None
    assert schedule.exhausted
