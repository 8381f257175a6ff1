"""An httpx transport that reads HTTP/1.1 response bodies in bulk.

httpx stays the client API (requests, the connection pool, pool limits and timeouts, TLS);
this module only replaces how one HTTP/1.1 connection reads a response body. httpcore's own
HTTP/1.1 connection hands h11 each read and yields one body piece per chunk-framing event,
through a chain of async generators: a provider sends one chunk per SSE event, so a burst of
5,000 deltas costs 5,000 trips through that chain. Here a body read returns everything the
socket had, de-framed in one pass by :class:`stages.chunked.ChunkedDecoder`.

Time budgets: connect, TLS, the request's write and the response head each wait once per
response, bounded by httpx's per-operation timeouts; the body's reads take no cancel scope of
their own: one idle deadline per response bounds each wait for more bytes
(:mod:`pipeline._idle`, over the sockets of :mod:`pipeline._network`).

Only public extension points are used: :class:`httpcore.AsyncConnectionPool` with its
``create_connection`` hook, :class:`httpcore.AsyncConnectionInterface`, httpcore's network
backend and stream interfaces, and h11's public API (it writes the request and parses the
response head; ``trailing_data`` gives the body bytes read along with the head). Proxies and
HTTP/2 are left to httpx's own transport (see :mod:`pipeline._http`).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, Generic, TypeVar

import h11
import httpcore
import httpx

from stages.chunked import ChunkedDecoder, ChunkedFramingError

from ._idle import IdleAlarm, SocketWatch, idle_alarm
from ._network import NetworkBackend, NetworkStream

Backend = TypeVar("Backend", bound=httpcore.AsyncNetworkBackend)

READ_BLOCK = 256 * 1024
"""Bytes asked of the socket per read: a burst of events arrives in a few reads."""

DRAIN_SECONDS = 0.5
"""How long a request waits for the rest of the previous body's framing on a reused connection.

