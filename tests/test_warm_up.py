"""warm_up: connections opened ahead of the first request, which then opens none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from pipeline import ProviderConnectionError, aclose_http_clients, warm_up
from pipeline.testing import LocalProviderServer, Synthetic, open_local_server

from ._streams import collect, final
from ._waiting import SAFETY_NET

pytestmark = pytest.mark.anyio

KEY = "sk-warm-up-test-key-0123456789"


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


async def wait_for_connections(server: LocalProviderServer, count: int) -> None:
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until(lambda: server.connections_accepted == count)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_the_first_request_after_warm_up_opens_no_connection(
    server: LocalProviderServer, provider: str
) -> None:
    url = server.base_url(Synthetic(4), provider)
    await warm_up([request(url, provider)], connections=2)
    await wait_for_connections(server, 2)
    assert server.requests == []  # handshakes only: nothing was sent
    for _ in range(10):
        assert final(await collect(request(url, provider))).finish_reason == "stop"
        assert server.connections_accepted == 2
    # Warming again tops up to the number asked for: these are still open.
    await warm_up([request(url, provider)], connections=2)
    assert server.connections_accepted == 2


async def test_a_provider_name_resolves_its_host_as_a_request_would(
    server: LocalProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.base_url(Synthetic(3))
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    await warm_up(["openai"])
    await wait_for_connections(server, 1)
    chunks = await collect(request(url) | {"provider_kwargs": {}})
    assert final(chunks).finish_reason == "stop"
    assert server.connections_accepted == 1


async def test_an_unreachable_host_is_a_typed_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # type: ignore[attr-defined]
    await listener.aclose()  # nothing listens there now
    with pytest.raises(ProviderConnectionError):
        await warm_up([request(f"http://127.0.0.1:{port}/v1")])
    await aclose_http_clients()
