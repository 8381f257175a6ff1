"""One attempt: one provider configuration, one HTTP exchange, opened, pulled and closed.

An :class:`Attempt` owns its response, its fused cores and its record. ``open`` sends the
request and waits for the response head (a non-streaming attempt also reads and decodes the
whole body); ``pull`` reads the next block of a streamed body and pushes it through the cores,
keeping what they produce until :meth:`Attempt.take` hands it on. The attempt *commits* on its
first token: the first content, refusal, tool-call or reasoning event. Keep-alive bytes, pings
and empty deltas never commit it.

Time budgets: ``timeout`` bounds each network wait (connect, the response head, each wait for
more body bytes) through httpx's own per-operation timeouts, so the consumer's time between
pulls never counts. ``first_token_timeout`` is the supervisor's: a deadline on the race.
Every transport failure leaves here as a typed :class:`~pipeline._errors.ProviderError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import anyio
import httpx

from providers import HTTPRequestSpec, ProviderCodec, codec_for
from providers._base import json_body
from stages.aggregator import INCOMPLETE, ResponseAggregator
from stages.content_encoding import ContentDecoder
from stages.tool_calls import ToolCallAssembler

from ._auth import authorize
from ._chunks import ChunkMapper
from ._core import FusedCore, StageCore
from ._errors import PipelineError, ProtocolError, RequestValidationError
from ._events import (
    Event,
    ReasoningDelta,
    RefusalDelta,
    ResponseReady,
    StreamEnded,
    TextDelta,
    ToolCallStarted,
)
from ._fast_path import FastDeltaCore, stream_core
from ._http import (
    TIMEOUTS,
    Shard,
    acquire_client,
    build_request,
    loop_key,
    release_client,
    transport_error,
)
from ._plan import PlannedAttempt, plan_requests
from ._schedule import Launch
from ._secrets import header_secrets, redact_known
from ._transport import BODY_EXTENSION, BodyReader
from ._types import (
    AttemptOutcome,
    AttemptRecord,
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionsProvider,
    RetryConfiguration,
)


@dataclass(frozen=True, slots=True)
class PreparedAttempt:
    """A planned attempt with its codec and HTTP request built, before any I/O."""

    planned: PlannedAttempt
    codec: ProviderCodec
    spec: HTTPRequestSpec

    @property
    def retry(self) -> RetryConfiguration:
        return self.planned.retry

    @property
    def provider_name(self) -> str:
        return self.planned.provider_name


def prepare(planned: PlannedAttempt, *, stream: bool) -> PreparedAttempt:
    """Build the HTTP request of ``planned``: raises ConfigurationError (no key, say) early."""
    codec = codec_for(planned.request.provider)
    return PreparedAttempt(planned, codec, codec.build_request(planned.request, stream=stream))


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


def stream_chain(
    codec: ProviderCodec, watch: ProgressWatch, aggregator: ResponseAggregator
) -> list[StageCore[Any, Any]]:
    """The built-in cores of a streamed body, in order: the one place they are named.

    SSE framing → the provider's decoder → the progress watch → tool-call assembly →
    the final aggregator (it holds back the finish reason and usage) → public chunks.
    Plain content deltas usually skip them on the fast path (:mod:`pipeline._fast_path`),
    which gives the same chunks.
    """
    provider = codec.provider.value
    return [
        codec.event_framing(),
        codec.stream_decoder(),
        watch,
        ToolCallAssembler(provider=provider),
        aggregator,
        ChunkMapper(),
    ]


def body_chain(provider: CompletionsProvider) -> list[StageCore[Any, Any]]:
    """The built-in cores of a whole (non-streaming) body's events."""
    return [ToolCallAssembler(provider=provider.value), ResponseAggregator(provider=provider)]


_FIRST_TOKEN = (TextDelta, RefusalDelta, ReasoningDelta, ToolCallStarted)


class ProgressWatch:
    """Notes an attempt's first token (its commit point) and the provider's terminal event.

    Every event passes through but :class:`StreamEnded`, which only sets :attr:`ended`.
    """

    __slots__ = ("ended", "seen")

    def __init__(self) -> None:
        self.seen = False
        self.ended = False

    def feed(self, event: Event, /) -> Sequence[Event]:
        if type(event) is StreamEnded:
            self.ended = True
            return ()
        if not self.seen and isinstance(event, _FIRST_TOKEN):
            self.seen = True
        return (event,)

    def flush(self) -> Sequence[Event]:
        return ()


