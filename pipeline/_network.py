"""Sockets of the bulk transport: anyio streams behind httpcore's network interface.

httpcore's own network streams wrap every read in a cancel scope (``fail_after``) and map its
exceptions through a generator-based context manager: a few microseconds per read, and on trio
a few hundred bytes per read, since an exited scope stays in the run's deadline queue until its
deadline would have passed (300 s by default). A thousand paced streams keep hundreds of
thousands of them.

:class:`NetworkStream` offers the same interface (:class:`httpcore.AsyncNetworkStream`) for
the waits that take a timeout of their own (connect, TLS, writes, the response head), and
:meth:`NetworkStream.receive`, which reads with no cancel scope at all: a body's reads are
bounded by one idle deadline per response instead (:mod:`pipeline._idle`). One implementation
serves trio and asyncio (anyio streams, anyio's TLS).
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import anyio
import anyio.abc
import httpcore
from anyio.streams.tls import TLSAttribute, TLSStream

_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
"""What a failed socket operation raises (``ssl.SSLError`` is an ``OSError``)."""


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class NetworkStream(httpcore.AsyncNetworkStream):
    """One TCP connection, plain or TLS. Errors are httpcore's, as from its own streams."""

    __slots__ = ("_stream",)

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream

    async def receive(self, max_bytes: int) -> bytes:
        """The next bytes the socket has (``b""`` at the end), with no timeout of its own.

        Its caller bounds the wait: another task may :meth:`aclose` the stream, and the read
        then fails at once.
        """
        try:
            return await self._stream.receive(max_bytes)
        except anyio.EndOfStream:
            return b""
        except _BROKEN as exc:
            raise httpcore.ReadError(_message(exc)) from exc

    # httpcore's interface takes ``timeout`` arguments (ruff's ASYNC109 would rather not).
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        try:
            with anyio.fail_after(timeout):
                return await self.receive(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(f"no bytes within {timeout:g} s") from exc

    async def send(self, data: bytes) -> None:
        """Send all of ``data``, with no timeout of its own (see :meth:`receive`)."""
        try:
            await self._stream.send(data)
        except _BROKEN as exc:
            raise httpcore.WriteError(_message(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not buffer:
            return
        try:
            with anyio.fail_after(timeout):
                await self.send(buffer)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(f"could not send within {timeout:g} s") from exc

    async def aclose(self) -> None:
        """Close the connection (no TLS goodbye); a read in another task then fails."""
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> NetworkStream:
        try:
            with anyio.fail_after(timeout):
                wrapped = await TLSStream.wrap(
                    self._stream,
                    hostname=server_hostname,
                    ssl_context=ssl_context,
                    standard_compatible=False,
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"TLS handshake took over {timeout:g} s") from exc
        except (*_BROKEN, anyio.EndOfStream) as exc:
            raise httpcore.ConnectError(_message(exc)) from exc
        return NetworkStream(wrapped)

    def get_extra_info(self, info: str) -> Any:
        stream = self._stream
        if info == "ssl_object":
            return stream.extra(TLSAttribute.ssl_object, None)
        if info == "client_addr":
            return stream.extra(anyio.abc.SocketAttribute.local_address, None)
        if info == "server_addr":
            return stream.extra(anyio.abc.SocketAttribute.remote_address, None)
        if info == "socket":
            return stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if info == "is_readable":
            return _readable(stream.extra(anyio.abc.SocketAttribute.raw_socket, None))
        return None


def _readable(sock: socket.socket | None) -> bool:
    """Whether a read would return at once: bytes, or the end (a closed socket counts)."""
    if sock is None or sock.fileno() < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)  # pragma: no cover - Windows
    return bool(readable)


class NetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens :class:`NetworkStream` connections, under trio or asyncio."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> NetworkStream:
        try:
            with anyio.fail_after(timeout):
                stream = await anyio.connect_tcp(host, port, local_host=local_address)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"no connection within {timeout:g} s") from exc
        except _BROKEN as exc:
            raise httpcore.ConnectError(_message(exc)) from exc
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        # A request goes out in one write; the next one must not wait for an ACK.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for option in socket_options or ():
            raw.setsockopt(*option)
        return NetworkStream(stream)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
