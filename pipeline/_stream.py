"""The public stream: one HTTP exchange at a time, pulled through fused stage cores.

The built-in path needs no background task. Each ``__anext__`` hands out a chunk already
decoded, or reads the next slice of the response body and pushes it through the attempt's fused
cores (SSE framing → provider decoder → tool-call assembler → final aggregator → public chunks),
then through the stream's own chunk stages (sentence segmenter → markdown cleaner → the
caller's). With no task group there is nothing to yield across, so the stream is safe to
iterate from any task, under trio or asyncio. Each attempt has its own ``timeout``.

Resources: the HTTP response is closed when the stream ends, fails, is cancelled, is closed
with :meth:`ChatCompletionStream.aclose` or ``async with``, or, if the caller simply stops
iterating and drops it, on the next scheduler tick after it is garbage collected.

Failures before the first chunk is handed out (the commit point) go to the attempt plan:
retry, fall back, or give up. After it, the error is raised with ``partial_response`` set to
what was received, never silently replayed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import httpx

from providers import HTTPRequestSpec, ProviderCodec, codec_for
from stages.aggregator import ResponseAggregator
from stages.sse import SSEDecoder
from stages.tool_calls import ToolCallAssembler

from ._auth import authorize
from ._chunks import ChunkMapper
from ._core import FusedCore, StageCore
from ._errors import ProviderConnectionError, ProviderError, RequestValidationError
from ._http import (
    Shard,
    acquire_client,
    build_request,
    loop_key,
    release_client,
    transport_error,
)
from ._supervisor import AttemptPlan, PlannedAttempt, plan_requests
from ._types import ChatCompletionChunk, ChatCompletionRequest, RetryConfiguration

ChunkStage = StageCore[ChatCompletionChunk, ChatCompletionChunk]


class _Exchange:
    """One open HTTP response and the cores decoding it.

    ``owner`` is the event loop (asyncio) or run token (trio) the response belongs to: a
    dropped stream is closed there, whichever thread or loop the garbage collector runs on.
    """

    __slots__ = (
        "aggregator",
        "body",
        "closed",
        "core",
        "deadline",
        "owner",
        "provider",
        "response",
        "shard",
    )

    def __init__(
        self,
        *,
        response: httpx.Response,
        shard: Shard,
        core: FusedCore,
        aggregator: ResponseAggregator,
        provider: str,
        deadline: float | None,
    ) -> None:
        self.response = response
        self.shard = shard
        self.core = core
        self.aggregator = aggregator
        self.provider = provider
        self.deadline = deadline
        self.body = response.aiter_bytes()
        self.owner = loop_key()
        self.closed = False

    async def aclose(self) -> None:
        """Close the response and hand the shard back, once; never raises but cancellation.

        Another task may be reading the body when this runs (``aclose`` on the stream from
        elsewhere); that read then fails, and the stream ends it quietly.
        """
        if self.closed:
            return
        self.closed = True
        try:
            with anyio.CancelScope(shield=True):
                await self.response.aclose()
                await _wind_down(self.body)
        except Exception:  # pragma: no cover - closing a socket that is being discarded
            pass
        finally:
            release_client(self.shard)


async def _wind_down(body: AsyncIterator[bytes]) -> None:
    """End httpx's chain of body generators after the response is closed.

    httpx reads a body through several nested async generators; closing the response closes the
    socket but leaves them suspended, and trio warns about each one it collects. Resuming the
    outermost one now makes the innermost hit the closed socket, and that error unwinds and
    finishes every generator of the chain. It ends at once: only bytes already buffered remain.
    """
    try:
        async for _ in body:
            pass
    except Exception:
        pass


async def send_request(
    spec: HTTPRequestSpec, codec: ProviderCodec, *, stream: bool
) -> tuple[httpx.Response, Shard]:
    """Send ``spec``; an error status becomes the codec's typed error (body read first).

    A spec with an authorizer is authorized first (an access token, cached and shared).
    """
    provider = codec.provider.value
    spec = await authorize(spec, provider=provider)
    shard = acquire_client(spec.url)
    try:
        try:
            response = await shard.client.send(
                build_request(shard.client, spec.method, spec.url, spec.headers, spec.body),
                stream=stream,
            )
        except Exception as exc:
            error = transport_error(exc, provider=provider)
            if error is None:
                raise
            raise error from exc
        if response.status_code >= 400:
            try:
                body = await response.aread()
            finally:
                await response.aclose()
            raise codec.decode_error(response.status_code, response.headers, body)
    except BaseException:
        release_client(shard)
        raise
    return response, shard


@dataclass(frozen=True, slots=True)
class PreparedAttempt:
    """A planned attempt with its codec and HTTP request built, before any I/O."""

    request: ChatCompletionRequest
    retry: RetryConfiguration
    codec: ProviderCodec
    spec: HTTPRequestSpec


def prepare(planned: PlannedAttempt, *, stream: bool) -> PreparedAttempt:
    """Build the HTTP request of ``planned``: raises ConfigurationError (no key, say) early."""
    codec = codec_for(planned.request.provider)
    spec = codec.build_request(planned.request, stream=stream)
    return PreparedAttempt(planned.request, planned.retry, codec, spec)


def prepare_all(request: ChatCompletionRequest, *, stream: bool) -> list[PreparedAttempt]:
    """Every attempt of ``request`` prepared; a codec's problem in a fallback names it.

    Raises:
        RequestValidationError: a codec refused a value; paths start ``fallbacks[i].``
            when the value is (or was inherited by) that fallback.
    """
    prepared = []
    for number, planned in enumerate(plan_requests(request)):
        try:
            prepared.append(prepare(planned, stream=stream))
        except RequestValidationError as exc:
            if number == 0:
                raise
            problems = [f"fallbacks[{number - 1}].{problem}" for problem in exc.problems]
            raise RequestValidationError(problems) from None
    return prepared


class ChatCompletionStream:
    """An async iterable of :data:`ChatCompletionChunk`; also an async context manager.

    Iterate it once. On cancellation the HTTP response is closed before the cancellation
    propagates; the stream is then finished. ``stages`` run on the public chunks after the
    commit point, so they never see output of an attempt that was then retried.
    """

    def __init__(
        self, plan: AttemptPlan[PreparedAttempt], *, stages: Sequence[ChunkStage] = ()
    ) -> None:
        self._plan = plan
        self._after_commit: StageCore[Any, Any] | None = FusedCore(stages) if stages else None
        self._pending: deque[ChatCompletionChunk] = deque()
        self._exchange: _Exchange | None = None
        self._committed = False
        self._done = False
        self._delay = 0.0
        self._waiting: anyio.CancelScope | None = None  # around a retry wait and a connect

    # ---------------------------------------------------------------- protocol

    def __aiter__(self) -> ChatCompletionStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        pending = self._pending
        while not pending:
            if self._done:
                raise StopAsyncIteration
            await self._advance()
        return pending.popleft()

    async def __aenter__(self) -> ChatCompletionStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream and close its HTTP response. Idempotent; safe under cancellation.

        Another task may call it while one iterates: a retry wait or a connection in progress
        is cancelled, a read in progress fails, and the iterating task sees the stream end.
        """
        self._done = True
        self._pending.clear()
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.cancel()
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            await exchange.aclose()

    def __del__(self) -> None:
        exchange = self._exchange
        if exchange is not None:
            self._exchange = None
            _close_in_background(exchange)

    # ---------------------------------------------------------------- machinery

    async def _advance(self) -> None:
        exchange = self._exchange
        if exchange is None:
            await self._open()
            return
        try:
            try:
                if exchange.deadline is None:
                    data = await exchange.body.__anext__()
                else:
                    with anyio.fail_after(max(0.0, exchange.deadline - anyio.current_time())):
                        data = await exchange.body.__anext__()
                if exchange.closed:  # closed by another task while this one was reading
                    return
            except StopAsyncIteration:
                if exchange.closed:  # another task closed it and finished the body
                    return
                self._hand_on(exchange.core.flush(), end=True)
                self._done = True
                self._exchange = None
                await exchange.aclose()
                return
            self._hand_on(exchange.core.feed(data), end=False)
        except BaseException as exc:
            if exchange.closed and isinstance(exc, Exception):
                return  # the read failed because another task closed the stream: its end
            await self._failed(exc, exchange)

    def _hand_on(self, chunks: Sequence[ChatCompletionChunk], *, end: bool) -> None:
        """Pass an attempt's output on; the first chunk is the commit point.

        The commit comes first: an error of a chunk stage is the stream's, not the attempt's,
        so it is never retried nor sent to a fallback.
        """
        if chunks:
            self._committed = True
        after = self._after_commit
        if after is None:
            self._pending.extend(chunks)
        else:
            for chunk in chunks:
                self._pending.extend(after.feed(chunk))
            if end:
                self._pending.extend(after.flush())

    async def _open(self) -> None:
        scope = self._waiting = anyio.CancelScope()
        try:
            with scope:  # cancelled only by aclose() from another task: the stream then ends
                await self._connect()
        finally:
            self._waiting = None

    async def _connect(self) -> None:
        if self._delay:
            delay, self._delay = self._delay, 0.0
            try:
                await anyio.sleep(delay)
            except BaseException:
                self._done = True  # cancelled while waiting to retry: the stream is over
                raise
            if self._done:  # closed by another task during the wait
                return
        attempt = self._plan.current
        codec = attempt.codec
        deadline = deadline_after(attempt.request.timeout)
        try:
            with anyio.fail_after(remaining(deadline)):
                response, shard = await send_request(attempt.spec, codec, stream=True)
        except BaseException as exc:
            if self._done and isinstance(exc, Exception):
                return  # closed by another task while connecting
            await self._failed(exc, None)
            return
        if self._done:  # closed by another task while connecting
            with anyio.CancelScope(shield=True):
                await response.aclose()
            release_client(shard)
            return
        aggregator = ResponseAggregator(provider=codec.provider)
        core = FusedCore(
            [
                SSEDecoder(provider=codec.provider.value),
                codec.stream_decoder(),
                ToolCallAssembler(provider=codec.provider.value),
                aggregator,
                ChunkMapper(),
            ]
        )
        self._exchange = _Exchange(
            response=response,
            shard=shard,
            core=core,
            aggregator=aggregator,
            provider=codec.provider.value,
            deadline=deadline,
        )

    async def _failed(self, exc: BaseException, exchange: _Exchange | None) -> None:
        """Close what is open, then retry, fall back or raise ``exc`` translated."""
        if exchange is not None:
            self._exchange = None
            await exchange.aclose()
        if not isinstance(exc, Exception):
            self._done = True
            raise exc
        provider = exchange.provider if exchange else self._plan.current.request.provider.value
        error = translate_failure(exc, provider)
        if self._committed:
            self._done = True
            if isinstance(error, ProviderError) and exchange is not None:
                error.partial_response = exchange.aggregator.snapshot()
            raise error
        self._pending.clear()
        delay = self._plan.after_failure(error)
        if delay is None:
            self._done = True
            final = self._plan.final_error()
            raise final from final.__cause__  # a transport error keeps its httpx cause
        self._delay = delay


