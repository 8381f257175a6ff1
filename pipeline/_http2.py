"""HTTP/2 connections for the shared pool: many streams per connection, closed with RST_STREAM.

httpcore 1.0's own HTTP/2 connection forgets a response closed before its end without telling
the server: no RST_STREAM, so a provider whose stream the consumer left (a voice agent's
barge-in) goes on generating, and bills, until the connection closes. This connection resets
such a stream with ``CANCEL`` at once. Otherwise it is what httpcore's is: h2 as the sans-IO
state machine, no background task (a stream that waits for its next event takes the read lock
and reads the socket once, dispatching whatever arrives to every stream), and flow control
that credits data back as the consumer takes it, so a slow consumer slows its own stream only.

Only public extension points are used, as by :mod:`pipeline._transport`:
:class:`httpcore.AsyncConnectionPool` with its ``create_connection`` hook,
:class:`httpcore.AsyncConnectionInterface`, httpcore's network backends and streams, and h2's
public API. Over ``https`` ALPN offers ``h2`` and ``http/1.1``; when the server picks
HTTP/1.1, the connection hands its socket to httpcore's public ``AsyncHTTP11Connection``.
Over plain ``http`` it speaks HTTP/2 with prior knowledge (h2c).
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections import deque
from collections.abc import AsyncIterable, Callable

import anyio
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httpcore
import sniffio

from ._transport import WarmPool

READ_BLOCK = 256 * 1024
"""Bytes asked of the socket per read."""

STREAM_WINDOW = 2**24
"""Flow-control window of the connection and of each stream: 16 MiB in flight, as httpcore."""

CLOSE_WRITE_SECONDS = 30.0
"""Bound on a write when the request sets none (writes are shielded: never unbounded)."""

_NEW, _ACTIVE, _IDLE, _CLOSED = range(4)
_HOP_BY_HOP = {b"host", b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding"}
_HOP_BY_HOP |= {b"upgrade", b"te"}

_StreamEvent = (
    h2.events.ResponseReceived
    | h2.events.DataReceived
    | h2.events.StreamEnded
    | h2.events.StreamReset
    | h2.events.TrailersReceived
    | h2.events.InformationalResponseReceived
)


class _Stream:
    """One request's stream: the events h2 gave for it, not yet taken by its reader."""

    __slots__ = ("ended", "events", "failure", "id", "reset")

    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.events: deque[_StreamEvent] = deque()
        self.ended = False  # the server's END_STREAM was taken by the reader
        self.reset = False  # either side reset it
        self.failure: Exception | None = None  # a GOAWAY that excluded it

    def ready(self) -> bool:
        return bool(self.events) or self.failure is not None


