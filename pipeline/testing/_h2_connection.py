"""One server-side HTTP/2 connection, cleartext with prior knowledge (h2c), with h2.

The same scenarios as the HTTP/1.1 server (the planner's :class:`~._wire.ResponsePlan`), sent
as HTTP/2 streams, many at once on one connection. h2 is the sans-IO state machine: this module
feeds it the socket's bytes, acts on its events and writes what it has to send. Every stream's
response runs in its own task and only queues frames in h2; one writer task sends them. So the
reader never waits for a write: a client that is busy sending (it reads only when one of its
requests waits for a response) is always read, and neither side can block the other with a
full socket buffer. The client's flow-control windows bound what is queued.

Faults as HTTP/2 can express them: an error status is a whole response (headers, then a JSON
body) sent before any event; ``cut_after`` resets the stream (RST_STREAM ``INTERNAL_ERROR``)
where HTTP/1.1 closes the connection, and the connection's other streams go on. The client's
own RST_STREAM (a consumer that stopped early) cancels that stream's task and is recorded, with
its error code, for tests.

A client that does not open with the HTTP/2 preface (an HTTP/1.1 request) is answered
``505 HTTP Version Not Supported`` in HTTP/1.1, saying that this server speaks h2c only, and
the connection is closed: a clear error, not a hang.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from typing import Protocol

import anyio
import anyio.abc
import anyio.lowlevel
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from ._http_server import Outcome, StreamObserver, play_body
from ._wire import ReceivedRequest, ResponsePlan

__all__ = ("PREFACE", "Http2Connection", "Http2Observer")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""The first bytes of every HTTP/2 connection (RFC 9113 §3.4)."""

_RECEIVE_SIZE = 65536
_DISCONNECTED = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)

_NOT_HTTP2 = json.dumps(
    {
        "error": {
            "message": "This server speaks HTTP/2 only (h2c with prior knowledge); "
            "the request came as HTTP/1.1.",
            "type": "invalid_request_error",
            "code": "http_version_not_supported",
        }
    }
).encode()


class Http2Observer(StreamObserver, Protocol):
    """The server's counters: streams as the HTTP/1.1 layer reports them, plus HTTP/2's own."""

    def h2_stream_opened(self) -> None:
        """A client opened an HTTP/2 stream (sent a request's headers)."""

    def reset_received(self, error_code: int) -> None:
        """A client reset one of its streams (RST_STREAM) with ``error_code``."""


