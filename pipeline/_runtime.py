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


async def _send_all(items: Sequence[Any], send: ObjectSendStream[Any]) -> None:
    for item in items:
        await send.send(item)


async def _pump_source(
    source: AsyncIterable[Any], core: FusedCore, send: ObjectSendStream[Any]
) -> None:
    try:
        async with send:
            async for item in source:
                await _send_all(core.feed(item), send)
            await _send_all(core.flush(), send)
    except anyio.BrokenResourceError:
        pass  # the consumer left: stop quietly
    finally:
        close = getattr(source, "aclose", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await close()


async def _items(receive: ObjectReceiveStream[Any]) -> AsyncIterator[Any]:
    async for item in receive:
        yield item


async def _run_async_stage(
    stage: AsyncStage,
    core: FusedCore,
    receive: ObjectReceiveStream[Any],
    send: ObjectSendStream[Any],
) -> None:
    try:
        async with send, receive:
            outputs = stage(_items(receive))
            try:
                async for item in outputs:
                    await _send_all(core.feed(item), send)
                await _send_all(core.flush(), send)
            finally:
                close = getattr(outputs, "aclose", None)
                if close is not None:
                    await close()
    except anyio.BrokenResourceError:
        pass


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
            group.start_soon(_pump_source, source, leading, send)
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
        raise unwrap_single(group_error) from None


def unwrap_single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """A group holding exactly one error (however deeply nested) is that error."""
    current: BaseException = group
    while isinstance(current, BaseExceptionGroup) and len(current.exceptions) == 1:
        current = current.exceptions[0]
    return current
