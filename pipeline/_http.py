"""Shared HTTP clients: one warm pool per (event loop, base URL).

httpx 0.28's connection pool rescans every queued request and every connection on each request
event (encode/httpcore#1035), which is quadratic in the number of concurrent streams. Each base
URL therefore gets a set of *shards*, each a small client of at most
:data:`CONNECTIONS_PER_SHARD` connections, and a request goes to the least busy shard. A
thousand concurrent streams then cost sixteen small scans, not one large one.
"""

from __future__ import annotations

import functools
import ssl
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import sniffio

from ._errors import ProtocolError, ProviderConnectionError, ProviderError, ProviderTimeoutError

if TYPE_CHECKING:
    # Imported on first use (with httpcore and h11): ``import pipeline`` stays light.
    from ._http2 import Http2ConnectionPool
    from ._transport import BulkConnectionPool

CONNECTIONS_PER_SHARD = 64
MAX_SHARDS = 32
"""Up to 2,048 concurrent connections per base URL."""

TIMEOUTS = httpx.Timeout(connect=15.0, read=300.0, write=30.0, pool=120.0)
"""Each network wait's bound when a request sets no ``timeout`` of its own."""


@dataclass(slots=True)
class Shard:
    """One small client of a base URL's pool, and how many requests it is serving."""

    client: httpx.AsyncClient
    in_flight: int = 0
    pool: BulkConnectionPool | None = None
    """The bulk-reading pool under ``client`` (``None``: HTTP/2 or httpx's own transport)."""
    http2_pool: Http2ConnectionPool | None = None
    """The HTTP/2 pool under ``client``, when it is one."""


@dataclass(slots=True)
class _Pool:
    http2: bool
    prior_knowledge: bool = False
    """HTTP/2 over plain ``http``: no TLS handshake to offer ``h2`` in, so it is assumed (h2c)."""
    shards: list[Shard] = field(default_factory=list)

    def acquire(self) -> Shard:
        best = min(self.shards, key=lambda s: s.in_flight, default=None)
        if best is None or (
            best.in_flight >= CONNECTIONS_PER_SHARD and len(self.shards) < MAX_SHARDS
        ):
            best = _new_shard(self.http2, prior_knowledge=self.prior_knowledge)
            self.shards.append(best)
        best.in_flight += 1
        return best


KEEPALIVE_EXPIRY = 30.0
"""Seconds an idle connection is kept for the next request."""


@functools.cache
def tls_context(http2: bool = False) -> ssl.SSLContext:
    """The TLS context of every shard (one per protocol choice: connecting sets its ALPN).

    Loading the CA bundle costs about 15 ms; every shard shares one context.
    """
    context = httpx.create_ssl_context()
    context.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    return context


def _env_proxies() -> bool:
    # httpx honours *_PROXY variables only with its own transport: leave those clients to it.
    import urllib.request

    return any(urllib.request.getproxies().values())


