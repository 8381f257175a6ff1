"""The bulk-reading HTTP/1.1 transport: warm keep-alive, bulk blocks, typed failures.

Also pins what it relies on in httpcore and h11 (see pyproject.toml): the pool's
``create_connection`` hook, the network streams' ``is_readable`` and h11's ``trailing_data``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import h11
import httpcore
import httpx
import pytest

from pipeline import ProviderConnectionError, aclose_http_clients
from pipeline._http import tls_context
from pipeline._transport import BulkConnection, BulkConnectionPool, PoolTransport
from pipeline.testing import LocalProviderServer, Synthetic, open_local_server

from ._raw_server import Seen, chunked, raw_server, read_request
from ._streams import collect, final, text_of
from ._waiting import SAFETY_NET

pytestmark = pytest.mark.anyio

KEY = "sk-transport-test-key-0123456789"
STREAM = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()


def request(base_url: str, provider: str = "openai") -> dict[str, Any]:
    return {
        "provider": provider,
        "api_key": KEY,
        "model": "m",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {provider: {"base_url": base_url}},
    }


def bulk_client() -> tuple[httpx.AsyncClient, BulkConnectionPool]:
    pool = BulkConnectionPool(
        ssl_context=tls_context(False),
        max_connections=4,
        max_keepalive_connections=4,
        keepalive_expiry=30.0,
    )
    return httpx.AsyncClient(transport=PoolTransport(pool)), pool


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_sequential_streams_reuse_one_warm_connection(
    server: LocalProviderServer, provider: str
) -> None:
    texts = []
    for _ in range(4):
        chunks = await collect(request(server.base_url(Synthetic(5), provider), provider))
        assert final(chunks).finish_reason == "stop"
        texts.append(text_of(chunks))
    assert len(set(texts)) == 1
    assert texts[0]
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until(lambda: server.streams_completed == 4)
    assert server.connections_accepted == 1


async def test_the_pool_makes_bulk_connections_and_reuses_them(
    server: LocalProviderServer,
) -> None:
    """httpcore's pool calls our create_connection, and an idle one serves the next request."""
    client, pool = bulk_client()
    async with client:
        for _ in range(3):
            response = await client.post(
                server.base_url(Synthetic(3)) + "/chat/completions", json=STREAM
            )
            assert response.status_code == 200
            assert response.http_version == "HTTP/1.1"
            assert b"data: [DONE]" in response.content
        connections = pool.connections
        assert [type(c) for c in connections] == [BulkConnection]
        assert isinstance(connections[0], BulkConnection)
        assert connections[0].requests == 3
        assert connections[0].is_idle()
        assert not connections[0].has_expired()  # is_readable: False on a quiet socket
    assert server.connections_accepted == 1


async def test_a_burst_arrives_as_one_block() -> None:
    """Everything the socket has is one read: not one piece per chunk."""
    events = [b'data: {"n": %d}\n\n' % n for n in range(50)]
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    raw = head + chunked(*events) + b"0\r\n\r\n"

    async def handler(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        await read_request(stream, seen)
        await stream.send(raw)
        await anyio.sleep_forever()

    client, _ = bulk_client()
    async with (
        raw_server(handler) as (url, _seen),
        client,
        client.stream("POST", url, json=STREAM) as response,
    ):
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        blocks = [block async for block in stream]
    assert blocks == [b"".join(events)]


async def test_a_server_that_closed_an_idle_connection_gets_a_new_one() -> None:
    body = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"

    closed = anyio.Event()

    async def handler(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        await read_request(stream, seen)
        await stream.send(body)
        await stream.aclose()  # although the answer allowed keep-alive
        closed.set()

    client, pool = bulk_client()
    async with raw_server(handler) as (url, seen), client:
        assert (await client.get(url)).content == b"ok"
        with anyio.fail_after(SAFETY_NET):
            await closed.wait()
            # No event tells when the FIN reaches this side: poll the public check.
            while pool.connections and not pool.connections[0].has_expired():  # noqa: ASYNC110
                await anyio.sleep(0.001)
        assert (await client.get(url)).content == b"ok"
        assert seen.accepted == 2


async def test_content_length_and_connection_close_bodies() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil close",
    ]

    async def handler(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        for answer in answers:  # both on one connection, which the second one ends
            await read_request(stream, seen)
            await stream.send(answer)

    client, _ = bulk_client()
    async with raw_server(handler) as (url, seen), client:
        assert (await client.get(url)).content == b"hello"
        assert (await client.get(url)).content == b"until close"
        assert seen.accepted == 1
        # The body ended with the connection: the next request needs a new one.
        assert (await client.get(url)).content == b"hello"
        assert seen.accepted == 2


async def test_broken_framing_is_a_connection_error_naming_the_byte() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    raw = head + chunked(b'data: {"choices": []}\n\n') + b"XYZ\r\n"

    async def handler(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        await read_request(stream, seen)
        await stream.send(raw)
        await anyio.sleep_forever()

    async with raw_server(handler) as (url, _seen):
        req = request(url) | {"retry": {"enabled": False}}
        with pytest.raises(ProviderConnectionError, match=r"at byte 29\)"):
            await collect(req)


def test_h11_keeps_the_bytes_read_with_the_head() -> None:
    """The transport takes the body's first bytes from h11's public ``trailing_data``."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc")
    assert isinstance(client.next_event(), h11.Response)
    assert client.trailing_data == (b"3\r\nabc", False)


def test_the_pool_hook_and_interfaces_exist() -> None:
    """What the transport builds on, as httpcore exposes it."""
    assert callable(httpcore.AsyncConnectionPool.create_connection)
    for name in ("handle_async_request", "is_available", "has_expired", "is_idle", "is_closed"):
        assert hasattr(httpcore.AsyncConnectionInterface, name)
    for name in ("read", "write", "start_tls", "get_extra_info", "aclose"):
        assert hasattr(httpcore.AsyncNetworkStream, name)


@pytest.mark.autojump_clock
async def test_a_body_kept_open_after_the_terminal_event_costs_one_new_connection() -> None:
    """The next request tries to drain the last body, gives up (bounded), and reconnects."""
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    event = b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n'
    done = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    raw = head + chunked(event, done, b"data: [DONE]\n\n")  # and the body never ends

    async def handler(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        await read_request(stream, seen)
        await stream.send(raw)
        await anyio.sleep_forever()

    async with raw_server(handler) as (url, seen):
        for _ in range(2):
            chunks = await collect(request(url))
            assert text_of(chunks) == "Hi"
            assert final(chunks).finish_reason == "stop"
        assert seen.accepted == 2
