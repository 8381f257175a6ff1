"""A raw TCP listener for what the local provider server cannot do: never answer, send
broken HTTP, keep a finished body open, mislabel a body. Yields a base URL and what it saw."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc

from pipeline import aclose_http_clients

from ._waiting import SAFETY_NET


class Seen:
    """What a raw listener saw: connections accepted, whole requests read; waitable."""

    def __init__(self) -> None:
        self.accepted = 0
        self.requests = 0
        self._changed = anyio.Event()

    def note(self, *, accepted: int = 0, requests: int = 0) -> None:
        self.accepted += accepted
        self.requests += requests
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        with anyio.fail_after(SAFETY_NET):
            while not predicate():
                await self._changed.wait()


Handler = Callable[[anyio.abc.SocketStream, Seen], Awaitable[None]]


async def read_request(stream: anyio.abc.SocketStream, seen: Seen) -> None:
    """Read one whole HTTP request (head and ``content-length`` body), then count it."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += await stream.receive()
    seen.note(requests=1)


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, Seen]]:
    """A TCP listener running ``handler`` per connection; yields (base URL, what it saw)."""
    seen = Seen()

    async def serve(stream: anyio.abc.SocketStream) -> None:
        seen.note(accepted=1)
        async with stream:
            await handler(stream, seen)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        try:
            yield f"http://127.0.0.1:{port}/v1", seen
        finally:
            tg.cancel_scope.cancel()
    await aclose_http_clients()


async def never_answer(stream: anyio.abc.SocketStream, seen: Seen) -> None:
    await read_request(stream, seen)
    await anyio.sleep_forever()


def answer_with(raw: bytes) -> Handler:
    async def handler(stream: anyio.abc.SocketStream, seen: Seen) -> None:
        # The whole request is read first: closing with unread bytes would reset the
        # connection and could destroy the answer before the client reads it.
        await read_request(stream, seen)
        await stream.send(raw)

    return handler


def chunked(*parts: bytes) -> bytes:
    """``parts`` as HTTP/1.1 chunks, without the final empty chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)