def _new_shard(http2: bool, *, prior_knowledge: bool = False) -> Shard:
    if http2 and not _env_proxies():
        # Our HTTP/2 connections: a stream the consumer leaves is reset (pipeline._http2).
        from ._http2 import Http2ConnectionPool
        from ._transport import PoolTransport

        multiplexed = Http2ConnectionPool(
            ssl_context=tls_context(True),
            max_connections=CONNECTIONS_PER_SHARD,
            max_keepalive_connections=CONNECTIONS_PER_SHARD,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        client = httpx.AsyncClient(transport=PoolTransport(multiplexed), timeout=TIMEOUTS)
        return Shard(client, http2_pool=multiplexed)
    if not http2 and not _env_proxies():
        from ._transport import BulkConnectionPool, PoolTransport

        pool = BulkConnectionPool(
            ssl_context=tls_context(False),
            max_connections=CONNECTIONS_PER_SHARD,
            max_keepalive_connections=CONNECTIONS_PER_SHARD,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        return Shard(httpx.AsyncClient(transport=PoolTransport(pool), timeout=TIMEOUTS), pool=pool)
    limits = httpx.Limits(
        max_connections=CONNECTIONS_PER_SHARD,
        max_keepalive_connections=CONNECTIONS_PER_SHARD,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )
    # Behind a proxy, httpx's own transport. With HTTP/2 over TLS, ALPN decides and HTTP/1.1
    # stays allowed; over plain http HTTP/1.1 is switched off, as httpcore speaks h2c then.
    client = httpx.AsyncClient(
        limits=limits,
        timeout=TIMEOUTS,
        http1=not (http2 and prior_knowledge),
        http2=http2,
        verify=tls_context(http2),
    )
    return Shard(client)


class RequestBody(httpx.AsyncByteStream):
    """A request body in memory, handed to the transport as one chunk.

    httpx's own byte stream iterates with an async generator; a request cancelled in the middle
    of sending leaves that generator suspended, and trio warns when it collects it. This
    stream's iterator is a plain object with nothing to finish, so cancellation leaves nothing
    behind.
    """

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _SendOnce(self._body)


class _SendOnce:
    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __aiter__(self) -> _SendOnce:
        return self

    async def __anext__(self) -> bytes:
        body, self._body = self._body, None
        if not body:
            raise StopAsyncIteration
        return body


def build_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    waits: httpx.Timeout = TIMEOUTS,
) -> httpx.Request:
    """A request of ``client`` (its default headers) whose body is a :class:`RequestBody`.

    The client builds the request first, so ``Host``, ``Content-Length`` and the timeout
    extension (``waits``: the bound on each network wait) are exactly what httpx would send;
    only the body's stream is replaced.
    """
    built = client.build_request(method, url, headers=dict(headers), content=body, timeout=waits)
    return httpx.Request(
        method,
        built.url,
        headers=built.headers,
        stream=RequestBody(body),
        extensions=built.extensions,
    )


_pools: weakref.WeakKeyDictionary[object, dict[tuple[str, bool], _Pool]] = (
    weakref.WeakKeyDictionary()
)


def loop_key() -> object:
    # Each loop's library is imported only by a program that runs it (asyncio is ~25 ms).
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_trio_token()
    import asyncio

    return asyncio.get_running_loop()


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


def acquire_client(url: str, *, http2: bool = False) -> Shard:
    """A shard of the shared client for ``url``'s origin on this event loop.

    ``http2`` picks the origin's HTTP/2 pool (h2c with prior knowledge for ``http://``).
    The caller must hand it back with :func:`release_client` when its request is done.
    """
    pools = _pools.setdefault(loop_key(), {})
    origin = _origin(url)
    key = (origin, http2)
    pool = pools.get(key)
    if pool is None:
        pool = pools[key] = _Pool(http2, prior_knowledge=http2 and origin.startswith("http://"))
    return pool.acquire()


def release_client(shard: Shard) -> None:
    shard.in_flight -= 1


async def aclose_http_clients() -> None:
    """Close every shared HTTP client of the current event loop.

    Call it before the event loop ends (an app's shutdown, a test's teardown) so no idle
    keep-alive socket outlives the loop. Clients are recreated on next use. Safe to cancel:
    the remaining clients are then closed by the garbage collector.
    """
    pools = _pools.pop(loop_key(), {})
    for pool in pools.values():
        for shard in pool.shards:
            await shard.client.aclose()


def transport_error(
    exc: BaseException, *, provider: str, reading_body: bool = False
) -> ProviderError | None:
    """The one place where transport failures become library errors (``None``: not one).

    Every ``httpx.RequestError`` becomes a typed error: a timeout a
    :class:`ProviderTimeoutError` naming the budget that expired (``reading_body`` tells a
    read timeout while waiting for more of the body from one waiting for the response head),
    other connection failures a retryable :class:`ProviderConnectionError`, a body that cannot
    be decoded (a broken ``content-encoding``) a :class:`ProtocolError`.
    """
    detail = str(exc) or type(exc).__name__
    error: ProviderError
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        budget = _budget(exc, reading_body=reading_body)
        error = ProviderTimeoutError(
            f"{provider} timed out ({budget}): {detail}", provider=provider, budget=budget
        )
    elif isinstance(exc, httpx.TransportError):
        error = ProviderConnectionError(
            f"connection to {provider} failed: {detail}", provider=provider, retryable=True
        )
    elif isinstance(exc, httpx.RequestError):
        error = ProtocolError(
            f"{provider} sent a body that cannot be decoded: {detail}", provider=provider
        )
    else:
        return None
    error.__cause__ = exc
    return error


def _budget(exc: BaseException, *, reading_body: bool) -> str:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return "connect"
    if isinstance(exc, httpx.WriteTimeout):
        return "write"
    return "idle read" if reading_body else "response head"