class Attempt:
    """One HTTP exchange of one planned configuration. See the module docstring.

    ``owner`` is the event loop (asyncio) or run token (trio) the response belongs to: a
    dropped stream is closed there, whichever thread or loop the garbage collector runs on.
    """

    __slots__ = (
        "_aggregator",
        "_body",
        "_core",
        "_ended",
        "_failure",
        "_first_token",
        "_head",
        "_output",
        "_response",
        "_started",
        "_watch",
        "closed",
        "error",
        "finished",
        "launch",
        "owner",
        "prepared",
        "shard",
        "status_code",
        "stream",
    )

    def __init__(self, prepared: PreparedAttempt, launch: Launch, *, stream: bool) -> None:
        self.prepared = prepared
        self.launch = launch
        self.stream = stream
        self.shard: Shard | None = None
        self.owner: object = None
        self.status_code: int | None = None
        self.finished = False
        self.closed = False
        self.error: BaseException | None = None
        self._response: httpx.Response | None = None
        self._body: AsyncIterator[bytes] | None = None
        self._core: FusedCore | FastDeltaCore | None = None
        self._aggregator: ResponseAggregator | None = None
        self._watch: ProgressWatch | None = None
        self._output: list[Any] = []
        self._failure: Exception | None = None
        self._started: float | None = None
        self._head: float | None = None
        self._first_token: float | None = None
        self._ended: float | None = None

    @property
    def provider(self) -> str:
        return self.prepared.provider_name

    @property
    def committed(self) -> bool:
        """Whether the first token arrived (a whole non-streaming response counts)."""
        return self._first_token is not None

    # ---------------------------------------------------------------- I/O

    async def open(self) -> None:
        """Send the request and wait for the response head; raises a typed ProviderError.

        A non-streaming attempt also reads and decodes the whole body, and is then finished.
        On cancellation or failure the response is closed before the exception propagates.
        """
        codec = self.prepared.codec
        self._started = anyio.current_time()
        request = self.prepared.planned.request
        seconds = request.timeout
        waits = TIMEOUTS if seconds is None else httpx.Timeout(seconds)
        response, shard = await send_request(
            self.prepared.spec, codec, stream=self.stream, waits=waits, http2=request.http2
        )
        self._head = anyio.current_time()
        self.status_code = response.status_code
        self._response, self.shard, self.owner = response, shard, loop_key()
        provider = codec.provider
        if not self.stream:
            await self._read_whole(response)
            return
        content_type = response.headers.get("content-type", "")
        if not content_type.lower().startswith("text/event-stream"):
            await self._not_an_event_stream(response, content_type)
        cores: list[StageCore[Any, Any]] = []
        coding = response.headers.get("content-encoding", "identity").strip().lower()
        if coding not in ("", "identity"):
            try:
                cores.append(ContentDecoder(coding, provider=self.provider))
            except ProtocolError:
                await self.aclose()
                raise
        self._watch = ProgressWatch()
        self._aggregator = ResponseAggregator(provider=provider)
        chain = stream_chain(codec, self._watch, self._aggregator)
        if cores:  # a compressed body: the fast path reads the wire's own bytes only
            self._core = FusedCore(cores + chain)
        else:
            self._core = stream_core(chain, watch=self._watch, aggregator=self._aggregator)
        # Raw bytes: content decoding is the first core's job (see stages.content_encoding).
        # Over HTTP/1.1 the transport's reader gives bulk blocks directly (pipeline._transport),
        # skipping httpx's per-read generators; HTTP/2 and proxies read through httpx.
        reader = response.extensions.get(BODY_EXTENSION)
        self._body = reader if isinstance(reader, BodyReader) else response.aiter_raw()

    async def pull(self) -> None:
        """Read the next block of the body and decode it; at the end, flush the cores.

        Outputs accumulate until :meth:`take`. The provider's terminal event ends the attempt
        at once (the rest of the body is not read). Raises a typed ProviderError (decoding
        errors included) and closes the response; when the same read also carried valid
        output, that output is kept for :meth:`take` and the error is raised by the next
        call, so nothing received is lost. A read that fails because another task closed the
        attempt ends it quietly instead.
        """
        assert self._body is not None
        assert self._core is not None
        if self._failure is not None:
            failure, self._failure = self._failure, None
            await self.aclose()
            raise failure
        try:
            try:
                data = await self._body.__anext__()
            except StopAsyncIteration:
                if not self.closed:
                    await self._end()
                return
            if self.closed:  # closed by another task while this one was reading
                return
            self._decoded(*self._core.feed_partial(data))
            if self._failure is None and self._watch is not None and self._watch.ended:
                # The body may go on (a proxy keeping it open): close it. Only its last chunk
                # is usually left, which keeps the connection warm for the next request.
                if isinstance(self._body, BodyReader):
                    self._body.expect_end()
                await self._end()
        except BaseException as exc:
            if self.closed and isinstance(exc, Exception):
                self.finished = True  # another task closed it: the read failed, quietly
                return
            await self.aclose()
            if isinstance(exc, Exception):
                _raise_typed(exc, self.provider, reading_body=True)
            raise

    async def _end(self) -> None:
        """The body ended, or the provider's terminal event came: flush, finish, close."""
        assert self._core is not None
        self._decoded(*self._core.flush_partial())
        if self._failure is None:
            self._end_of_body()
            await self.aclose()

    def _decoded(self, output: list[Any], error: Exception | None) -> None:
        """Keep what the cores produced; an error behind output not yet taken waits one pull.

        So the output is handed on first (it may be the commit point), and the error follows.
        """
        self._output += output
        self._note_first_token()
        if error is None:
            return
        if not self._output:
            raise error
        self._failure = error

    async def _read_whole(self, response: httpx.Response) -> None:
        codec = self.prepared.codec
        try:
            body = await response.aread()
        except Exception as exc:
            await self.aclose()
            _raise_typed(exc, self.provider, reading_body=True)
        await self.aclose()
        core = FusedCore(body_chain(codec.provider))
        for event in codec.decode_response(body):
            core.feed(event)
        self._output = core.flush()
        self._first_token = anyio.current_time()
        self.finished = True
        whole = self.response()
        if whole.finish_reason == INCOMPLETE:
            # The same rule as a stream that ends without one: the provider did not finish.
            error = ProtocolError(
                f"{self.provider} sent a whole response without a finish reason",
                provider=self.provider,
            )
            error.retryable = True
            error.partial_response = whole
            raise error

    async def _not_an_event_stream(self, response: httpx.Response, content_type: str) -> None:
        """A 200 that is not an event stream: the provider's error object, or a protocol error."""
        body = await read_at_most(response, ERROR_BODY_LIMIT)
        await self.aclose()
        payload = json_body(body)
        if isinstance(payload, dict | list) and payload:
            raise self.prepared.codec.decode_error(response.status_code, response.headers, body)
        start = body[:200].decode("utf-8", "replace")
        raise ProtocolError(
            f"{self.provider} answered {response.status_code} with content-type "
            f"{content_type or '(none)'!r} instead of an event stream; the body starts "
            f"{start!r}",
            provider=self.provider,
        )

    def take(self) -> list[Any]:
        """What the cores produced since the last call (public chunks when streaming)."""
        output, self._output = self._output, []
        return output

    async def aclose(self) -> None:
        """Close the response and hand the shard back, once; never raises but cancellation."""
        if self.closed:
            return
        self.closed = True
        if self._ended is None:
            self._ended = anyio.current_time() if self._started is not None else None
        response, shard = self._response, self.shard
        if response is None or shard is None:
            return
        try:
            with anyio.CancelScope(shield=True):
                await response.aclose()
                if self._body is not None:
                    await _wind_down(self._body)
        except Exception:  # pragma: no cover - closing a socket that is being discarded
            pass
        finally:
            release_client(shard)

    # ---------------------------------------------------------------- results

    def response(self) -> ChatCompletionResponse:
        """The whole response of a finished non-streaming attempt."""
        for event in self._output:
            if isinstance(event, ResponseReady):
                return event.response
        raise AssertionError("the aggregator always ends with the response")  # pragma: no cover

    def partial_response(self) -> ChatCompletionResponse | None:
        """What a streaming attempt received so far."""
        return self._aggregator.snapshot() if self._aggregator is not None else None

    def record(self, outcome: AttemptOutcome) -> AttemptRecord:
        """What this attempt did, as the caller sees it."""
        started = self._started

        def since(moment: float | None) -> float | None:
            return None if moment is None or started is None else moment - started

        ended = self._ended if self._ended is not None else anyio.current_time()
        request = self.prepared.planned.request
        return AttemptRecord(
            provider=self.provider,
            model=request.model,
            outcome=outcome,
            retry=self.launch.retry,
            hedge=self.launch.hedge,
            status_code=self.status_code or getattr(self.error, "status_code", None),
            error_type=type(self.error).__name__ if self.error is not None else None,
            time_to_head=since(self._head),
            time_to_first_token=since(self._first_token),
            duration=since(ended if started is not None else None),
        )

    def _note_first_token(self) -> None:
        watch = self._watch
        if self._first_token is None and watch is not None and watch.seen:
            self._first_token = anyio.current_time()

    def _end_of_body(self) -> None:
        self._note_first_token()
        if self._first_token is None:
            # A complete answer with no token at all (an empty reply) still ends the race.
            self._first_token = anyio.current_time()
        self.finished = True


