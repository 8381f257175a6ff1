"""A custom stage graph: sentences, a stage of your own, then a (pretend) text-to-speech stage.

Run: python examples/stage_graph.py
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import trio

from pipeline import (
    CleanStage,
    SentenceStage,
    aclose_http_clients,
    generate_chat_completion_stream,
    open_stage_graph,
)
from pipeline.testing import DEMO_TEXT, Synthetic, open_local_server


async def shout(chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Your own stage between segmentation and cleaning: here, upper-case each sentence."""
    async for chunk in chunks:
        if chunk.type == "content_sentence":
            chunk.sentence = chunk.sentence.upper()
        yield chunk


async def speak(chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """A stand-in for a TTS call: one 'clip' per sentence."""
    async for chunk in chunks:
        if chunk.type == "content_sentence":
            await trio.sleep(0.001)  # stand-in for the call to your TTS service
            yield chunk.sentence.encode()


async def main() -> None:
    async with open_local_server() as server:
        request = {
            "provider": "openai",
            "api_key": "sk-local",
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hi"}],
            "provider_kwargs": {
                "openai": {"base_url": server.base_url(Synthetic(30, text=DEMO_TEXT))}
            },
        }
        stream = await generate_chat_completion_stream(request)
        async with open_stage_graph(stream, [SentenceStage(), shout, CleanStage(), speak]) as audio:
            async for clip in audio:
                print("clip:", clip.decode())
        await aclose_http_clients()


if __name__ == "__main__":
    trio.run(main)
