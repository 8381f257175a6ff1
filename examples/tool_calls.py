"""Tool calls: run each as soon as it is complete, then send the results back for the answer.

Run: python examples/tool_calls.py
"""

from __future__ import annotations

import trio

from pipeline import aclose_http_clients, generate_chat_completion_stream
from pipeline.testing import Synthetic, open_local_server

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


async def main() -> None:
    async with open_local_server() as server:
        calls_url = server.base_url(Synthetic(3, tool_calls=2))
        answer_url = server.base_url(Synthetic(8))
        messages: list[object] = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]
        request = {
            "provider": "openai",
            "api_key": "sk-local",
            "model": "gpt-4o-mini",
            "messages": messages,
            "tools": [WEATHER],
            "provider_kwargs": {"openai": {"base_url": calls_url}},
        }
        results = []
        stream = await generate_chat_completion_stream(request)
        async with stream:
            async for chunk in stream:
                if chunk.type == "tool_call":  # complete: its arguments are a parsed dict
                    call = chunk.tool_call
                    print("tool call:", call.function.name, call.function.arguments)
                    results.append(
                        {"role": "tool", "tool_call_id": call.id, "content": {"temp_c": 21}}
                    )
                elif chunk.type == "response":
                    print("finish:", chunk.response.finish_reason)
                    messages.append(chunk.response.message)  # the assistant turn, as it came
        messages.extend(results)
        request["provider_kwargs"] = {"openai": {"base_url": answer_url}}
        stream = await generate_chat_completion_stream(request)
        async with stream:
            text = "".join([c.content async for c in stream if c.type == "content_delta"])
        print("answer:", text)
        sent = server.requests[-1].json["messages"]
        print("second request roles:", [m["role"] for m in sent])
        await aclose_http_clients()


if __name__ == "__main__":
    trio.run(main)
