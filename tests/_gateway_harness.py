"""The gateway and a local provider server on a trio loop in a background thread.

Gateway tests drive it with an independent client library (``websockets``) from the test's own
thread, over real loopback sockets, and read both servers' counters to see what happened.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

from pipeline._gateway import GatewayConfig, GatewayStats, serve_gateway
from pipeline.testing import LocalProviderServer, open_local_server
from tests._waiting import SAFETY_NET


class GatewayThread:
    """Start with :meth:`start`, stop with :meth:`stop`; ``url`` is ``ws://127.0.0.1:PORT``."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.stats = GatewayStats()
        self.server: LocalProviderServer | None = None
        self.port = 0
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def provider(self) -> LocalProviderServer:
        assert self.server is not None
        return self.server

    def start(self) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(SAFETY_NET):
            raise RuntimeError("gateway did not start")
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self) -> None:
        if self._token is not None and self._stop is not None:
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(SAFETY_NET)
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Same as :meth:`stop` (for ``contextlib.closing``)."""
        self.stop()

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run ``fn(*args)`` on the gateway's loop and return its result."""
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Block until ``predicate`` holds, checked whenever the provider server's counts move."""

        async def wait() -> None:
            with trio.fail_after(SAFETY_NET):
                await self.provider.wait_until(predicate)

        self.call(wait)

    def poll_until(self, predicate: Callable[[], bool]) -> None:
        """Block until ``predicate`` holds, for gateway counters that signal nothing."""

        async def poll() -> None:
            with trio.fail_after(SAFETY_NET):
                while not predicate():  # noqa: ASYNC110 - the counters signal nothing
                    await trio.sleep(0.005)

        self.call(poll)

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to the test thread
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with open_local_server() as server, trio.open_nursery() as nursery:
            self.server = server
            serve = partial(serve_gateway, self.config, "127.0.0.1", 0, stats=self.stats)
            self.port = await nursery.start(serve)
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()
