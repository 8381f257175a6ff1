"""``http2=True`` end to end against a real HTTP/2 server on loopback (h2c), on trio and asyncio.

The server (``pipeline.testing.open_local_http2_server``) counts connections and HTTP/2 streams
and records every RST_STREAM it receives, so these tests assert what crossed the wire: many
streams sharing one connection, a server reset mid-stream surfacing as a typed, retryable error
with exactly the text received, a consumer that leaves early closing its stream and leaking no
socket, an HTTP/1.1 request to the h2c-only server failing clearly, and fallbacks inheriting the
option.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import h2.errors
import pytest
from anyio.streams.tls import TLSListener

from pipeline import (
    AssistantMessageDeltaChunk,
    ChatCompletionRequest,
    CompletionsProvider,
    ProviderConnectionError,
    RequestValidationError,
    ServerError,
    UserMessage,
    _http,
    aclose_http_clients,
    generate_chat_completion,
    generate_chat_completion_stream,
    warm_up,
)
from pipeline._plan import plan_requests
from pipeline._validation import to_request
from pipeline.testing import (
    LocalHttp2Server,
    LocalProviderServer,
    Synthetic,
    default_fixtures_dir,
    open_local_http2_server,
    scenario_base_url,
)
from pipeline.testing._text import synthetic_tokens

from ._streams import collect, final, running_tasks, text_of
from ._tls import LoopbackCertificate
from ._waiting import SAFETY_NET

pytestmark = pytest.mark.anyio

KEY = "sk-h2-test-key-0123456789"


@pytest.fixture
async def server() -> AsyncIterator[LocalHttp2Server]:
    async with open_local_http2_server() as running:
        yield running
        await aclose_http_clients()


def request(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "api_key": KEY,
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {"openai": {"base_url": base_url}},
        "http2": True,
        **extra,
    }


def sockets_to(port: int) -> int:
    """This process's TCP sockets whose remote end is ``port`` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target.startswith("socket:[") and target[8:-1] in inodes
    return count


async def closed_and_idle(server: LocalHttp2Server) -> None:
    """Close the shared clients, then wait until the server has no connection left."""
    await aclose_http_clients()
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until_idle()
    assert sockets_to(server.port) == 0


# ---------------------------------------------------------------- many streams, one connection


async def test_concurrent_streams_share_one_connection(server: LocalHttp2Server) -> None:
    streams = 24
    spec = Synthetic(12, pace_ms=1)
    url = server.base_url(spec)
    texts: list[str] = []

    async def one() -> None:
        texts.append(text_of(await collect(request(url))))

    with anyio.fail_after(SAFETY_NET):
        async with anyio.create_task_group() as group:
            for _ in range(streams):
                group.start_soon(one)
    assert texts == ["".join(synthetic_tokens(spec))] * streams
    assert server.connections_accepted == 1
    assert server.h2_streams_opened == streams
    assert server.streams_started == streams
    assert server.errors == []
    await closed_and_idle(server)


async def test_non_streaming_completion_over_http2(server: LocalHttp2Server) -> None:
    spec = Synthetic(5)
    response = await generate_chat_completion(request(server.base_url(spec)))
    assert response.message.content == "".join(synthetic_tokens(spec))
    assert server.h2_streams_opened == 1
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


# ---------------------------------------------------------------- faults


async def test_a_server_reset_mid_stream_is_retryable_with_the_text_received(
    server: LocalHttp2Server,
) -> None:
    spec = Synthetic(20, cut_after=6)  # event 0 is the role chunk: 5 deltas, then RST_STREAM
    url = server.base_url(spec)
    received: list[str] = []
    with pytest.raises(ProviderConnectionError) as info:
        stream = await generate_chat_completion_stream(request(url, retry={"enabled": False}))
        async with stream:
            async for chunk in stream:
                if isinstance(chunk, AssistantMessageDeltaChunk):
                    received.append(chunk.content)
    error = info.value
    assert error.retryable
    assert list(received) == list(synthetic_tokens(spec)[:5])
    assert error.partial_response is not None
    assert error.partial_response.message.content == "".join(received)
    assert error.partial_response.finish_reason == "incomplete"
    assert server.streams_cut == 1
    assert KEY not in str(error)


async def test_a_reset_before_the_first_token_is_retried(server: LocalHttp2Server) -> None:
    spec = Synthetic(4, cut_after=1, fail_times=1)
    chunks = await collect(request(server.base_url(spec), retry={"retry_delay": 0.01}))
    assert text_of(chunks) == "".join(synthetic_tokens(spec))
    assert [a.outcome for a in final(chunks).attempts or ()] == ["failed", "succeeded"]
    assert server.connections_accepted == 1  # the reset stream left the connection usable


