"""The local provider server over HTTP/2 (h2c, prior knowledge): same scenarios, many streams.

Routing, planning, recording and the stream counters are the HTTP/1.1 server's
(:class:`~._server_core.LocalProviderServer`); only the connection layer differs
(:mod:`._h2_connection`). On top it counts the HTTP/2 streams clients open and records every
RST_STREAM they send, so a test can assert that many streams shared few connections and that
a stream a consumer left was reset, not left running::

    async with open_local_http2_server() as server:
        url = server.base_url(Synthetic(20, pace_ms=5))
        ...  # ChatCompletionRequest(..., http2=True), base_url=url
        assert server.connections_accepted == 1
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from ._fixtures import default_fixtures_dir
from ._h2_connection import Http2Connection
from ._server_core import LocalProviderServer, serve_on

__all__ = ("LocalHttp2Server", "open_local_http2_server")


class LocalHttp2Server(LocalProviderServer):
    """A real HTTP/2 server on loopback (h2c only) that speaks the providers' wire protocols.

    Create it with :func:`open_local_http2_server`. Everything of
    :class:`~pipeline.testing.LocalProviderServer` applies (``base_url``, ``requests``,
    ``errors``, ``connections_accepted``, ``streams_*``, ``wait_until``), with HTTP/2's
    differences: ``cut_after`` resets the stream (counted in ``streams_cut``) and an error
    status is a whole response on its stream. An HTTP/1.1 request is answered 505 and its
    connection closed.

    Attributes:
        h2_streams_opened: HTTP/2 streams (requests) clients opened, on every connection.
        resets_received: The error code of every RST_STREAM a client sent, in order
            (``h2.errors.ErrorCodes.CANCEL`` is 8).
    """

    def __init__(
        self,
        host: str,
        port: int,
        fixtures_dir: Path,
        trusted_service_accounts: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(host, port, fixtures_dir, trusted_service_accounts)
        self.h2_streams_opened = 0
        self.resets_received: list[int] = []

    # Http2Observer, called by the connection layer.

    def h2_stream_opened(self) -> None:
        """Count a stream a client opened."""
        self.h2_streams_opened += 1
        self._notify()

    def reset_received(self, error_code: int) -> None:
        """Record a client's RST_STREAM."""
        self.resets_received.append(error_code)
        self._notify()

    async def serve_connection(self, stream: anyio.abc.SocketStream) -> None:
        """Serve one accepted h2c connection until either side closes it; always closes it."""
        self.open_connections += 1
        self.connections_accepted += 1
        self._notify()
        try:
            async with stream:
                raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await Http2Connection(stream, self._respond, self).serve()
        except Exception as exc:  # one bad connection must not stop the server
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.open_connections -= 1
            self._notify()


@asynccontextmanager
async def open_local_http2_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    fixtures_dir: str | Path | None = None,
    trusted_service_accounts: Mapping[str, Any] | None = None,
) -> AsyncIterator[LocalHttp2Server]:
    """Run a :class:`LocalHttp2Server` for the duration of the ``async with`` block.

    Arguments, exit and cancellation as for :func:`~pipeline.testing.open_local_server`.
    Clients must speak HTTP/2 with prior knowledge (``http2=True`` on an ``http://`` URL).
    """
    root = Path(fixtures_dir) if fixtures_dir is not None else default_fixtures_dir()

    def make(bound: int) -> LocalHttp2Server:
        return LocalHttp2Server(host, bound, root, trusted_service_accounts)

    async with serve_on(host, port, make) as server:
        yield server