A stream ends at the provider's terminal event, usually a moment before the body's last chunk
arrives; the connection is kept and the next request on it first reads that remainder. A
server that keeps the body open for longer costs that request this much, once, and then a
new connection.
"""

DRAIN_LIMIT = 64 * 1024
"""Bytes of a previous body read while draining before the connection is given up."""

_NEW, _ACTIVE, _IDLE, _DRAINING, _CLOSED = range(5)

_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    # Most specific first: the first match wins.
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def as_httpx_error(exc: Exception) -> Exception:
    """The httpx exception for an httpcore one (the message kept), or ``exc`` itself."""
    for source, target in _EXCEPTIONS:
        if isinstance(exc, source):
            return target(str(exc))
    return exc


class BulkConnection(httpcore.AsyncConnectionInterface):
    """One HTTP/1.1 connection (plain TCP or TLS) of a :class:`BulkConnectionPool`."""

    def __init__(
        self,
        origin: httpcore.Origin,
        *,
        ssl_context: ssl.SSLContext | None,
        keepalive_expiry: float | None,
        backend: NetworkBackend,
        alarm: IdleAlarm,
    ) -> None:
        self._origin = origin
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._backend = backend
        self._alarm = alarm
        self._network: NetworkStream | None = None
        self._state = _NEW
        self._expire_at: float | None = None
        self._draining: BulkBody | None = None
        self.requests = 0
        """Requests sent on this connection (more than one: it was reused)."""

    async def connect(self, seconds: float | None) -> None:
        """Open the TCP connection (and TLS for ``https``), each step bounded by ``seconds``.

        The connection is idle afterwards.
        """
        host = self._origin.host.decode("ascii")
        network = await self._backend.connect_tcp(host, self._origin.port, timeout=seconds)
        if self._origin.scheme == b"https":
            try:
                context = self._ssl_context or ssl.create_default_context()
                network = await network.start_tls(context, server_hostname=host, timeout=seconds)
            except BaseException:
                await network.aclose()
                raise
        self._network = network
        if self._state == _NEW:
            self._became_idle()

    # ---------------------------------------------------------------- the interface

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if self._state not in (_NEW, _IDLE, _DRAINING):
            raise httpcore.ConnectionNotAvailable()
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        if self._state == _DRAINING:
            await self._finish_draining(timeouts.get("read"))
        self._state = _ACTIVE
        self.requests += 1
        watch: SocketWatch | None = None
        writing = True
        try:
            if self._network is None:
                await self.connect(timeouts.get("connect"))
                self._state = _ACTIVE
            network = self._network
            assert network is not None
            head = h11.Connection(h11.CLIENT)
            data = await _serialize(head, request)
            watch = SocketWatch(self._alarm, network)
            watch.limit(timeouts.get("write"))
            watch.waiting_since = self._alarm.clock()
            await network.send(data)
            watch.waiting_since = None
            writing = False
            watch.limit(timeouts.get("read"))
            response = await _receive_head(head, network, watch)
        except BaseException as exc:
            await self.aclose()
            if watch is not None:
                expired = watch.expired and isinstance(exc, Exception)
                timeout = _timed_out(watch, writing=writing) if expired else None
                watch.stop()
                if timeout is not None:
                    raise timeout from None
            raise
        first, _ = head.trailing_data
        body = BulkBody(self, network, _framing(request, response), first, watch)
        return httpcore.Response(
            status=response.status_code,
            headers=list(response.headers.raw_items()),
            content=body,
            extensions={
                "http_version": b"HTTP/" + response.http_version,
                "reason_phrase": response.reason,
                "network_stream": network,
                BODY_EXTENSION: BodyReader(body),
            },
        )

    async def aclose(self) -> None:
        self._state = _CLOSED
        network, self._network = self._network, None
        if network is not None:
            await network.aclose()

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self._origin

    def is_available(self) -> bool:
        return self._state in (_IDLE, _DRAINING)

    def has_expired(self) -> bool:
        if self._state not in (_IDLE, _DRAINING):
            return False
        if self._expire_at is not None and time.monotonic() > self._expire_at:
            return True
        if self._state == _DRAINING:
            return False  # readable: the rest of the last body, not a close
        # An idle connection with bytes to read can only be the server closing it.
        network = self._network
        return network is None or bool(network.get_extra_info("is_readable"))

    def is_idle(self) -> bool:
        return self._state in (_IDLE, _DRAINING)

    def is_closed(self) -> bool:
        return self._state == _CLOSED

    def info(self) -> str:
        state = ("NEW", "ACTIVE", "IDLE", "DRAINING", "CLOSED")[self._state]
        return f"HTTP/1.1 bulk, {state}, Request Count: {self.requests}"

    def __repr__(self) -> str:
        return f"<BulkConnection [{self._origin}, {self.info()}]>"

    # ---------------------------------------------------------------- body end

    async def body_closed(self, body: BulkBody, *, reusable: bool, draining: bool) -> None:
        """The response was closed: idle again if its whole body was read, else closed.

        ``draining``: the reader saw the logical end of the body (the provider's terminal
        event) but not yet the end of its framing; the connection is kept, and the next
        request on it reads the rest first.
        """
        if self._state != _ACTIVE:
            return
        if reusable:
            self._became_idle()
        elif draining:
            self._draining = body
            self._became_idle()
            self._state = _DRAINING
        else:
            await self.aclose()

    async def _finish_draining(self, read_seconds: float | None) -> None:
        body, self._draining = self._draining, None
        self._state = _ACTIVE
        wait = DRAIN_SECONDS if read_seconds is None else min(read_seconds, DRAIN_SECONDS)
        try:
            reusable = body is not None and await body.drain(wait)
        except Exception:
            reusable = False
        if not reusable:
            await self.aclose()
            raise httpcore.ConnectionNotAvailable()

    def _became_idle(self) -> None:
        self._state = _IDLE
        expiry = self._keepalive_expiry
        self._expire_at = None if expiry is None else time.monotonic() + expiry


async def _serialize(head: h11.Connection, request: httpcore.Request) -> bytes:
    try:
        parts = [
            head.send(
                h11.Request(
                    method=request.method, target=request.url.target, headers=request.headers
                )
            )
        ]
        stream = request.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        async for piece in stream:
            parts.append(head.send(h11.Data(data=piece)))
        parts.append(head.send(h11.EndOfMessage()))
    except h11.LocalProtocolError as exc:
        raise httpcore.LocalProtocolError(str(exc)) from exc
    return b"".join(part for part in parts if part)


async def _receive_head(
    head: h11.Connection, network: NetworkStream, watch: SocketWatch
) -> h11.Response:
    clock = watch.alarm.clock
    while True:
        try:
            event = head.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpcore.RemoteProtocolError(str(exc)) from exc
        if event is h11.NEED_DATA:
            watch.waiting_since = clock()
            data = await network.receive(READ_BLOCK)
            watch.waiting_since = None
            if not data and head.their_state == h11.SEND_RESPONSE:
                raise httpcore.RemoteProtocolError(
                    "Server disconnected without sending a response."
                )
            head.receive_data(data)
        elif isinstance(event, h11.Response):
            return event
        # An informational (1xx) response: the real one follows.


def _timed_out(watch: SocketWatch, *, writing: bool, received: int | None = None) -> Exception:
    """The timeout a wait closed by the alarm raises, for httpx to map to its own."""
    seconds = f"{watch.idle_limit:g} s"
    if writing:
        return httpcore.WriteTimeout(f"could not send the request within {seconds}")
    if received is None:
        return httpcore.ReadTimeout(f"no response head within {seconds}")
    return httpcore.ReadTimeout(f"no bytes of the body for {seconds} (after byte {received})")


class _Framing:
    __slots__ = ("chunked", "keep_alive", "length")

    def __init__(self, *, chunked: bool, length: int | None, keep_alive: bool) -> None:
        self.chunked = chunked
        self.length = length  # None and not chunked: the body ends when the server closes
        self.keep_alive = keep_alive


def _framing(request: httpcore.Request, response: h11.Response) -> _Framing:
    headers = response.headers
    coding = b",".join(value for name, value in headers if name == b"transfer-encoding")
    lengths = [value for name, value in headers if name == b"content-length"]
    tokens = b",".join(value for name, value in headers if name == b"connection").lower()
    asked = b",".join(value for name, value in request.headers if name.lower() == b"connection")
    keep_alive = (
        response.http_version == b"1.1" and b"close" not in tokens and b"close" not in asked.lower()
    )
    if request.method == b"HEAD" or response.status_code in (204, 304):
        return _Framing(chunked=False, length=0, keep_alive=keep_alive)
    if coding:
        # h11 has validated the head: the only transfer coding it accepts is "chunked".
        return _Framing(chunked=True, length=None, keep_alive=keep_alive)
    if lengths:
        return _Framing(chunked=False, length=int(lengths[0]), keep_alive=keep_alive)
    return _Framing(chunked=False, length=None, keep_alive=False)


class BulkBody:
    """A response body read in blocks: each ``__anext__`` returns all the payload one read had.

    Its own async iterator (no generator), so nothing is left suspended when it is dropped.
    After :meth:`aclose` iteration simply stops. With a watch, each wait for bytes is bounded by
    its alarm (see :mod:`pipeline._idle`), not by a cancel scope per read.
    """

    __slots__ = (
        "_closed",
        "_connection",
        "_decoder",
        "_ending",
        "_failed",
        "_first",
        "_framing",
        "_network",
        "_received",
        "_remaining",
        "_tail",
        "_watch",
        "done",
    )

    def __init__(
        self,
        connection: BulkConnection,
        network: NetworkStream,
        framing: _Framing,
        first: bytes,
        watch: SocketWatch | None = None,
    ) -> None:
        self._connection = connection
        self._network = network
        self._framing = framing
        self._decoder = ChunkedDecoder() if framing.chunked else None
        self._remaining = framing.length
        self._first: bytes | None = first
        self._received = 0  # body bytes read, for error messages
        self._tail = False  # bytes arrived after the body's end: never reuse the connection
        self.done = framing.length == 0
        """The whole body (its framing included) has been read."""
        self._closed = False
        self._failed = False  # a read or the framing failed: the connection is unusable
        self._ending = False  # the reader saw the body's logical end (see expect_end)
        self._watch = watch
        if self.done:
            self._stop_watching()

    def __aiter__(self) -> BulkBody:
        return self

    async def __anext__(self) -> bytes:
        watch = self._watch
        try:
            while not (self.done or self._closed):
                data = self._first
                if data is not None:
                    self._first = None
                    if not data:
                        continue
                elif watch is None:
                    data = await self._network.receive(READ_BLOCK)
                else:
                    watch.waiting_since = watch.alarm.clock()
                    data = await self._network.receive(READ_BLOCK)
                    watch.waiting_since = None
                payload = self._decode(data)
                if payload:
                    return payload
        except BaseException as exc:
            self._failed = True  # a failed or cancelled read: never reuse the connection
            timeout = None
            if watch is not None and watch.expired and isinstance(exc, Exception):
                timeout = _timed_out(watch, writing=False, received=self._received)
            self._stop_watching()
            if timeout is not None:
                raise timeout from None
            raise
        self._stop_watching()
        raise StopAsyncIteration

    def _stop_watching(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()

    def expect_end(self) -> None:
        """The reader saw the logical end: what is left is framing, worth draining for reuse."""
        self._ending = True

    async def drain(self, seconds: float) -> bool:
        """Read the rest of this body (bounded); whether the connection can be reused."""
        drained = 0
        while not self.done:
            data = self._first
            if data is not None:
                self._first = None
            else:
                data = await self._network.read(READ_BLOCK, timeout=seconds)
            drained += len(data)
            if drained > DRAIN_LIMIT or not data:
                return False
            self._decode(data)
        return not self._tail

    def _decode(self, data: bytes) -> bytes:
        self._received += len(data)
        decoder = self._decoder
        if decoder is not None:
            if not data:
                raise httpcore.RemoteProtocolError(
                    "peer closed connection without sending complete message body: "
                    f"incomplete chunked read (at byte {self._received})"
                )
            try:
                payload = decoder.feed(data)
            except ChunkedFramingError as exc:
                raise httpcore.RemoteProtocolError(f"malformed chunked body: {exc}") from None
            if decoder.finished:
                self.done = True
                self._tail = bool(decoder.extra)
            return payload
        remaining = self._remaining
        if remaining is None:  # delimited by the server closing the connection
            if not data:
                self.done = True
            return data
        if not data:
            raise httpcore.RemoteProtocolError(
                "peer closed connection without sending complete message body: "
                f"received {self._received} bytes, expected {self._framing.length}"
            )
        if len(data) >= remaining:
            self._tail = len(data) > remaining
            data = data[:remaining]
            self.done = True
        self._remaining = remaining - len(data)
        return data

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_watching()
        keep = self._framing.keep_alive and not self._failed
        reusable = keep and self.done and not self._tail
        draining = keep and self._ending and not self.done
        await self._connection.body_closed(self, reusable=reusable, draining=draining)


class WarmPool(httpcore.AsyncConnectionPool, Generic[Backend]):
    """httpcore's pool (limits, queueing, keep-alive expiry) with connections of our own.

    A subclass says which network backend its connections use (:meth:`new_backend`) and how a
    connection is made (:meth:`new_connection`). The pool also holds connections opened ahead
    of any request (:meth:`add_warm`): it takes one of those before it opens a new connection.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        max_keepalive_connections: int,
        keepalive_expiry: float | None,
    ) -> None:
        self._backend = self.new_backend()
        self._tls = ssl_context
        self._expiry = keepalive_expiry
        self._warm: list[httpcore.AsyncConnectionInterface] = []
        # Expired warm connections, closed with the pool.
        self._discard: list[httpcore.AsyncConnectionInterface] = []
        super().__init__(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
            network_backend=self._backend,
        )

    def new_backend(self) -> Backend:
        raise NotImplementedError

    def new_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        raise NotImplementedError

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        while self._warm:
            connection = self._warm.pop()
            if connection.can_handle_request(origin) and not connection.has_expired():
                return connection
            self._discard.append(connection)
        return self.new_connection(origin)

    def add_warm(self, connection: httpcore.AsyncConnectionInterface) -> None:
        """Keep an open, idle connection for the pool's next new connection."""
        self._warm.append(connection)

    @property
    def warm(self) -> int:
        """Open connections waiting for their first request."""
        return len(self._warm)

    async def aclose(self) -> None:
        leftovers = [*self._warm, *self._discard]
        self._warm.clear()
        self._discard.clear()
        for connection in leftovers:
            await connection.aclose()
        await super().aclose()


