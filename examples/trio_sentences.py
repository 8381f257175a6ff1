"""Stream sentences for text-to-speech, on trio, from the local provider server.

Run: python examples/trio_sentences.py
"""

from __future__ import annotations

import trio

from pipeline import aclose_http_clients, generate_chat_completion_stream
from pipeline.testing import DEMO_TEXT, Synthetic, open_local_server


async def main() -> None:
    async with open_local_server() as server:
        request = {
            "provider": "openai",
            "api_key": "sk-local",  # the local server accepts any key
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Introduce yourself."}],
            "provider_kwargs": {
                "openai": {"base_url": server.base_url(Synthetic(40, text=DEMO_TEXT))}
            },
        }
        stream = await generate_chat_completion_stream(request, {"stream_sentences": True})
        async with stream:
            async for chunk in stream:
                if chunk.type == "content_sentence":
                    print("speak:", chunk.sentence)  # hand each sentence to your TTS here
                elif chunk.type == "response":
                    print("finish:", chunk.response.finish_reason)
        await aclose_http_clients()


if __name__ == "__main__":
    trio.run(main)
