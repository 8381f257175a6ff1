"""The clients the latency harness compares, each reading one streamed reply.

Every client is ``async (url, on_text) -> None``: it streams one reply from the base URL and
calls ``on_text(text)`` the moment each piece of content text is in the application's hands.
``direct socket`` is the floor: an HTTP/1.1 request written by hand on a plain TCP stream,
reading bytes and finding the content with a byte search, no HTTP or JSON library at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from pipeline import generate_chat_completion_stream

OnText = Callable[[str], None]
Client = Callable[[str, OnText], Awaitable[None]]

BODY = {"model": "bench", "max_tokens": 4096, "stream": True,
        "messages": [{"role": "user", "content": "go"}]}  # fmt: skip
KEY = "sk-bench-not-a-secret"
PATHS = {"openai": "/chat/completions", "anthropic": "/v1/messages"}
HEADERS = {
    "openai": {"authorization": f"Bearer {KEY}"},
    "anthropic": {"x-api-key": KEY, "anthropic-version": "2023-06-01"},
}
# Where the content text sits in each wire format's events (the role chunk's "" excluded).
CONTENT = {
    "openai": re.compile(rb'"delta":\{"content":"((?:[^"\\]|\\.)+)"'),
    "anthropic": re.compile(rb'"text_delta","text":"((?:[^"\\]|\\.)+)"'),
}


def direct_socket(wire: str) -> Client:
    async def run(url: str, on_text: OnText) -> None:
        parts = urlsplit(url)
        body = json.dumps(BODY).encode()
        head = [f"POST {parts.path}{PATHS[wire]} HTTP/1.1", f"host: {parts.netloc}",
                "content-type: application/json", f"content-length: {len(body)}",
                "connection: close", *(f"{k}: {v}" for k, v in HEADERS[wire].items())]  # fmt: skip
        stream = await trio.open_tcp_stream(parts.hostname or "127.0.0.1", parts.port or 80)
        async with stream:
            await stream.send_all(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            pending = b""
            status_checked = False
            while data := await stream.receive_some(65536):
                pending += data
                if not status_checked:
                    if b"\r\n" not in pending:
                        continue
                    status = pending.split(b"\r\n", 1)[0]
                    if status.split()[1] != b"200":
                        raise RuntimeError(f"HTTP status {status.decode()!r}")
                    status_checked = True
                    data = b""
                pending += data
                end = 0
                for match in CONTENT[wire].finditer(pending):
                    on_text(json.loads(b'"' + match.group(1) + b'"'))
                    end = match.end()
                # Keep the tail: an event may be split across reads.
                pending = pending[max(end, len(pending) - 512) :]

    return run


def raw_httpx(wire: str, client: httpx.AsyncClient) -> Client:
    async def run(url: str, on_text: OnText) -> None:
        async with client.stream(
            "POST", url + PATHS[wire], json=BODY, headers=HEADERS[wire]
        ) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP status {response.status_code}")
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if wire == "openai":
                    for choice in event["choices"]:
                        if text := choice["delta"].get("content"):
                            on_text(text)
                elif event["type"] == "content_block_delta" and event["delta"].get("text"):
                    on_text(event["delta"]["text"])

    return run


def pipeline_client(wire: str, *, sentences: bool = False) -> Client:
    async def run(url: str, on_text: OnText) -> None:
        request: dict[str, Any] = {
            "provider": wire, "api_key": KEY, "model": "bench", "max_tokens": 4096,
            "messages": [{"role": "user", "content": "go"}],
            "provider_kwargs": {wire: {"base_url": url}},
        }  # fmt: skip
        stream = await generate_chat_completion_stream(request, {"stream_sentences": sentences})
        async with stream:
            async for chunk in stream:
                if chunk.type == "content_delta":
                    on_text(chunk.content)
                elif chunk.type == "content_sentence":
                    on_text(chunk.sentence)

    return run


def openai_sdk() -> Client | None:
    try:
        import openai
    except ImportError:
        return None
    # One SDK client for the run; ``with_options`` copies share its connection pool, so no
    # client pays a new connection per stream. Retries as the SDK's default.
    shared = openai.AsyncOpenAI(api_key=KEY, base_url="http://127.0.0.1:1", max_retries=2)

    async def run(url: str, on_text: OnText) -> None:
        stream = await shared.with_options(base_url=url).chat.completions.create(
            model="bench", messages=[{"role": "user", "content": "go"}], stream=True
        )
        async with stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        on_text(choice.delta.content)

    return run


def anthropic_sdk() -> Client | None:
    try:
        import anthropic
    except ImportError:
        return None
    shared = anthropic.AsyncAnthropic(api_key=KEY, base_url="http://127.0.0.1:1", max_retries=2)

    async def run(url: str, on_text: OnText) -> None:
        messages = [{"role": "user", "content": "go"}]
        async with shared.with_options(base_url=url).messages.stream(
            model="bench", max_tokens=4096, messages=messages
        ) as stream:
            async for text in stream.text_stream:
                if text:
                    on_text(text)

    return run


def clients(wire: str, http: httpx.AsyncClient) -> dict[str, Client]:
    """Every client available for ``wire`` here, the floor first."""
    found: dict[str, Client | None] = {
        "direct socket": direct_socket(wire),
        "raw httpx": raw_httpx(wire, http),
        "pipeline": pipeline_client(wire),
        f"{wire} SDK": openai_sdk() if wire == "openai" else anthropic_sdk(),
    }
    return {name: client for name, client in found.items() if client is not None}