async def test_a_500_before_the_headers_is_a_typed_error(server: LocalHttp2Server) -> None:
    url = server.base_url(Synthetic(4, status=500))
    with pytest.raises(ServerError) as info:
        await collect(request(url, retry={"enabled": False}))
    assert info.value.status_code == 500
    assert server.h2_streams_opened == 1


async def test_http1_against_the_h2c_only_server_is_a_clear_error(
    server: LocalHttp2Server,
) -> None:
    url = server.base_url(Synthetic(4))
    with anyio.fail_after(SAFETY_NET), pytest.raises(ServerError) as info:
        await collect(request(url, http2=False, retry={"enabled": False}))
    assert info.value.status_code == 505
    assert "HTTP/2 only" in str(info.value)
    assert server.h2_streams_opened == 0


# ---------------------------------------------------------------- leaving early


async def test_closing_early_resets_the_stream_and_leaks_nothing(
    server: LocalHttp2Server,
) -> None:
    url = server.base_url(Synthetic(50, stall_after=3))  # 2 deltas, then silence forever
    tasks_before = sorted(running_tasks())
    stream = await generate_chat_completion_stream(request(url))
    async with stream:
        async for chunk in stream:
            if chunk.type == "content_delta":
                break
    assert sorted(running_tasks()) == tasks_before
    # The stream ends at the reset, while its connection stays open for the next request.
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until(lambda: server.streams_aborted == 1)
    assert server.resets_received == [h2.errors.ErrorCodes.CANCEL]
    assert server.open_connections == 1
    spec = Synthetic(3, tag="after")
    assert text_of(await collect(request(server.base_url(spec)))) == "".join(synthetic_tokens(spec))
    assert server.connections_accepted == 1
    await closed_and_idle(server)
    assert server.streams_completed == 1


async def test_cancelling_the_consumer_resets_the_stream(server: LocalHttp2Server) -> None:
    url = server.base_url(Synthetic(50, stall_after=3))
    got: list[str] = []
    with anyio.move_on_after(SAFETY_NET) as scope:
        stream = await generate_chat_completion_stream(request(url))
        async with stream:
            async for chunk in stream:
                if isinstance(chunk, AssistantMessageDeltaChunk):
                    got.append(chunk.content)
                    if len(got) == 2:
                        scope.cancel()  # the next read waits on the stall: cancelled there
    assert scope.cancelled_caught
    assert len(got) == 2
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until(lambda: server.streams_aborted == 1)
    assert server.resets_received == [h2.errors.ErrorCodes.CANCEL]
    await closed_and_idle(server)


async def test_cancelling_before_the_head_resets_the_stream(server: LocalHttp2Server) -> None:
    url = server.base_url(Synthetic(3, first_token_delay_ms=60_000))
    with anyio.move_on_after(SAFETY_NET) as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(generate_chat_completion, request(url))
            await server.wait_until(lambda: server.h2_streams_opened == 1)
            scope.cancel()
    assert scope.cancelled_caught
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until(lambda: bool(server.resets_received))
    assert server.resets_received == [h2.errors.ErrorCodes.CANCEL]
    await closed_and_idle(server)


async def test_a_request_body_larger_than_the_servers_window(server: LocalHttp2Server) -> None:
    # h2's default window is 64 KiB: the rest of the body waits for the server's updates.
    content = "word " * 60_000
    spec = Synthetic(3)
    req = request(server.base_url(spec), messages=[{"role": "user", "content": content}])
    assert text_of(await collect(req)) == "".join(synthetic_tokens(spec))
    assert server.requests[0].json["messages"][0]["content"] == content


# ---------------------------------------------------------------- the option itself


async def test_a_fallback_inherits_http2(server: LocalHttp2Server) -> None:
    failing = server.base_url(Synthetic(4, status=401))
    spec = Synthetic(4, tag="fallback")
    fallback = {
        "model": "gpt-4o-mini",
        "provider_kwargs": {"openai": {"base_url": server.base_url(spec)}},
    }
    chunks = await collect(request(failing, fallbacks=[fallback]))
    assert text_of(chunks) == "".join(synthetic_tokens(spec))
    assert [r.json["model"] for r in server.requests] == ["gpt-4o", "gpt-4o-mini"]
    assert server.h2_streams_opened == 2


async def test_a_fallback_can_turn_http2_off(server: LocalHttp2Server) -> None:
    failing = server.base_url(Synthetic(4, status=401))
    fallback = {"http2": False, "provider_kwargs": {"openai": {"base_url": failing}}}
    with pytest.raises(ServerError) as info:
        await collect(request(failing, fallbacks=[fallback], retry={"enabled": False}))
    assert info.value.status_code == 505  # the fallback spoke HTTP/1.1 to the h2c server
    assert server.h2_streams_opened == 1