class Http2Connection(httpcore.AsyncConnectionInterface):
    """One connection of an :class:`Http2ConnectionPool`: HTTP/2 (or HTTP/1.1 if ALPN says)."""

    def __init__(
        self,
        origin: httpcore.Origin,
        *,
        ssl_context: ssl.SSLContext | None,
        keepalive_expiry: float | None,
        backend: httpcore.AsyncNetworkBackend,
    ) -> None:
        self._origin = origin
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._backend = backend
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self._h2 = h2.connection.H2Connection(config=config)
        self._network: httpcore.AsyncNetworkStream | None = None
        self._http11: httpcore.AsyncHTTP11Connection | None = None
        self._connect_lock = anyio.Lock()
        self._read_lock = anyio.Lock()
        self._write_lock = anyio.Lock()
        self._streams: dict[int, _Stream] = {}
        self._state = _NEW
        self._failure: Exception | None = None  # why the connection broke, for every stream
        self._goaway = False
        self._max_streams = 100  # until the server's SETTINGS say otherwise
        self._settled = False  # the server's SETTINGS arrived
        self._expire_at: float | None = None
        self.requests = 0
        """Requests sent on this connection."""

    # ---------------------------------------------------------------- connecting

    async def connect(self, seconds: float | None) -> None:
        """Open the connection (TCP, TLS for ``https``, HTTP/2's preface); ``seconds`` bounds
        each step. Used ahead of any request by :meth:`Http2ConnectionPool.open_warm`, which
        then also waits for the server's settings.
        """
        async with self._connect_lock:
            if self._network is not None or self._http11 is not None:
                return
            if self._failure is not None:
                raise httpcore.ConnectionNotAvailable()
            host = self._origin.host.decode("ascii")
            try:
                network = await self._backend.connect_tcp(host, self._origin.port, timeout=seconds)
            except BaseException as exc:
                self._fail(
                    exc if isinstance(exc, Exception) else httpcore.ConnectError("cancelled")
                )
                raise
            try:
                if self._origin.scheme == b"https":
                    context = self._ssl_context or ssl.create_default_context()
                    network = await network.start_tls(
                        context, server_hostname=host, timeout=seconds
                    )
                    tls = network.get_extra_info("ssl_object")
                    if tls is None or tls.selected_alpn_protocol() != "h2":
                        self._http11 = httpcore.AsyncHTTP11Connection(
                            self._origin, network, keepalive_expiry=self._keepalive_expiry
                        )
                        return
                self._h2.local_settings = h2.settings.Settings(
                    client=True,
                    initial_values={
                        h2.settings.SettingCodes.ENABLE_PUSH: 0,
                        h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                        h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
                        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                    },
                )
                # Some servers refuse this setting in the handshake (httpcore drops it too).
                del self._h2.local_settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL]
                self._h2.initiate_connection()
                self._h2.increment_flow_control_window(STREAM_WINDOW - 65535)
                self._network = network
                await self._send(seconds)
            except BaseException as exc:
                self._fail(
                    exc if isinstance(exc, Exception) else httpcore.ConnectError("cancelled")
                )
                with anyio.CancelScope(shield=True):
                    await network.aclose()
                raise

    async def settle(self, seconds: float | None) -> None:
        """Wait for the server's SETTINGS: the connection is known to speak HTTP/2, and idle."""
        if self._http11 is None:
            await self._read_until(lambda: self._settled, seconds)
        if self._state == _NEW:
            self._state = _IDLE
            expiry = self._keepalive_expiry
            self._expire_at = None if expiry is None else time.monotonic() + expiry

    # ---------------------------------------------------------------- the interface

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self._may_open_stream():
            raise httpcore.ConnectionNotAvailable()
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        if self._network is None and self._http11 is None:
            await self.connect(timeouts.get("connect"))
        if self._http11 is not None:
            return await self._http11.handle_async_request(request)
        if not self._may_open_stream():
            raise httpcore.ConnectionNotAvailable()
        try:
            stream_id = self._h2.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:
            self._goaway = True  # every id used: no new stream here, ever
            raise httpcore.ConnectionNotAvailable() from None
        stream = self._streams[stream_id] = _Stream(stream_id)
        self._state = _ACTIVE
        self._expire_at = None
        self.requests += 1
        try:
            body = _has_body(request)
            self._h2.send_headers(stream_id, _headers(request), end_stream=not body)
            await self._send(timeouts.get("write"))
            if body:
                await self._send_body(stream, request, timeouts)
            head = await self._next_head(stream, timeouts.get("read"))
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self.stream_closed(stream)
            if isinstance(exc, _NotProcessed):
                # The server's GOAWAY says it never saw this stream: the pool sends it again
                # on another connection, as it does for a connection that is not available.
                raise httpcore.ConnectionNotAvailable() from None
            raise
        status = 0
        headers = []
        for name, value in head.headers or ():
            if name == b":status":
                status = int(value)
            elif not name.startswith(b":"):
                headers.append((bytes(name), bytes(value)))
        if head.stream_ended is not None:
            stream.ended = True
        return httpcore.Response(
            status=status,
            headers=headers,
            content=Http2Body(self, stream, timeouts.get("read")),
            extensions={"http_version": b"HTTP/2", "network_stream": self._network},
        )

    async def aclose(self) -> None:
        self._state = _CLOSED
        if self._http11 is not None:
            await self._http11.aclose()
        network, self._network = self._network, None
        if network is not None:
            await network.aclose()

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self._origin

    def is_available(self) -> bool:
        if self._http11 is not None:
            return self._http11.is_available()
        return self._may_open_stream()

    def has_expired(self) -> bool:
        if self._http11 is not None:
            return self._http11.has_expired()
        if self._state == _CLOSED or self._failure is not None:
            return True
        if self._state != _IDLE:
            return False
        if self._expire_at is not None and time.monotonic() > self._expire_at:
            return True
        # Bytes waiting on an idle connection are no sign of a close, unlike HTTP/1.1: they are
        # usually the END_STREAM of a stream closed at its terminal event. A server going away
        # says so (GOAWAY), and a stream it excluded is resent on another connection.
        return self._goaway or self._network is None

    def is_idle(self) -> bool:
        if self._http11 is not None:
            return self._http11.is_idle()
        return self._state == _IDLE

    def is_closed(self) -> bool:
        if self._http11 is not None:
            return self._http11.is_closed()
        return self._state == _CLOSED

    def info(self) -> str:
        if self._http11 is not None:
            return self._http11.info()
        state = ("NEW", "ACTIVE", "IDLE", "CLOSED")[self._state]
        return f"HTTP/2, {state}, Request Count: {self.requests}, streams {len(self._streams)}"

    def __repr__(self) -> str:
        return f"<Http2Connection [{self._origin}, {self.info()}]>"

    # ---------------------------------------------------------------- streams

    def _may_open_stream(self) -> bool:
        if self._state == _CLOSED or self._failure is not None or self._goaway:
            return False
        return len(self._streams) < self._max_streams

    async def _send_body(
        self, stream: _Stream, request: httpcore.Request, timeouts: dict[str, float | None]
    ) -> None:
        assert isinstance(request.stream, AsyncIterable)

        def window() -> int:
            return self._h2.local_flow_control_window(stream.id)

        async for chunk in request.stream:
            view = memoryview(chunk)
            while view:
                if window() <= 0:
                    await self._read_until(
                        lambda: window() > 0 or stream.ready(), timeouts.get("write")
                    )
                    if window() <= 0:
                        return  # the server answered (or reset the stream) before the end
                    continue
                frame = min(window(), len(view), self._h2.max_outbound_frame_size)
                self._h2.send_data(stream.id, bytes(view[:frame]))
                view = view[frame:]
                await self._send(timeouts.get("write"))
        self._h2.end_stream(stream.id)
        await self._send(timeouts.get("write"))

    async def _next_head(
        self, stream: _Stream, seconds: float | None
    ) -> h2.events.ResponseReceived:
        while True:
            event = await self.next_event(stream, seconds)
            if isinstance(event, h2.events.ResponseReceived):
                return event
            if isinstance(event, h2.events.StreamReset):
                raise _reset_error(event)
            # 1xx informational heads are skipped, as httpcore does.

    async def next_event(self, stream: _Stream, seconds: float | None) -> _StreamEvent:
        """The stream's next event, reading the socket while there is none (``seconds``)."""
        if not stream.events:
            await self._read_until(stream.ready, seconds)
        if stream.failure is not None and not stream.events:
            raise stream.failure
        return stream.events.popleft()

    async def _read_until(self, ready: Callable[[], bool], seconds: float | None) -> None:
        """Read the socket, a read at a time, until ``ready()``; ``seconds`` bounds the wait.

        One task reads at a time (the lock) and hands every stream its events; a task that
        gets the lock after its events came in another task's read does not read at all.
        """
        try:
            with anyio.fail_after(seconds):
                while not ready():
                    if self._failure is not None:
                        raise self._failure
                    async with self._read_lock:
                        if ready() or self._failure is not None:
                            continue
                        await self._read_once()
        except TimeoutError:
            raise httpcore.ReadTimeout("timed out waiting for the server") from None

    async def _read_once(self) -> None:
        network = self._network
        if network is None:
            raise httpcore.ReadError("the connection is closed")
        # Window updates for what the consumers took go out first: the server may be waiting
        # for them before it sends anything more.
        with anyio.CancelScope(shield=True):
            await self._send(None)
        try:
            data = await network.read(READ_BLOCK)
        except Exception as exc:
            self._fail(exc)
            raise
        if not data:
            error = httpcore.RemoteProtocolError("the server closed the connection")
            self._fail(error)
            raise error
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            error = httpcore.RemoteProtocolError(f"HTTP/2 protocol error: {exc}")
            self._fail(error)
            raise error from exc
        for event in events:
            self._dispatch(event)
        with anyio.CancelScope(shield=True):  # acks, settings acks, pongs: whole frames only
            await self._send(None)

    def _dispatch(self, event: h2.events.Event) -> None:
        if isinstance(event, _StreamEvent):
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                stream.events.append(event)
            elif isinstance(event, h2.events.DataReceived):
                # A stream already closed: credit its bytes to the connection's window.
                self._h2.acknowledge_received_data(
                    event.flow_controlled_length or 0, event.stream_id or 0
                )
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self._settled = True
            changed = event.changed_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
            if changed is not None and changed.new_value is not None:
                self._max_streams = max(1, min(changed.new_value, 100))
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._goaway = True
            last = event.last_stream_id or 0
            for stream in self._streams.values():
                if stream.id > last:  # the server will not process it: it may be retried
                    stream.failure = _NotProcessed(
                        f"the server is going away (GOAWAY {event.error_code!s})"
                    )

    def take_data(self, stream: _Stream, event: h2.events.DataReceived) -> bytes:
        """The data of ``event``, its bytes credited back to the server (sent on next write)."""
        length = event.flow_controlled_length or 0
        if length:
            self._h2.acknowledge_received_data(length, stream.id)
        return event.data or b""

    async def stream_closed(self, stream: _Stream) -> None:
        """Forget ``stream``; reset it (``CANCEL``) if the server had not ended it."""
        if self._streams.pop(stream.id, None) is None:
            return
        for event in stream.events:  # never read: credit them back all the same
            if isinstance(event, h2.events.DataReceived):
                self.take_data(stream, event)
            elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                stream.ended = True
        stream.events.clear()
        if not stream.ended and not stream.reset and self._failure is None:
            stream.reset = True
            # Closed on both sides meanwhile (its END_STREAM in flight): nothing to reset.
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self._h2.reset_stream(stream.id, h2.errors.ErrorCodes.CANCEL)
        if self._failure is None and self._network is not None:
            # A failed write is recorded by _send for the other streams.
            with contextlib.suppress(Exception):
                await self._send(None)
        if not self._streams and self._state == _ACTIVE:
            self._state = _IDLE
            expiry = self._keepalive_expiry
            self._expire_at = None if expiry is None else time.monotonic() + expiry

    # ---------------------------------------------------------------- writing

    async def _send(self, seconds: float | None) -> None:
        """Write what h2 has queued. Shielded: the bytes are taken from h2 at once, so a write
        cancelled half-way would corrupt the connection for every stream; ``seconds`` (else
        :data:`CLOSE_WRITE_SECONDS`) bounds it instead."""
        network = self._network
        async with self._write_lock:
            data = self._h2.data_to_send()
            if not data or network is None:
                return
            try:
                with anyio.CancelScope(shield=True):
                    await network.write(data, timeout=seconds or CLOSE_WRITE_SECONDS)
            except Exception as exc:
                self._fail(exc)
                raise

    def _fail(self, exc: Exception) -> None:
        """The connection is broken: every stream's next read raises ``exc``."""
        if self._failure is None:
            self._failure = exc


