"""HTTP/1.1 over one connection with h11: read requests, execute response plans.

This layer knows nothing about providers or scenarios. It reads a whole request (Content-Length
or chunked body), and sends a :class:`~._wire.ResponsePlan`, pacing, slicing and injecting the
plan's faults. While a response is being sent it also watches the socket, so a client that goes
away is noticed at once (a stalled or slowly paced stream would otherwise only notice at its
next write, or never).
"""

from __future__ import annotations

import enum
import http
import json
import math
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
import anyio.abc
import h11

from ._wire import Emit, Pause, ReceivedRequest, ResponsePlan, Stall, body_steps

__all__ = ("BadRequest", "HttpConnection", "Outcome", "StreamObserver", "play_body")

_RECEIVE_SIZE = 65536
_DISCONNECTED = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class BadRequest(Exception):
    """The client sent bytes that are not valid HTTP/1.1 (answered with 400, then closed)."""


class Outcome(enum.Enum):
    """How sending a response ended."""

    COMPLETED = "completed"
    """The whole body was sent."""
    ABORTED = "aborted"
    """The client went away (or the server shut down) before the whole body was sent."""
    CUT = "cut"
    """The plan's ``cut_after`` fault closed the connection on purpose."""


class StreamObserver(Protocol):
    """Told when a streaming response starts and how it ends (the server's counters)."""

    def stream_started(self) -> None:
        """The head of a streaming response was sent."""

    def stream_ended(self, outcome: Outcome) -> None:
        """A streaming response ended (every started stream ends exactly once)."""


async def play_body(
    plan: ResponsePlan,
    *,
    emit: Callable[[bytes], Awaitable[None]],
    flush: Callable[[], Awaitable[None]],
    stall: Callable[[], Awaitable[None]],
    cut: Callable[[], Awaitable[None]],
) -> bool:
    """Send ``plan``'s body (:func:`~._wire.body_steps`) through one HTTP layer's own ways to
    emit bytes, flush what it gathered, stall and cut the stream; False when it was cut.

    Everything gathered is flushed before a pause, a stall, a cut and the end.
    """
    for step in body_steps(plan):
        if isinstance(step, Emit):
            await emit(step.data)
            continue
        await flush()
        if isinstance(step, Pause):
            await anyio.sleep(step.seconds)
        elif isinstance(step, Stall):
            await stall()
        else:
            await cut()
            return False
    await flush()
    return True