def translate_failure(exc: Exception, provider: str) -> Exception:
    if isinstance(exc, TimeoutError):
        return ProviderConnectionError(
            f"{provider} did not finish within the request timeout",
            provider=provider,
            retryable=True,
        )
    return transport_error(exc, provider=provider) or exc


def deadline_after(timeout: float | None) -> float | None:
    return None if timeout is None else anyio.current_time() + timeout


def remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - anyio.current_time())


_background: set[asyncio.Task[None]] = set()


def _close_in_background(exchange: _Exchange) -> None:
    """Close a dropped stream's response soon, on the event loop that owns it.

    The garbage collector may run this anywhere: in a task, in a loop callback, in a worker
    thread, under another event loop. The close is therefore always scheduled thread-safely
    on the owner; if the owner has finished, its sockets are gone and only the count is
    handed back.
    """
    owner = exchange.owner
    try:
        if isinstance(owner, asyncio.AbstractEventLoop):
            owner.call_soon_threadsafe(_start_asyncio_close, owner, exchange)
        else:
            owner.run_sync_soon(_start_trio_close, exchange)  # type: ignore[attr-defined]
    except RuntimeError:  # the loop is closed, or the trio run has finished
        exchange.closed = True
        release_client(exchange.shard)


def _start_asyncio_close(loop: asyncio.AbstractEventLoop, exchange: _Exchange) -> None:
    task = loop.create_task(exchange.aclose())
    _background.add(task)
    task.add_done_callback(_background.discard)


def _start_trio_close(exchange: _Exchange) -> None:
    import trio

    try:
        trio.lowlevel.spawn_system_task(exchange.aclose, name="close dropped stream")
    except RuntimeError:  # pragma: no cover - the run is ending: its sockets go with it
        exchange.closed = True
        release_client(exchange.shard)