class Http2Body:
    """One response's body: its DATA frames' bytes, as a plain async iterator (no generator).

    Closing it before the end resets the stream (RST_STREAM ``CANCEL``).
    """

    __slots__ = ("_connection", "_seconds", "_stream")

    def __init__(self, connection: Http2Connection, stream: _Stream, seconds: float | None):
        self._connection = connection
        self._stream = stream
        self._seconds = seconds

    def __aiter__(self) -> Http2Body:
        return self

    async def __anext__(self) -> bytes:
        stream = self._stream
        while not stream.ended:
            event = await self._connection.next_event(stream, self._seconds)
            if isinstance(event, h2.events.DataReceived):
                data = self._connection.take_data(stream, event)
                if event.stream_ended is not None:
                    stream.ended = True
                if data:
                    return data
            elif isinstance(event, h2.events.StreamEnded):
                stream.ended = True
            elif isinstance(event, h2.events.StreamReset):
                stream.reset = stream.ended = True
                raise _reset_error(event)
            # Trailers are dropped: no provider sends any that the library reads.
        await self._connection.stream_closed(stream)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._connection.stream_closed(self._stream)


def network_backend() -> httpcore.AsyncNetworkBackend:
    """httpcore's backend for the running event loop (a pool is made per loop)."""
    if sniffio.current_async_library() == "trio":
        return httpcore.TrioBackend()
    return httpcore.AnyIOBackend()