async def send_request(
    spec: HTTPRequestSpec,
    codec: ProviderCodec,
    *,
    stream: bool,
    waits: httpx.Timeout,
    http2: bool = False,
) -> tuple[httpx.Response, Shard]:
    """Send ``spec``; an error status becomes the codec's typed error (body read first).

    ``waits`` bounds each network wait (connect, write, the head, each read of the body). A
    spec with an authorizer is authorized first (an access token, cached and shared).
    """
    provider = codec.provider.value
    spec = await authorize(spec, provider=provider)
    shard = acquire_client(spec.url, http2=http2)
    try:
        try:
            request = build_request(
                shard.client, spec.method, spec.url, spec.headers, spec.body, waits=waits
            )
            response = await shard.client.send(request, stream=stream)
        except Exception as exc:
            _raise_typed(exc, provider, reading_body=False)
        if response.status_code >= 400:
            try:
                body = await read_at_most(response, ERROR_BODY_LIMIT)
            except Exception as exc:
                _raise_typed(exc, provider, reading_body=True)
            raise codec.decode_error(response.status_code, response.headers, body)
    except BaseException as exc:
        release_client(shard)
        if isinstance(exc, PipelineError):
            # An access token fetched just now is in no call's secrets: hide it by value too.
            redact_known(exc, header_secrets(spec.headers))
        raise
    return response, shard


