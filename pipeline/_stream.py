"""The public stream: a supervised race for the first token, then the winner pulled directly.

A :class:`ChatCompletionStream` moves through :class:`StreamState`: ``READY`` (nothing sent),
``STREAMING`` (committed to the winning attempt) and ``FINISHED``. Its first ``__anext__``
runs the :class:`~pipeline._supervisor.Supervisor`, whose task group lives inside that one
``await`` and ends when an attempt commits (or every attempt failed). From then on each
``__anext__`` hands out a chunk already decoded, or reads the next block of the winner's body
and pushes it through the attempt's fused cores (SSE framing → provider decoder → tool-call
assembler → final aggregator → public chunks), then through the stream's own chunk stages
(sentence segmenter → markdown cleaner → the caller's), in the caller's task: no background
task, nothing yielded across a task group, safe to iterate from any task under trio or asyncio.

Resources: the HTTP response is closed when the stream ends, fails, is cancelled, is closed
with :meth:`ChatCompletionStream.aclose` or ``async with``, or, if the caller simply stops
iterating and drops it, on the next scheduler tick after it is garbage collected.

After the commit point an error is raised with ``partial_response`` set to what was received
and ``attempts`` recording every attempt; it is never silently replayed.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from types import TracebackType

import anyio

from ._attempt import Attempt
from ._core import FusedCore, StageCore
from ._errors import PipelineError, ProviderError
from ._http import release_client
from ._secrets import redact_known
from ._supervisor import Supervisor
from ._types import ChatCompletionChunk, FinalResponseChunk

ChunkStage = StageCore[ChatCompletionChunk, ChatCompletionChunk]


class StreamState(enum.Enum):
    """Where a :class:`ChatCompletionStream` is in its life."""

    READY = "ready"
    """Nothing sent yet: the first ``__anext__`` starts the race."""
    STREAMING = "streaming"
    """Committed to the winning attempt, which is pulled directly."""
    FINISHED = "finished"
    """Ended, failed or closed: iteration stops."""


class ChatCompletionStream:
    """An async iterable of :data:`ChatCompletionChunk`; also an async context manager.

    Iterate it once. On cancellation every HTTP response is closed before the cancellation
    propagates; the stream is then finished. ``stages`` run on the public chunks after the
    commit point, so they never see output of an attempt that lost or was retried.
    """

    # A thousand concurrent streams are a thousand of these: no per-instance dict.
    __slots__ = (
        "__weakref__",
        "_after_commit",
        "_attempt",
        "_next",
        "_pending",
        "_supervisor",
        "_waiting",
        "state",
    )

    def __init__(self, supervisor: Supervisor, *, stages: Sequence[ChunkStage] = ()) -> None:
        self._supervisor = supervisor
        self._after_commit: FusedCore | None = FusedCore(stages) if stages else None
        # Chunks ready for the caller, from position ``_next`` on. A list replaced at each
        # pull, not a deque: a deque's first block costs 600 bytes per open stream.
        self._pending: list[ChatCompletionChunk] = []
        self._next = 0
        self._attempt: Attempt | None = None
        self._waiting: anyio.CancelScope | None = None  # around the race
        self.state = StreamState.READY

    # ---------------------------------------------------------------- protocol

    def __aiter__(self) -> ChatCompletionStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        while True:
            position = self._next
            pending = self._pending
            if position < len(pending):
                self._next = position + 1
                return pending[position]
            if self.state is StreamState.FINISHED:
                raise StopAsyncIteration
            if self.state is StreamState.READY:
                await self._race()
            else:
                await self._pull()

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
        """Stop the stream and close its HTTP responses. Idempotent; safe under cancellation.

        Another task may call it while one iterates: a race in progress (a connection, a
        backoff wait, a hedge) is cancelled, a read in progress fails, and the iterating task
        sees the stream end.
        """
        self.state = StreamState.FINISHED
        self._pending, self._next = [], 0
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.cancel()
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            await attempt.aclose()

    def __del__(self) -> None:
        attempt = self._attempt
        if attempt is not None and not attempt.closed:
            self._attempt = None
            _close_in_background(attempt)

    # ---------------------------------------------------------------- machinery

    async def _race(self) -> None:
        scope = self._waiting = anyio.CancelScope()
        try:
            with scope:  # cancelled only by aclose() from another task: the stream then ends
                winner = await self._supervisor.run()
        except BaseException:
            self.state = StreamState.FINISHED
            raise
        finally:
            self._waiting = None
        if scope.cancelled_caught or self.state is StreamState.FINISHED:
            await self._supervisor.close_all()
            self.state = StreamState.FINISHED
            return
        self._attempt = winner
        self.state = StreamState.STREAMING
        await self._hand_on(winner)

    async def _pull(self) -> None:
        attempt = self._attempt
        if attempt is None:  # closed by another task
            self.state = StreamState.FINISHED
            return
        try:
            await attempt.pull()
        except PipelineError as error:
            redact_known(error, self._supervisor.secrets)
            attempt.error = error
            self._attempt = None
            self.state = StreamState.FINISHED
            if isinstance(error, ProviderError):
                error.partial_response = attempt.partial_response()
                error.attempts = tuple(self._supervisor.records(winner_outcome="failed"))
                if error.partial_response is not None:
                    error.partial_response.attempts = list(error.attempts)
            raise
        except BaseException:
            self._attempt = None
            self.state = StreamState.FINISHED
            raise
        if self.state is StreamState.FINISHED:  # closed by another task during the read
            return
        await self._hand_on(attempt)

    async def _hand_on(self, attempt: Attempt) -> None:
        """Pass the attempt's new output through the stream's stages to the caller.

        An error of a chunk stage is the stream's, not the attempt's: the commit came first,
        so it is never retried nor sent to a fallback.
        """
        chunks = attempt.take()
        end = attempt.finished
        if end:
            records = self._supervisor.records()
            for chunk in chunks:
                if isinstance(chunk, FinalResponseChunk):
                    chunk.response.attempts = records
        after = self._after_commit
        # Called only once the caller has taken every pending chunk: the new ones replace them.
        if after is not None:
            # The read's chunks go through together: the sentence stage segments the text of
            # consecutive deltas at once (same sentences, one segmenter call per read).
            staged = after.feed_block(chunks)
            if end:
                staged.extend(after.flush())
            chunks = staged
        self._pending, self._next = chunks, 0
        if end:
            self.state = StreamState.FINISHED
            self._attempt = None
            await attempt.aclose()


_background: set[asyncio.Task[None]] = set()


def _close_in_background(attempt: Attempt) -> None:
    """Close a dropped stream's response soon, on the event loop that owns it.

    The garbage collector may run this anywhere: in a task, in a loop callback, in a worker
    thread, under another event loop. The close is therefore always scheduled thread-safely
    on the owner; if the owner has finished, its sockets are gone and only the count is
    handed back.
    """
    owner = attempt.owner
    try:
        if isinstance(owner, asyncio.AbstractEventLoop):
            owner.call_soon_threadsafe(_start_asyncio_close, owner, attempt)
        else:
            owner.run_sync_soon(_start_trio_close, attempt)  # type: ignore[attr-defined]
    except RuntimeError:  # the loop is closed, or the trio run has finished
        _forget(attempt)


def _forget(attempt: Attempt) -> None:
    attempt.closed = True
    if attempt.shard is not None:
        release_client(attempt.shard)


def _start_asyncio_close(loop: asyncio.AbstractEventLoop, attempt: Attempt) -> None:
    task = loop.create_task(attempt.aclose())
    _background.add(task)
    task.add_done_callback(_background.discard)


def _start_trio_close(attempt: Attempt) -> None:
    import trio

    try:
        trio.lowlevel.spawn_system_task(attempt.aclose, name="close dropped stream")
    except RuntimeError:  # pragma: no cover - the run is ending: its sockets go with it
        _forget(attempt)