class Http2Connection:
    """One server-side h2c connection: read requests, answer each on its own stream.

    Args:
        stream: The accepted socket stream. The caller owns it and closes it.
        respond: The plan for each whole request (the server's routing and planner).
        observer: Told about streams and resets.
    """

    def __init__(
        self,
        stream: anyio.abc.SocketStream,
        respond: Callable[[ReceivedRequest], ResponsePlan],
        observer: Http2Observer,
    ) -> None:
        self._stream = stream
        self._respond = respond
        self._observer = observer
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self._h2 = h2.connection.H2Connection(config=config)
        self._queued = anyio.Event()
        self._window_opened = anyio.Event()
        self._heads: dict[int, list[tuple[bytes, bytes]]] = {}
        self._bodies: dict[int, bytearray] = {}
        self._scopes: dict[int, anyio.CancelScope] = {}

    async def serve(self) -> None:
        """Serve until the client closes the connection (or sends GOAWAY); cancel-safe."""
        first = await self._receive_preface()
        if first is None:
            return
        self._h2.initiate_connection()
        self._flush()
        async with anyio.create_task_group() as streams:
            streams.start_soon(self._write, streams.cancel_scope)
            try:
                await self._read(first, streams)
            finally:
                streams.cancel_scope.cancel()
        with contextlib.suppress(*_DISCONNECTED):  # the last frames (a GOAWAY) if it can
            last = self._h2.data_to_send()
            if last:
                await self._stream.send(last)

    async def _receive_preface(self) -> bytes | None:
        """The connection's first bytes, once they are known to be HTTP/2 (``None``: not)."""
        data = b""
        while len(data) < len(PREFACE) and PREFACE.startswith(data):
            try:
                data += await self._stream.receive(_RECEIVE_SIZE)
            except _DISCONNECTED:
                return None
        if data.startswith(PREFACE):
            return data
        head = (
            b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_NOT_HTTP2)
        )
        with contextlib.suppress(*_DISCONNECTED):
            await self._stream.send(head + _NOT_HTTP2)
        return None

    async def _read(self, data: bytes, streams: anyio.abc.TaskGroup) -> None:
        while True:
            try:
                events = self._h2.receive_data(data)
            except h2.exceptions.ProtocolError:
                return  # h2 has queued the GOAWAY that says why
            for event in events:
                if not self._handle(event, streams):
                    return
            self._flush()
            try:
                data = await self._stream.receive(_RECEIVE_SIZE)
            except _DISCONNECTED:
                return

    def _handle(self, event: h2.events.Event, streams: anyio.abc.TaskGroup) -> bool:
        """Act on one event; ``False`` when the connection is over."""
        if isinstance(event, h2.events.RequestReceived):
            self._observer.h2_stream_opened()
            self._heads[event.stream_id] = [(bytes(k), bytes(v)) for k, v in event.headers or ()]
            self._bodies[event.stream_id] = bytearray()
            if event.stream_ended is not None:
                self._start(event.stream_id, streams)
        elif isinstance(event, h2.events.DataReceived):
            self._bodies.setdefault(event.stream_id, bytearray()).extend(event.data or b"")
            # Credit the bytes back at once: a request body is read whole before planning.
            self._h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
            if event.stream_ended is not None:
                self._start(event.stream_id, streams)
        elif isinstance(event, h2.events.StreamEnded):
            if event.stream_id not in self._scopes:
                self._start(event.stream_id, streams)
        elif isinstance(event, h2.events.StreamReset):
            self._observer.reset_received(int(event.error_code or 0))
            scope = self._scopes.get(event.stream_id)
            if scope is not None:
                scope.cancel()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._window_opened.set()
            self._window_opened = anyio.Event()
        elif isinstance(event, h2.events.ConnectionTerminated):
            return False
        return True

    def _start(self, stream_id: int, streams: anyio.abc.TaskGroup) -> None:
        head = self._heads.pop(stream_id, [])
        body = bytes(self._bodies.pop(stream_id, b""))
        scope = self._scopes[stream_id] = anyio.CancelScope()
        streams.start_soon(self._answer, stream_id, _received(head, body), scope)

    async def _answer(
        self, stream_id: int, request: ReceivedRequest, scope: anyio.CancelScope
    ) -> None:
        plan = self._respond(request)
        outcome = Outcome.ABORTED
        started = False
        try:
            with scope:
                try:
                    if plan.head_delay:
                        await anyio.sleep(plan.head_delay)
                    self._h2.send_headers(stream_id, _response_head(plan))
                    self._flush()
                    if plan.stream:
                        started = True
                        self._observer.stream_started()
                    outcome = await self._send_body(stream_id, plan)
                except (h2.exceptions.StreamClosedError, *_DISCONNECTED):
                    outcome = Outcome.ABORTED
        finally:
            self._scopes.pop(stream_id, None)
            if started:
                self._observer.stream_ended(outcome)

    async def _send_body(self, stream_id: int, plan: ResponsePlan) -> Outcome:
        pending = bytearray()
        size = plan.slice_bytes
        burst = plan.burst_bytes if plan.stream else None

        async def emit(data: bytes) -> None:
            pending.extend(data)
            if burst is not None:
                if len(pending) >= burst:
                    await flush()
                return
            if size is None:
                await flush()
                return
            while len(pending) >= size:
                piece = bytes(pending[:size])
                del pending[:size]
                await self._send_data(stream_id, piece)

        async def flush() -> None:
            if pending:
                piece = bytes(pending)
                pending.clear()
                await self._send_data(stream_id, piece)

        async def stall() -> None:
            await self._stall(stream_id, plan)

        async def cut() -> None:
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            self._flush()

        if not await play_body(plan, emit=emit, flush=flush, stall=stall, cut=cut):
            return Outcome.CUT
        self._h2.end_stream(stream_id)
        self._flush()
        return Outcome.COMPLETED

    async def _stall(self, stream_id: int, plan: ResponsePlan) -> None:
        every = plan.keepalive_seconds
        with anyio.move_on_after(math.inf if plan.stall_seconds is None else plan.stall_seconds):
            while every is not None:
                await anyio.sleep(every)
                await self._send_data(stream_id, b": keep-alive\n\n")
            await anyio.sleep_forever()

    async def _send_data(self, stream_id: int, data: bytes) -> None:
        """Send ``data`` as DATA frames, as fast as the client's flow-control windows allow."""
        view = memoryview(data)
        while view:
            window = min(self._h2.local_flow_control_window(stream_id), len(view))
            if window <= 0:
                await self._window_opened.wait()
                continue
            sent = 0
            while sent < window:
                frame = min(window - sent, self._h2.max_outbound_frame_size)
                self._h2.send_data(stream_id, bytes(view[sent : sent + frame]))
                sent += frame
            view = view[window:]
            self._flush()
            await anyio.lowlevel.checkpoint()  # let the writer and the other streams run

    def _flush(self) -> None:
        """Wake the writer: h2 holds frames to send."""
        self._queued.set()

    async def _write(self, connection: anyio.CancelScope) -> None:
        """Send whatever h2 has queued, in its order, until the connection ends."""
        try:
            while True:
                await self._queued.wait()
                self._queued = anyio.Event()
                data = self._h2.data_to_send()
                if data:
                    await self._stream.send(data)
        except _DISCONNECTED:
            connection.cancel()  # the client is gone: so are its streams


def _response_head(plan: ResponsePlan) -> list[tuple[str, str]]:
    headers = [(":status", str(plan.status))]
    headers += [(name.lower(), value) for name, value in plan.headers]
    if not plan.stream:
        headers.append(("content-length", str(sum(len(event) for event in plan.events))))
    return headers


def _received(head: list[tuple[bytes, bytes]], body: bytes) -> ReceivedRequest:
    pseudo = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in head
        if name.startswith(b":")
    }
    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in head
        if not name.startswith(b":")
    }
    if ":authority" in pseudo:
        headers.setdefault("host", pseudo[":authority"])
    target = pseudo.get(":path", "")
    path, _, query = target.partition("?")
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    return ReceivedRequest(
        method=pseudo.get(":method", ""),
        target=target,
        path=path,
        query=query,
        headers=headers,
        body=body,
        json=parsed,
    )
