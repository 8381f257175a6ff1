"""One idle deadline per response: ``timeout`` bounds each wait for body bytes, by one alarm.

A body read enters no cancel scope of its own (pipeline._idle, pipeline._network): the waits are
bounded all the same (a stall fails on time, on trio and asyncio, over plain TCP and TLS), the
consumer's own time never counts, a short limit is not held up by a long one, and reads leave
nothing behind (on trio an exited scope would stay in the run's deadline queue for 300 s).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
import sniffio
from anyio.streams.tls import TLSListener

from pipeline import (
    AssistantMessageDeltaChunk,
    ProviderTimeoutError,
    aclose_http_clients,
    generate_chat_completion_stream,
)
from pipeline._idle import RESOLUTION, IdleAlarm
from pipeline._transport import BulkConnectionPool, PoolTransport
from pipeline.testing import LocalProviderServer, Synthetic, open_local_server

from ._raw_server import Seen, chunked, raw_server, read_request
from ._tls import LoopbackCertificate
from ._waiting import SAFETY_NET
from .conftest import on_virtual_clock

pytestmark = pytest.mark.anyio

KEY = "sk-idle-deadline-test-0123456789"


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()


def request(base_url: str, **changes: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "api_key": KEY,
        "model": "m",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {"openai": {"base_url": base_url}},
        "retry": {"enabled": False},
    } | changes


def now() -> float:
    return anyio.current_time()


# ---------------------------------------------------------------- through the public API


@pytest.mark.autojump_clock
async def test_a_stall_fails_one_limit_after_the_last_bytes(server: LocalProviderServer) -> None:
    url = server.base_url(Synthetic(deltas=20, stall_after=3))
    stream = await generate_chat_completion_stream(request(url, timeout=2.0))
    received: list[str] = []
    last_bytes = now()
    with pytest.raises(ProviderTimeoutError) as info:
        async with stream:
            async for chunk in stream:
                if isinstance(chunk, AssistantMessageDeltaChunk):
                    received.append(chunk.content)
                    last_bytes = now()
    failed = now()
    assert info.value.budget == "idle read"
    assert received
    assert info.value.partial_response is not None
    assert info.value.partial_response.message.content == "".join(received)
    assert failed - last_bytes >= 2.0
    if on_virtual_clock():  # exact time: the alarm rings at most one resolution late
        assert failed - last_bytes <= 2.0 + 2 * RESOLUTION


@pytest.mark.autojump_clock
async def test_the_consumers_own_time_never_counts(server: LocalProviderServer) -> None:
    # Each delta comes 0.1 s after the last; the consumer then spends 0.5 s on it. Only the
    # waits for bytes count, and none of them lasts the 0.3 s limit.
    url = server.base_url(Synthetic(deltas=4, pace_ms=100))
    stream = await generate_chat_completion_stream(request(url, timeout=0.3))
    received = []
    async with stream:
        async for chunk in stream:
            if isinstance(chunk, AssistantMessageDeltaChunk):
                received.append(chunk.content)
                await anyio.sleep(0.5)
    assert len(received) == 4


@pytest.mark.autojump_clock
async def test_a_short_limit_is_not_held_up_by_a_long_one(server: LocalProviderServer) -> None:
    # The long stream registers first: the alarm is set for its far deadline, and must be
    # brought forward for the short one. The long one is still streaming when that fails.
    slow = server.base_url(Synthetic(deltas=100, pace_ms=100, tag="slow"))
    stalled = server.base_url(Synthetic(deltas=10, stall_after=1, tag="stalled"))
    slow_deltas = []
    outcome: dict[str, Any] = {}

    async def long_one() -> None:
        stream = await generate_chat_completion_stream(request(slow, timeout=100.0))
        async with stream:
            async for chunk in stream:
                if isinstance(chunk, AssistantMessageDeltaChunk):
                    slow_deltas.append(chunk.content)

    async def short_one() -> None:
        stream = await generate_chat_completion_stream(request(stalled, timeout=0.5))
        started = now()
        try:
            async with stream:
                async for _ in stream:
                    pass
        except ProviderTimeoutError as exc:
            outcome["stalled"] = (exc.budget, now() - started)

    with anyio.fail_after(SAFETY_NET):
        async with anyio.create_task_group() as group:
            group.start_soon(long_one)
            await anyio.sleep(0.25)  # the long one is registered, and streaming
            await short_one()
            running = len(slow_deltas)
            group.cancel_scope.cancel()
    assert running > 0
    budget, took = outcome["stalled"]
    assert budget == "idle read"
    if on_virtual_clock():
        assert took <= 0.5 + 2 * RESOLUTION  # not the long stream's 100 s


@pytest.mark.autojump_clock
async def test_reads_leave_no_cancel_scope_behind(server: LocalProviderServer) -> None:
    # On trio an exited scope stays in the run's deadline queue until its deadline would have
    # passed: one scope per read would leave 200 of them here. asyncio keeps none either way.
    import trio

    def live_scopes() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, trio.CancelScope))

    url = server.base_url(Synthetic(deltas=200, pace_ms=5))
    stream = await generate_chat_completion_stream(request(url, timeout=30.0))
    async with stream:
        count = 0
        async for chunk in stream:
            if isinstance(chunk, AssistantMessageDeltaChunk):
                count += 1
                if count == 20:
                    early = live_scopes()
                if count == 200:
                    late = live_scopes()
    assert count == 200
    assert late - early < 20


# ---------------------------------------------------------------- the alarm's own logic


class FakeBody:
    def __init__(self, limit: float, since: float | None) -> None:
        self.idle_limit = limit
        self.waiting_since = since
        self.expired = False

    async def expire(self) -> None:
        self.expired = True


class ManualAlarm(IdleAlarm):
    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self.due: list[float] = []

    def _set(self, due: float) -> None:
        super()._set(due)
        self.due.append(due)

    def ring(self) -> list[Any]:
        return self._ring()


def test_the_alarm_rings_for_waits_that_lasted_their_limit() -> None:
    time = [100.0]
    alarm = ManualAlarm(lambda: time[0])
    done, busy, idle = FakeBody(5.0, None), FakeBody(5.0, None), FakeBody(30.0, None)
    for body in (done, busy, idle):
        alarm.watch(body)
    assert alarm.due == [105.0]  # set once: later watches are due later
    time[0] = 106.0
    done.waiting_since = 100.5  # waiting for 5.5 s: over its limit
    busy.waiting_since = 104.0  # 2 s: not yet
    assert alarm.ring() == [done]
    assert alarm.due[-1] == 109.0  # busy's wait ends first
    alarm.unwatch(done)
    alarm.unwatch(busy)
    alarm.unwatch(idle)
    assert alarm.due[-1] == float("inf")  # nothing watched: no wake-up at all


def test_the_alarm_never_rings_more_often_than_its_resolution() -> None:
    time = [0.0]
    alarm = ManualAlarm(lambda: time[0])
    body = FakeBody(1.0, None)
    alarm.watch(body)
    time[0] = 0.999
    body.waiting_since = 0.0  # due now, nearly: still a resolution away at least
    assert alarm.ring() == []
    assert alarm.due[-1] == pytest.approx(0.999 + RESOLUTION)


# ---------------------------------------------------------------- TLS


EVENT = b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n'
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


async def _tls_exchange(*, finish: bool, read_timeout: float) -> list[bytes | Exception]:
    certificate = LoopbackCertificate()
    server_tls = certificate.server_context(["http/1.1"])
    client_tls = certificate.client_context(["http/1.1"])
    seen = Seen()

    async def handler(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            await read_request(stream, seen)  # type: ignore[arg-type]
            await stream.send(HEAD + chunked(EVENT, EVENT))
            if finish:
                await stream.send(b"0\r\n\r\n")
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    pool = BulkConnectionPool(
        ssl_context=client_tls, max_connections=2, max_keepalive_connections=2, keepalive_expiry=5
    )
    pieces: list[bytes | Exception] = []
    async with (
        TLSListener(listener, server_tls, standard_compatible=False) as tls,
        anyio.create_task_group() as group,
    ):
        group.start_soon(tls.serve, handler)
        async with httpx.AsyncClient(transport=PoolTransport(pool)) as client:
            timeout = httpx.Timeout(10.0, read=read_timeout)
            async with client.stream(
                "POST", f"https://127.0.0.1:{port}/v1", content=b"{}", timeout=timeout
            ) as response:
                assert response.extensions["network_stream"].get_extra_info("ssl_object")
                try:
                    async for piece in response.aiter_raw():
                        pieces.append(piece)
                except httpx.ReadTimeout as exc:
                    pieces.append(exc)
        group.cancel_scope.cancel()
    return pieces


@pytest.mark.autojump_clock
async def test_a_tls_body_is_read_through_the_bulk_sockets() -> None:
    pieces = await _tls_exchange(finish=True, read_timeout=5.0)
    assert b"".join(p for p in pieces if isinstance(p, bytes)) == EVENT + EVENT


@pytest.mark.autojump_clock
async def test_a_stalled_tls_body_times_out() -> None:
    pieces = await _tls_exchange(finish=False, read_timeout=1.0)
    *received, error = pieces
    assert b"".join(p for p in received if isinstance(p, bytes)) == EVENT + EVENT
    assert isinstance(error, httpx.ReadTimeout)
    assert "no bytes of the body for 1 s" in str(error)


@pytest.mark.autojump_clock
async def test_a_server_that_never_reads_the_request_is_a_write_timeout() -> None:
    async def handler(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        await anyio.sleep_forever()  # the request fills the socket buffers, then the send waits

    huge = "x" * (32 * 1024 * 1024)
    async with raw_server(handler) as (url, _seen):
        messages = [{"role": "user", "content": huge}]
        stream = await generate_chat_completion_stream(request(url, timeout=1.0, messages=messages))
        with pytest.raises(ProviderTimeoutError) as info:
            async with stream:
                async for _ in stream:
                    pass
    if sniffio.current_async_library() == "trio":
        assert info.value.budget == "write"
    else:  # asyncio's transport may take the whole request into its own buffer: then the head
        assert info.value.budget in ("write", "response head")
