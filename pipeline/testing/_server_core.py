"""The local provider server: accept loop, routing, recording and counters."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.abc

from ._fixtures import FixtureError, default_fixtures_dir
from ._formats import find_format
from ._http_server import BadRequest, HttpConnection, Outcome
from ._openai_wire import OpenAIFormat
from ._planner import Planner
from ._scenarios import Scenario, ScenarioDecodeError
from ._token_endpoint import TOKEN_PATH, TokenEndpoint
from ._urls import route, scenario_base_url
from ._wire import ReceivedRequest, ResponsePlan, WireFormat

__all__ = ("LocalProviderServer", "open_local_server", "serve_on")

# Errors before a provider format is known are worded the OpenAI way (the most common shape).
_GENERIC: WireFormat = OpenAIFormat()
_JSON = ("content-type", "application/json")


class LocalProviderServer:
    """A real HTTP/1.1 server on loopback that speaks the providers' wire protocols.

    Create it with :func:`open_local_server`. Everything it does is chosen by the request URL
    (see :meth:`base_url`), so tests read only its records and counters.

    Attributes:
        host: The address it listens on.
        port: The bound port.
        fixtures_dir: Root for replayed fixtures.
        requests: Every request received, in order.
        errors: Problems on the server's side (missing fixture, unexpected exception); a test
            can assert it is empty.
        open_connections: Connections accepted and not yet closed.
        connections_accepted: Connections accepted so far.
        streams_started: Streaming responses whose head was sent.
        streams_completed: ...whose whole body was sent.
        streams_aborted: ...ended because the client left (or the server shut down) first.
        streams_cut: ...ended by a ``cut_after`` fault.
        token_endpoint: The OAuth2 token endpoint, when trusted service accounts were given.
    """

    def __init__(
        self,
        host: str,
        port: int,
        fixtures_dir: Path,
        trusted_service_accounts: Mapping[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.fixtures_dir = fixtures_dir
        self.requests: list[ReceivedRequest] = []
        self.errors: list[str] = []
        self.open_connections = 0
        self.connections_accepted = 0
        self.streams_started = 0
        self.streams_completed = 0
        self.streams_aborted = 0
        self.streams_cut = 0
        self._planner = Planner(fixtures_dir)
        self.token_endpoint = (
            TokenEndpoint(trusted_service_accounts) if trusted_service_accounts else None
        )
        self._changed = anyio.Event()

    @property
    def root_url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def active_streams(self) -> int:
        """Streaming responses in flight."""
        ended = self.streams_completed + self.streams_aborted + self.streams_cut
        return self.streams_started - ended

    def base_url(self, scenario: Scenario | None = None, provider: str = "openai") -> str:
        """The base URL that makes this server answer with ``scenario``.

        Args:
            scenario: ``None`` serves the default demo reply.
            provider: Whose base URL: ``"openai"``, ``"alibaba"``, ``"anthropic"``,
                ``"anthropic_vertex"`` or ``"google"`` (see :func:`~._urls.scenario_base_url`).

        Returns:
            e.g. ``http://127.0.0.1:PORT/_s/<scenario>/v1``; append ``/chat/completions``.
        """
        return scenario_base_url(self.root_url, scenario, provider)

    def token_uri(self, *, expires_in: int | None = None, fail: int | None = None) -> str:
        """The ``token_uri`` for test service-account credentials (Google's OAuth2 endpoint).

        It verifies each JWT assertion against the trusted public keys; ``expires_in`` makes
        short-lived tokens and ``fail`` makes it answer that status. With trusted accounts,
        Vertex routes refuse a request whose bearer token it did not issue or has expired.
        """
        return TokenEndpoint.uri(self.root_url, expires_in=expires_in, fail=fail)

    @property
    def token_requests(self) -> int:
        """Requests the token endpoint received (0 without trusted accounts)."""
        return self.token_endpoint.token_requests if self.token_endpoint else 0

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; re-checked whenever a counter or ``requests`` changes.

        Bound the wait with the caller's cancel scope, e.g.
        ``with anyio.fail_after(1): await server.wait_until(...)``. Cancellation simply ends the
        wait.
        """
        while not predicate():
            await self._changed.wait()

    async def wait_until_idle(self) -> None:
        """Wait until no connection is open and no stream is in flight.

        A client that keeps connections in its pool keeps the server busy: close it first.
        Bound the wait with the caller's cancel scope (``anyio.fail_after``).
        """
        await self.wait_until(lambda: self.open_connections == 0 and self.active_streams == 0)

    # StreamObserver, called by the HTTP layer.

    def stream_started(self) -> None:
        """Count a stream whose head was sent."""
        self.streams_started += 1
        self._notify()

    def stream_ended(self, outcome: Outcome) -> None:
        """Count how a stream ended."""
        if outcome is Outcome.COMPLETED:
            self.streams_completed += 1
        elif outcome is Outcome.CUT:
            self.streams_cut += 1
        else:
            self.streams_aborted += 1
        self._notify()

    def _record(self, request: ReceivedRequest) -> None:
        self.requests.append(request)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def serve_connection(self, stream: anyio.abc.SocketStream) -> None:
        """Serve one accepted connection until either side closes it; always closes it."""
        self.open_connections += 1
        self.connections_accepted += 1
        self._notify()
        try:
            async with stream:
                # Paced small writes must not wait for Nagle's algorithm.
                raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await self._serve_requests(HttpConnection(stream))
        except Exception as exc:  # one bad connection must not stop the server
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.open_connections -= 1
            self._notify()

    async def _serve_requests(self, conn: HttpConnection) -> None:
        while True:
            try:
                request = await conn.read_request()
            except BadRequest as exc:
                message = f"Malformed HTTP request: {exc}"
                await conn.send_error(400, _GENERIC.error_body(400, message))
                return
            if request is None:
                return
            outcome = await conn.send(self._respond(request), self)
            if outcome is not Outcome.COMPLETED or not conn.start_next_cycle():
                return

    def _respond(self, request: ReceivedRequest) -> ResponsePlan:
        tokens = self.token_endpoint
        if tokens is not None and request.path == TOKEN_PATH:
            self._record(request)
            answer = tokens.answer(request.query, request.body, anyio.current_time())
            return _error(answer.status, answer.body)
        try:
            key, scenario, path = route(request.path)
        except ScenarioDecodeError as exc:
            self._record(request)
            return _error(400, _GENERIC.error_body(400, f"Bad scenario in URL: {exc}"))
        fmt = find_format(path)
        if fmt is None:
            self._record(request)
            if path == "/_health":
                return ResponsePlan(
                    status=200, headers=(_JSON,), events=(b'{"status":"ok"}',), stream=False
                )
            message = f"Unknown path {request.method} {request.path}"
            return _error(404, _GENERIC.error_body(404, message))
        self._record(_with(request, scenario, fmt.name))
        if (
            tokens is not None
            and "/publishers/" in path
            and not tokens.accepts(request.headers.get("authorization"), anyio.current_time())
        ):
            return _error(401, _UNAUTHENTICATED)
        if request.method != "POST":
            return _error(405, fmt.error_body(405, f"Method {request.method} not allowed"))
        if request.body and request.json is None:
            return _error(400, fmt.error_body(400, "The request body is not valid JSON."))
        try:
            return self._planner.plan(key, scenario, fmt, request)
        except FixtureError as exc:
            self.errors.append(str(exc))
            return _error(404, fmt.error_body(404, str(exc)))


# Google's front-end error shape, wrapped in an array as Vertex sometimes sends it.
_UNAUTHENTICATED = json.dumps(
    [
        {
            "error": {
                "code": 401,
                "message": "Request had invalid authentication credentials.",
                "status": "UNAUTHENTICATED",
            }
        }
    ]
).encode()


def _error(status: int, body: bytes) -> ResponsePlan:
    return ResponsePlan(status=status, headers=(_JSON,), events=(body,), stream=False)


def _with(request: ReceivedRequest, scenario: Scenario, provider: str) -> ReceivedRequest:
    return dataclasses.replace(request, scenario=scenario, provider=provider)


@asynccontextmanager
async def open_local_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    fixtures_dir: str | Path | None = None,
    trusted_service_accounts: Mapping[str, Any] | None = None,
) -> AsyncIterator[LocalProviderServer]:
    """Run a :class:`LocalProviderServer` for the duration of the ``async with`` block.

    Args:
        host: Address to listen on (loopback by default).
        port: Port; 0 picks a free one (read it from ``server.port``).
        fixtures_dir: Root for replayed fixtures; defaults to ``$PIPELINE_FIXTURES_DIR`` or the
            recorded streams shipped with this package. Only replays need it.
        trusted_service_accounts: ``client_email`` → RSA public key (PEM or key object):
            enables the OAuth2 token endpoint (:meth:`LocalProviderServer.token_uri`) and
            bearer-token checks on the Vertex routes.

    Yields:
        The running server; it accepts connections until the block exits.

    On exit (normal, exception or cancellation) the listener and every open connection are
    closed and the server's tasks are finished before this returns. A single exception raised
    in the block propagates as itself, not wrapped in an exception group.
    """
    root = Path(fixtures_dir) if fixtures_dir is not None else default_fixtures_dir()

    def make(bound: int) -> LocalProviderServer:
        return LocalProviderServer(host, bound, root, trusted_service_accounts)

    async with serve_on(host, port, make) as server:
        yield server


_S = TypeVar("_S", bound=LocalProviderServer)


@asynccontextmanager
async def serve_on(host: str, port: int, make: Callable[[int], _S]) -> AsyncIterator[_S]:
    """Listen on ``host:port``, serve with ``make(bound port)``'s server until the block exits.

    Shared by the HTTP/1.1 and HTTP/2 servers; see :func:`open_local_server` for the exit rules.
    """
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    async with listener:
        server = make(listener.extra(anyio.abc.SocketAttribute.local_port))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, server.serve_connection)
                try:
                    yield server
                finally:
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
