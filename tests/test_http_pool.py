"""The shared HTTP client pool: per event loop and origin, sharded, closable."""

from __future__ import annotations

import pytest

from pipeline import aclose_http_clients
from pipeline._http import CONNECTIONS_PER_SHARD, acquire_client, release_client

pytestmark = pytest.mark.anyio


async def test_one_client_per_origin_reused_across_paths() -> None:
    a = acquire_client("http://127.0.0.1:1/v1/chat/completions")
    release_client(a)
    b = acquire_client("http://127.0.0.1:1/other")
    release_client(b)
    c = acquire_client("http://127.0.0.1:2/v1")
    release_client(c)
    assert a.client is b.client
    assert c.client is not a.client
    await aclose_http_clients()
    assert a.client.is_closed
    assert c.client.is_closed


async def test_shards_grow_with_concurrency_and_the_least_busy_is_chosen() -> None:
    held = [acquire_client("http://127.0.0.1:3/") for _ in range(2 * CONNECTIONS_PER_SHARD + 1)]
    clients = {id(shard.client) for shard in held}
    assert len(clients) == 3
    assert max(shard.in_flight for shard in held) == CONNECTIONS_PER_SHARD
    release_client(held[0])
    again = acquire_client("http://127.0.0.1:3/")
    assert again is held[-1]  # the third shard, the least busy, was chosen
    assert again.in_flight == 2
    for shard in [*held, again]:
        release_client(shard)
    await aclose_http_clients()


async def test_closing_forgets_the_clients_of_this_loop() -> None:
    first = acquire_client("http://127.0.0.1:4/")
    release_client(first)
    await aclose_http_clients()
    second = acquire_client("http://127.0.0.1:4/")
    release_client(second)
    assert second.client is not first.client
    assert not second.client.is_closed
    await aclose_http_clients()