class Http2ConnectionPool(WarmPool[httpcore.AsyncNetworkBackend]):
    """A pool of :class:`Http2Connection` (httpcore's limits, queueing and keep-alive expiry)."""

    def new_backend(self) -> httpcore.AsyncNetworkBackend:
        return network_backend()

    def new_connection(self, origin: httpcore.Origin) -> Http2Connection:
        return Http2Connection(
            origin, ssl_context=self._tls, keepalive_expiry=self._expiry, backend=self._backend
        )

    async def open_warm(self, origin: httpcore.Origin, seconds: float | None) -> None:
        """Open a connection to ``origin`` ahead of any request; the next new one is it.

        One is enough: it carries many streams. On failure nothing is kept.
        """
        if any(c.can_handle_request(origin) and not c.has_expired() for c in self._warm):
            return
        if any(c.can_handle_request(origin) and c.is_available() for c in self.connections):
            return
        connection = self.new_connection(origin)
        try:
            await connection.connect(seconds)
            await connection.settle(seconds)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await connection.aclose()
            raise
        self.add_warm(connection)


class _NotProcessed(httpcore.RemoteProtocolError):
    """A stream the server's GOAWAY excluded: it was never processed, so it may be resent."""


def _has_body(request: httpcore.Request) -> bool:
    return any(
        name.lower() in (b"content-length", b"transfer-encoding") and value not in (b"0", b"")
        for name, value in request.headers
    )


def _headers(request: httpcore.Request) -> list[tuple[bytes, bytes]]:
    authority = next(
        (value for name, value in request.headers if name.lower() == b"host"),
        request.url.host,
    )
    headers = [
        (b":method", request.method),
        (b":authority", authority),
        (b":scheme", request.url.scheme),
        (b":path", request.url.target),
    ]
    headers += [
        (name.lower(), value) for name, value in request.headers if name.lower() not in _HOP_BY_HOP
    ]
    return headers


def _reset_error(event: h2.events.StreamReset) -> httpcore.RemoteProtocolError:
    code = event.error_code
    name = code.name if isinstance(code, h2.errors.ErrorCodes) else str(code)
    return httpcore.RemoteProtocolError(f"the server reset the stream ({name})")