class HttpConnection:
    """One server-side HTTP/1.1 connection.

    Args:
        stream: The accepted socket stream. The caller owns it and closes it.
    """

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self._stream = stream
        self._h11 = h11.Connection(h11.SERVER)
        # Bytes read by the watcher while a response was going out (a pipelined request).
        self._unread = bytearray()

    async def read_request(self) -> ReceivedRequest | None:
        """Read the next whole request; ``None`` when the client closed between requests.

        Raises:
            BadRequest: malformed HTTP, or the client left mid-request.
        """
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise BadRequest(str(exc)) from None
            if event is h11.NEED_DATA:
                if self._h11.they_are_waiting_for_100_continue:
                    go_on = h11.InformationalResponse(status_code=100, headers=[])
                    await self._write(self._h11.send(go_on))
                self._h11.receive_data(await self._receive())
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return _received(head, bytes(body))
            else:
                # ConnectionClosed between requests, or PAUSED (cannot happen: one request is
                # answered before the next is read).
                return None

    async def send_error(self, status: int, body: bytes) -> None:
        """Answer a request that could not be parsed, if the state machine still allows it."""
        if self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ]
        try:
            data = self._h11.send(h11.Response(status_code=status, headers=headers))
            data = (data or b"") + (self._h11.send(h11.Data(data=body)) or b"")
            await self._write(data + (self._h11.send(h11.EndOfMessage()) or b""))
        except (h11.LocalProtocolError, *_DISCONNECTED):
            pass

    def start_next_cycle(self) -> bool:
        """Prepare for the next request on this connection; ``False`` if it must close."""
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            return True
        return False

    async def send(self, plan: ResponsePlan, observer: StreamObserver) -> Outcome:
        """Send one response as the plan says. ``CUT`` and ``ABORTED`` leave it unusable.

        Cancellation (server shutdown) propagates; a stream in flight is reported ``ABORTED``.
        """
        outcome = Outcome.ABORTED
        started = False
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_peer, tg.cancel_scope)
                try:
                    if plan.head_delay:
                        await anyio.sleep(plan.head_delay)
                    await self._write(self._h11.send(_response_head(plan)))
                    if plan.stream:
                        started = True
                        observer.stream_started()
                    outcome = await self._send_body(plan)
                except _DISCONNECTED:
                    outcome = Outcome.ABORTED
                tg.cancel_scope.cancel()
        finally:
            if started:
                observer.stream_ended(outcome)
        return outcome

    async def _send_body(self, plan: ResponsePlan) -> Outcome:
        # Chunk framing is done here rather than through h11: for chunked bodies h11 keeps no
        # byte count, so the state machine stays consistent, and a 5,000-event benchmark stream
        # then costs one small bytes concatenation per event.
        chunked = plan.stream
        pending = bytearray()
        size = plan.slice_bytes

        burst = plan.burst_bytes if chunked else None

        async def emit(data: bytes) -> None:
            if burst is not None:
                if data:  # an empty chunk would end the body
                    pending.extend(b"%x\r\n%b\r\n" % (len(data), data))
                if len(pending) >= burst:
                    await flush()
                return
            if size is None:
                await self._write_body(data, chunked)
                return
            pending.extend(data)
            while len(pending) >= size:
                piece = bytes(pending[:size])
                del pending[:size]
                await self._write_body(piece, chunked)

        async def flush() -> None:
            if pending:
                piece = bytes(pending)
                pending.clear()
                if burst is not None:
                    await self._stream.send(piece)  # framed already, chunk by chunk
                else:
                    await self._write_body(piece, chunked)

        async def stall() -> None:
            await self._stall(plan, chunked)

        async def cut() -> None:
            await self._cut(plan.cut_with_reset)

        if not await play_body(plan, emit=emit, flush=flush, stall=stall, cut=cut):
            return Outcome.CUT
        await self._write(self._h11.send(h11.EndOfMessage()) or b"")
        return Outcome.COMPLETED

    async def _stall(self, plan: ResponsePlan, chunked: bool) -> None:
        """Send nothing but keep-alive comments (if asked) for the stall's duration."""
        every = plan.keepalive_seconds
        with anyio.move_on_after(math.inf if plan.stall_seconds is None else plan.stall_seconds):
            while every is not None:
                await anyio.sleep(every)
                await self._write_body(b": keep-alive\n\n", chunked)
            await anyio.sleep_forever()

    async def _write_body(self, data: bytes, chunked: bool) -> None:
        if not data:
            return  # an empty chunk would end a chunked body
        if chunked:
            await self._stream.send(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            await self._write(self._h11.send(h11.Data(data=data)) or b"")

    async def _cut(self, reset: bool) -> None:
        if reset:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            raw = self._stream.extra(anyio.abc.SocketAttribute.raw_socket)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Shielded: closing wakes the watcher, which cancels this scope, and the checkpoint
        # inside aclose() would then turn our own cut into an "aborted by the client".
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()

    async def _watch_peer(self, scope: anyio.CancelScope) -> None:
        """Cancel ``scope`` as soon as the client closes or resets the connection."""
        try:
            while True:
                self._unread += await self._stream.receive(_RECEIVE_SIZE)
        except _DISCONNECTED:
            scope.cancel()

    async def _receive(self) -> bytes:
        if self._unread:
            data = bytes(self._unread)
            self._unread.clear()
            return data
        try:
            return await self._stream.receive(_RECEIVE_SIZE)
        except _DISCONNECTED:
            return b""  # h11 reads b"" as end of stream

    async def _write(self, data: bytes | None) -> None:
        if data:
            await self._stream.send(data)


def _response_head(plan: ResponsePlan) -> h11.Response:
    headers = list(plan.headers)
    if plan.stream:
        headers.append(("transfer-encoding", "chunked"))
    else:
        headers.append(("content-length", str(sum(len(event) for event in plan.events))))
    try:
        reason = http.HTTPStatus(plan.status).phrase
    except ValueError:
        reason = "Overloaded" if plan.status == 529 else ""
    return h11.Response(status_code=plan.status, headers=headers, reason=reason)


def _received(head: h11.Request, body: bytes) -> ReceivedRequest:
    target = head.target.decode("ascii", "replace")
    path, _, query = target.partition("?")
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    return ReceivedRequest(
        method=head.method.decode("ascii", "replace"),
        target=target,
        path=path,
        query=query,
        headers={name.decode("latin-1"): value.decode("latin-1") for name, value in head.headers},
        body=body,
        json=parsed,
    )