def _raise_typed(exc: Exception, provider: str, *, reading_body: bool) -> NoReturn:
    """Raise the library error for ``exc``: itself if it already is one, or if it is a bug."""
    if isinstance(exc, PipelineError):
        raise exc
    error = transport_error(exc, provider=provider, reading_body=reading_body)
    if error is None:
        raise exc
    raise error from exc


ERROR_BODY_LIMIT = 64 * 1024
"""Bytes read of an error body (or a 200 that is not a stream): plenty for any message."""


async def read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The first ``limit`` bytes of ``response``'s decoded body; the response is then closed.

    A 60 MB error page costs 64 KB, not 60 MB: the rest is never read.
    """
    chunks: list[bytes] = []
    size = 0
    body = response.aiter_bytes()
    try:
        async for chunk in body:
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    finally:
        with anyio.CancelScope(shield=True):
            await response.aclose()
            await _wind_down(body)
    return b"".join(chunks)[:limit]


async def _wind_down(body: AsyncIterator[bytes]) -> None:
    """End httpx's chain of body generators after the response is closed.

    httpx reads a body through several nested async generators; closing the response closes the
    socket but leaves them suspended, and trio warns about each one it collects. Resuming the
    outermost one in a cancelled scope makes the innermost raise at its first checkpoint, and
    that unwinds and finishes every generator of the chain at once. Never a read: an HTTP/2
    stream's connection stays open, and a read there would wait for frames that never come.
    """
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            async for _ in body:
                pass
        except Exception:
            pass
