"""Stage graphs: pure cores fused into as few tasks as possible, async stages in their own.

A graph is a source (any async iterable, such as a :class:`ChatCompletionStream`) followed by
stages. A stage is either a *core* (an object with ``feed``/``flush``: pure, synchronous) or an
*async stage* (an async generator function taking an async iterator: a TTS call per sentence,
a translator). Adjacent cores are fused and run inside the task before them, so the only
channels are the ones concurrency needs: one task for the source, one per async stage,
connected by anyio memory object streams. Closing a channel is end of stream; a consumer that
leaves early ends the producers quietly.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from ._core import FusedCore, StageCore

AsyncStage: TypeAlias = Callable[[AsyncIterator[Any]], AsyncIterator[Any]]
Stage: TypeAlias = StageCore[Any, Any] | AsyncStage


def _is_core(stage: Stage) -> bool:
    return hasattr(stage, "feed") and hasattr(stage, "flush")


def _segments(stages: Sequence[Stage]) -> tuple[FusedCore, list[tuple[AsyncStage, FusedCore]]]:
    """Split into the cores fused onto the source, then each async stage with its trailing cores."""
    leading: list[StageCore[Any, Any]] = []
    segments: list[tuple[AsyncStage, list[StageCore[Any, Any]]]] = []
    for stage in stages:
        if _is_core(stage):
            (segments[-1][1] if segments else leading).append(stage)  # type: ignore[arg-type]
        elif callable(stage):
            segments.append((stage, []))
        else:
            raise TypeError(
                f"a stage must have feed/flush or be an async generator function, got {stage!r}"
            )
    return FusedCore(leading), [(stage, FusedCore(cores)) for stage, cores in segments]


class _ConsumerLeft(Exception):
    """The receiving end of a stage's outbox was closed: its consumer went away."""


async def _send_all(items: Sequence[Any], send: ObjectSendStream[Any]) -> None:
    try:
        for item in items:
            await send.send(item)
    except anyio.BrokenResourceError:
        # Only a failed *send* means the consumer left; the same error raised by the source
        # or a user stage (a dropped TTS connection, say) is a real failure and propagates.
        raise _ConsumerLeft from None


async def run_actor(
    core: StageCore[Any, Any], inbox: AsyncIterable[Any], outbox: ObjectSendStream[Any]
) -> None:
    """The one actor every task of a graph runs.

    Feed each item of ``inbox`` to ``core`` and send every output; when the inbox ends, flush.
    The outbox is closed on every exit path (closing is end of stream), and the inbox is closed
    too if it can be (``aclose``), so a source's HTTP response never outlives the graph. A
    consumer that went away ends the actor quietly; any other error propagates.
    """
    try:
        async with outbox:
            try:
                async for item in inbox:
                    await _send_all(core.feed(item), outbox)
                await _send_all(core.flush(), outbox)
            finally:
                close = getattr(inbox, "aclose", None)
                if close is not None:
                    with anyio.CancelScope(shield=True):
                        await close()
    except _ConsumerLeft:
        pass


async def _run_async_stage(
    stage: AsyncStage,
    core: FusedCore,
    receive: ObjectReceiveStream[Any],
    send: ObjectSendStream[Any],
) -> None:
    async with receive:
        # The receive stream itself is the stage's input: a wrapping async generator would
        # be left unfinished (and finalized by the garbage collector) when the stage stops.
        await run_actor(core, stage(receive), send)


@asynccontextmanager
async def open_stage_graph(
    source: AsyncIterable[Any], stages: Sequence[Stage], *, buffer: int = 0
) -> AsyncIterator[ObjectReceiveStream[Any]]:
    """Run ``source`` through ``stages``; yield the receive end of the last stage.

    Example::

        async def speak(sentences):
            async for chunk in sentences:
                if chunk.type == "content_sentence":
                    yield await tts(chunk.sentence)

        stream = await generate_chat_completion_stream(request, {"stream_sentences": True})
        async with open_stage_graph(stream, [speak]) as audio:
            async for clip in audio:
                play(clip)

    Leaving the block early cancels every stage and closes the source; an error in any stage
    propagates out of the block. Cancelling the enclosing scope cancels the whole graph.

    Args:
        source: Any async iterable; closed (``aclose``) when the graph ends.
        stages: Cores and async stages, in order.
        buffer: Items each channel may hold before its producer waits (0: hand over directly).
    """
    leading, segments = _segments(stages)
    try:
        async with anyio.create_task_group() as group:
            send, receive = anyio.create_memory_object_stream[Any](buffer)
            group.start_soon(run_actor, leading, source, send)
            for stage, core in segments:
                next_send, next_receive = anyio.create_memory_object_stream[Any](buffer)
                group.start_soon(_run_async_stage, stage, core, receive, next_send)
                receive = next_receive
            try:
                async with receive:
                    yield receive
            finally:
                group.cancel_scope.cancel()
    except BaseExceptionGroup as group_error:
        error = unwrap_single(group_error)
        if error is group_error:
            raise
        # Not ``raise error from None``: that would erase the error's own ``__cause__``.
        context = error.__context__
        try:
            raise error
        finally:
            error.__context__ = context
            del error, context, group_error


def unwrap_single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """A group holding exactly one error (however deeply nested) is that error."""
    current: BaseException = group
    while isinstance(current, BaseExceptionGroup) and len(current.exceptions) == 1:
        current = current.exceptions[0]
    return current
