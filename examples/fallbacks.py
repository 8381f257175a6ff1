"""Retries and fallbacks: a provider that keeps failing hands over to another one.

Run: python examples/fallbacks.py
"""

from __future__ import annotations

import trio

from pipeline import aclose_http_clients, generate_chat_completion_stream
from pipeline.testing import Synthetic, open_local_server


async def main() -> None:
    async with open_local_server() as server:
        down = server.base_url(Synthetic(5, status=503))  # always 503 Service Unavailable
        backup = server.base_url(Synthetic(5), provider="alibaba")
        request = {
            "provider": "openai",
            "api_key": "sk-local",
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hello"}],
            # One retry, 50 ms later, then the fallback.
            "retry": {"max_retries": 1, "retry_delay": 0.05},
            "provider_kwargs": {"openai": {"base_url": down}},
            "fallbacks": [
                {
                    "provider": "alibaba",
                    "api_key": "sk-local-dashscope",  # never inherited across providers
                    "model": "qwen-plus",
                    "provider_kwargs": {"alibaba": {"base_url": backup}},
                }
            ],
        }
        stream = await generate_chat_completion_stream(request)
        async with stream:
            async for chunk in stream:
                if chunk.type == "response":
                    print("answered by:", chunk.response.provider, chunk.response.model)
        print("requests:", [r.path.split("/")[-1] for r in server.requests])
        await aclose_http_clients()


if __name__ == "__main__":
    trio.run(main)
