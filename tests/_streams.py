"""What the end-to-end tests do with a stream: read it whole, take its parts, count leaks."""

from __future__ import annotations

from typing import Any

import anyio

from pipeline import (
    AssistantMessageDeltaChunk,
    ChatCompletionChunk,
    ChatCompletionResponse,
    FinalResponseChunk,
    _http,
    generate_chat_completion_stream,
)


async def collect(req: Any, options: Any = None, **kw: Any) -> list[ChatCompletionChunk]:
    """Every chunk of one stream, read inside ``async with``."""
    stream = await generate_chat_completion_stream(req, options, **kw)
    async with stream:
        return [chunk async for chunk in stream]


def final(chunks: list[ChatCompletionChunk]) -> ChatCompletionResponse:
    """The response of the last chunk, which must be the ``response`` chunk."""
    last = chunks[-1]
    assert isinstance(last, FinalResponseChunk)
    return last.response


def text_of(chunks: list[ChatCompletionChunk]) -> str:
    """The streamed text: every ``content_delta`` joined."""
    return "".join(c.content for c in chunks if isinstance(c, AssistantMessageDeltaChunk))


def in_flight() -> int:
    """Requests the pooled clients of this event loop think are still running."""
    pools = _http._pools.get(_http.loop_key(), {})
    return sum(shard.in_flight for pool in pools.values() for shard in pool.shards)


def running_tasks() -> list[str]:
    """Task names, less the local server's own (it runs in this process too)."""
    return [
        t.name
        for t in anyio.get_running_tasks()
        if "pipeline.testing" not in t.name and not t.name.endswith("Listener.serve")
    ]