class BulkConnectionPool(WarmPool[NetworkBackend]):
    """A pool of :class:`BulkConnection`: HTTP/1.1 bodies read in bulk."""

    def new_backend(self) -> NetworkBackend:
        return NetworkBackend()

    def new_connection(self, origin: httpcore.Origin) -> BulkConnection:
        return BulkConnection(
            origin,
            ssl_context=self._tls,
            keepalive_expiry=self._expiry,
            backend=self._backend,
            alarm=idle_alarm(),  # the pool's event loop's: a pool serves one loop
        )


class PoolTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one of our pools (HTTP/1.1 in bulk, or HTTP/2), no proxy."""

    def __init__(self, pool: httpcore.AsyncConnectionPool) -> None:
        self.pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self.pool.handle_async_request(core_request)
        except Exception as exc:
            mapped = as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        stream = response.stream
        assert isinstance(stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=BodyStream(stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()


BODY_EXTENSION = "pipeline.bulk_body"
"""Response extension holding a :class:`BodyReader`: the body read directly, in blocks."""


class BodyReader:
    """The body of a bulk-read response, read directly (httpx's per-read generators skipped).

    Errors are httpx's, as from the response's own stream. Closing stays the response's job
    (``response.aclose()``), which hands the connection back to the pool.
    """

    __slots__ = ("_body",)

    def __init__(self, body: BulkBody) -> None:
        self._body = body

    def __aiter__(self) -> BodyReader:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._body.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            mapped = as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def expect_end(self) -> None:
        """The caller saw the body's logical end (a provider's terminal event): if the rest is
        only framing, the connection is kept for the next request (see :data:`DRAIN_SECONDS`).
        """
        self._body.expect_end()


class BodyStream(httpx.AsyncByteStream):
    """httpx's view of a pooled body: exceptions become httpx's, as its own transport does."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _MappedReader(self._source.__aiter__())

    async def aclose(self) -> None:
        await self._source.aclose()


class _MappedReader:
    __slots__ = ("_source",)

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source

    def __aiter__(self) -> _MappedReader:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._source.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            mapped = as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