def test_plan_inherits_http2_unless_the_fallback_says() -> None:
    base = request("http://127.0.0.1:9/v1")
    plain = to_request({**base, "fallbacks": [{"model": "a"}, {"model": "b", "http2": False}]})
    assert [p.request.http2 for p in plan_requests(plain)] == [True, True, False]
    off = to_request({**base, "http2": False, "fallbacks": [{"http2": True}]})
    assert [p.request.http2 for p in plan_requests(off)] == [False, True]


def test_http2_must_be_a_bool() -> None:
    with pytest.raises(RequestValidationError) as info:
        to_request({**request("http://127.0.0.1:9/v1"), "http2": "yes"})
    assert info.value.problems == ("http2: expected bool, got 'yes'",)
    with pytest.raises(RequestValidationError) as info:
        to_request({**request("http://127.0.0.1:9/v1"), "fallbacks": [{"http2": 1}]})
    assert info.value.problems == ("fallbacks[0].http2: expected bool, got 1",)


def test_http2_round_trips_through_validation() -> None:
    typed = ChatCompletionRequest(
        CompletionsProvider.OPENAI, KEY, "gpt-4o", [UserMessage("hi")], http2=True
    )
    assert to_request(typed).http2 is True
    assert to_request({**request("http://127.0.0.1:9/v1")}).http2 is True
    del_http2 = {k: v for k, v in request("http://127.0.0.1:9/v1").items() if k != "http2"}
    assert to_request(del_http2).http2 is False
    assert "http2=True" in repr(to_request(typed))


async def test_warm_up_opens_one_http2_connection_that_the_first_request_uses(
    server: LocalHttp2Server,
) -> None:
    spec = Synthetic(3)
    warm = to_request(request(server.base_url(spec)))
    await warm_up([warm], connections=0)
    assert server.connections_accepted == 0
    await warm_up([warm], connections=4)  # one is enough: it carries every stream
    assert server.connections_accepted == 1
    assert server.h2_streams_opened == 0  # nothing was sent but the handshake
    await warm_up([warm])  # already warm: nothing more
    chunks = await collect(request(server.base_url(spec)))
    assert text_of(chunks) == "".join(synthetic_tokens(spec))
    assert server.connections_accepted == 1
    await closed_and_idle(server)


async def test_warm_up_http2_against_a_closed_port_is_a_connection_error() -> None:
    async with open_local_http2_server() as gone:
        url = gone.base_url(Synthetic(3))
    with pytest.raises(ProviderConnectionError):
        await warm_up([to_request(request(url))])
    await aclose_http_clients()


# ---------------------------------------------------------------- over TLS: ALPN decides


@asynccontextmanager
async def tls_server(
    cls: type[LocalProviderServer], certificate: LoopbackCertificate, alpn: list[str]
) -> AsyncIterator[tuple[Any, str]]:
    """``cls`` behind TLS on loopback offering ``alpn``; yields it and its ``https`` root."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        server = cls("127.0.0.1", port, default_fixtures_dir())
        tls = TLSListener(listener, certificate.server_context(alpn), standard_compatible=False)
        async with anyio.create_task_group() as group:
            group.start_soon(tls.serve, server.serve_connection)
            yield server, f"https://127.0.0.1:{port}"
            await aclose_http_clients()
            group.cancel_scope.cancel()


@pytest.fixture
def certificate(monkeypatch: pytest.MonkeyPatch) -> LoopbackCertificate:
    """A test CA that the shared clients trust (their TLS context, replaced for this test)."""
    certificate = LoopbackCertificate()

    def trusting(http2: bool = False) -> ssl.SSLContext:
        return certificate.client_context(["h2", "http/1.1"] if http2 else ["http/1.1"])

    monkeypatch.setattr(_http, "tls_context", functools.cache(trusting))
    return certificate


async def test_https_negotiates_h2_by_alpn(certificate: LoopbackCertificate) -> None:
    async with tls_server(LocalHttp2Server, certificate, ["h2"]) as (server, root):
        spec = Synthetic(6)
        texts = []
        async with anyio.create_task_group() as group:
            for _ in range(5):

                async def one() -> None:
                    texts.append(text_of(await collect(request(scenario_base_url(root, spec)))))

                group.start_soon(one)
        assert texts == ["".join(synthetic_tokens(spec))] * 5
        assert server.connections_accepted == 1
        assert server.h2_streams_opened == 5


async def test_https_falls_back_to_http1_when_alpn_picks_it(
    certificate: LoopbackCertificate,
) -> None:
    async with tls_server(LocalProviderServer, certificate, ["http/1.1"]) as (server, root):
        spec = Synthetic(6)
        chunks = await collect(request(scenario_base_url(root, spec)))
        assert text_of(chunks) == "".join(synthetic_tokens(spec))
        assert server.streams_completed == 1  # an HTTP/1.1 exchange: the h2 server would 505
