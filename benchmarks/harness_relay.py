"""A TCP relay that notes when each content word passes, on the client's own clock.

The latency phase streams words that name themselves (``w<stream>n<index>``). The relay sits
between the clients and the provider server, in the client's event loop, and stamps the moment
each word's bytes arrive from the server, before forwarding them. A client's stamp for the same
word minus the relay's is the latency that client adds to that delta; the direct socket reader's
figure is the floor (the relay hop plus one read). Drift in the server's pacing cancels out,
since both stamps concern the same bytes.
"""

from __future__ import annotations

import re

import trio

WORD = re.compile(rb"w(\d+)n(\d+)")
TEXT_WORD = re.compile(r"w(\d+)n(\d+)")


def words(stream: int, count: int) -> str:
    """The text of one stream: ``count`` words, each naming its stream and position."""
    return " ".join(f"w{stream}n{i}" for i in range(count))


class Relay:
    """Forwards 127.0.0.1:``port`` to the provider server; ``stamps[(stream, i)]`` is arrival."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.stamps: dict[tuple[int, int], float] = {}
        self.port = 0

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, client: trio.SocketStream) -> None:
        upstream = await trio.open_tcp_stream("127.0.0.1", self.upstream_port)
        async with client, upstream, trio.open_nursery() as nursery:
            nursery.start_soon(self._pipe, client, upstream, False, nursery.cancel_scope)
            nursery.start_soon(self._pipe, upstream, client, True, nursery.cancel_scope)

    async def _pipe(
        self,
        source: trio.SocketStream,
        sink: trio.SocketStream,
        stamp: bool,
        scope: trio.CancelScope,
    ) -> None:
        tail = b""
        try:
            while data := await source.receive_some(65536):
                if stamp:
                    now = trio.current_time()
                    seen = tail + data
                    for match in WORD.finditer(seen):
                        key = (int(match.group(1)), int(match.group(2)))
                        self.stamps.setdefault(key, now)
                    tail = seen[-24:]
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()
