"""The gateway's I/O shell: trio-websocket, one nursery per connection, one task per generation.

Memory per connection is bounded: incoming messages by ``max_message_size`` (a larger one
closes the connection with 1009), outgoing ones by a queue of ``output_queue`` messages. When
the queue is full a generation waits before pulling its next chunk, so the upstream response
is not read either (backpressure reaches the provider through TCP). A client that reads
nothing for ``stall_timeout`` seconds is disconnected, which cancels its generations and
closes their upstream sockets.
"""

from __future__ import annotations

import contextlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketServer,
)

from .._http import aclose_http_clients
from ._codec import chunk_to_dict, error_to_dict
from ._protocol import (
    Cancel,
    GenerationId,
    MessageError,
    Policy,
    cancelled_message,
    chunk_message,
    done_message,
    error_message,
    parse_client_message,
    refusal,
)

__all__ = ("GatewayConfig", "GatewayStats", "serve_gateway")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """How the gateway runs.

    Attributes:
        token: The bearer token clients must present; ``None`` turns authentication off.
        policy: What a client request may carry (credentials, endpoints).
        max_message_size: Largest client message accepted, in bytes.
        output_queue: Server messages queued per connection before generations wait.
        stall_timeout: Seconds a client may leave a message unread before it is dropped.
        max_generations: Generations running at once on one connection.
    """

    token: str | None
    policy: Policy = field(default_factory=Policy)
    max_message_size: int = 1 << 20
    output_queue: int = 64
    stall_timeout: float = 30.0
    max_generations: int = 32


@dataclass(slots=True)
class GatewayStats:
    """Counters for operators and tests (read them from the gateway's own thread)."""

    connections_open: int = 0
    connections_rejected: int = 0
    generations_started: int = 0
    generations_cancelled: int = 0
    chunks_pulled: int = 0
    max_queued: int = 0
    """The most server messages ever waiting in one connection's queue."""
    backpressure_waits: int = 0
    """Times a generation found its connection's queue full and waited."""
    stalled_clients: int = 0


async def serve_gateway(
    config: GatewayConfig,
    host: str,
    port: int,
    *,
    stats: GatewayStats | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; ``task_status.started`` receives the bound port.

    On cancellation every connection and generation is cancelled, and the HTTP pool of this
    event loop is closed.
    """
    stats = stats if stats is not None else GatewayStats()
    listeners = await trio.open_tcp_listeners(port, host=host)

    async def handler(request: WebSocketRequest) -> None:
        await _handle(request, config, stats)

    server = WebSocketServer(
        handler,
        listeners,
        max_message_size=config.max_message_size,
        message_queue_size=1,
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            task_status.started(server.port)
    finally:
        with trio.CancelScope(shield=True):
            await aclose_http_clients()


def authorized(headers: list[tuple[bytes, bytes]], token: str) -> bool:
    """Whether the handshake carries ``Authorization: Bearer <token>`` (constant time)."""
    expected = b"Bearer " + token.encode()
    for name, value in headers:
        if name.lower() == b"authorization":
            return hmac.compare_digest(value.strip(), expected)
    return False


async def _handle(request: WebSocketRequest, config: GatewayConfig, stats: GatewayStats) -> None:
    if config.token is not None and not authorized(request.headers, config.token):
        stats.connections_rejected += 1
        await request.reject(
            401,
            extra_headers=[(b"www-authenticate", b"Bearer")],
            body=b"missing or wrong bearer token\n",
        )
        return
    ws = await request.accept()
    stats.connections_open += 1
    try:
        await _Connection(ws, config, stats).run()
    finally:
        stats.connections_open -= 1


class _Connection:
    def __init__(self, ws: WebSocketConnection, config: GatewayConfig, stats: GatewayStats):
        self.ws = ws
        self.config = config
        self.stats = stats
        self.outbox, self.outgoing = trio.open_memory_channel[str](config.output_queue)
        self.running: dict[GenerationId, trio.CancelScope] = {}

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write, nursery.cancel_scope.cancel)
            with contextlib.suppress(ConnectionClosed):
                await self._read(nursery)
            # The client left (or was dropped): its generations and their sockets go with it.
            nursery.cancel_scope.cancel()

    async def _read(self, nursery: trio.Nursery) -> None:
        while True:
            text = await self.ws.get_message()
            try:
                message = parse_client_message(text, self.config.policy)
                if isinstance(message, Cancel):
                    scope = self.running.get(message.id)
                    if scope is None:
                        raise MessageError("cancel: no generation with this id", id=message.id)
                    scope.cancel()
                    continue
                if message.id in self.running:
                    raise MessageError("id: a generation with this id is running", id=message.id)
                if len(self.running) >= self.config.max_generations:
                    raise MessageError(
                        f"too many generations at once (at most {self.config.max_generations})",
                        id=message.id,
                    )
            except MessageError as exc:
                await self._send(refusal(exc))
                continue
            scope = trio.CancelScope()
            self.running[message.id] = scope
            self.stats.generations_started += 1
            nursery.start_soon(
                self._generate, message.id, message.request, message.stream_options, scope
            )

    async def _generate(
        self,
        id_: GenerationId,
        request: dict[str, Any],
        options: dict[str, Any] | None,
        scope: trio.CancelScope,
    ) -> None:
        from .._api import generate_chat_completion_stream

        failure: dict[str, Any] | None = None
        try:
            with scope:
                try:
                    stream = await generate_chat_completion_stream(request, options)
                    async with stream:
                        async for chunk in stream:
                            self.stats.chunks_pulled += 1
                            await self._send(chunk_message(id_, chunk_to_dict(chunk)))
                except Exception as exc:  # one generation's failure is its own
                    failure = error_to_dict(exc)
        finally:
            del self.running[id_]
        if scope.cancelled_caught:
            self.stats.generations_cancelled += 1
            await self._send(cancelled_message(id_))
        elif failure is not None:
            await self._send(error_message(id_, failure))
        else:
            await self._send(done_message(id_))

    async def _send(self, text: str) -> None:
        try:
            self.outbox.send_nowait(text)
        except trio.WouldBlock:
            self.stats.backpressure_waits += 1
            await self.outbox.send(text)
        queued = self.outbox.statistics().current_buffer_used
        self.stats.max_queued = max(self.stats.max_queued, queued)

    async def _write(self, drop_client: Callable[[], None]) -> None:
        timeout = self.config.stall_timeout
        async for text in self.outgoing:
            with trio.move_on_after(timeout if timeout > 0 else math.inf) as waited:
                try:
                    await self.ws.send_message(text)
                except ConnectionClosed:
                    drop_client()
                    return
            if waited.cancelled_caught:
                self.stats.stalled_clients += 1
                drop_client()
                return
