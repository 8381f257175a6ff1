"""The same API from asyncio: raw deltas as they arrive, then the whole response.

Run: python examples/asyncio_deltas.py
"""

from __future__ import annotations

import asyncio

from pipeline import aclose_http_clients, generate_chat_completion, generate_chat_completion_stream
from pipeline.testing import Synthetic, open_local_server


async def main() -> None:
    async with open_local_server() as server:
        request = {
            "provider": "anthropic",
            "api_key": "sk-local",
            "model": "claude-sonnet-4-5",
            "messages": [{"role": "user", "content": "Count with me."}],
            "provider_kwargs": {
                "anthropic": {"base_url": server.base_url(Synthetic(6), provider="anthropic")}
            },
        }
        stream = await generate_chat_completion_stream(request)
        async with stream:
            pieces = [chunk.content async for chunk in stream if chunk.type == "content_delta"]
        print("deltas:", len(pieces))
        whole = await generate_chat_completion(request)  # not streaming: one response
        print("same text:", whole.message.content == "".join(pieces))
        await aclose_http_clients()


if __name__ == "__main__":
    asyncio.run(main())
