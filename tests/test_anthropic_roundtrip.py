"""A two-turn tool-use conversation with thinking, asserted on what the server received: the
first turn's thinking and redacted blocks go back byte-identical and in order, both tool
results in one user turn; the same after serialize -> JSON -> deserialize; and a signature is
never sent to another provider."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pipeline import (
    AssistantMessage,
    FinalResponseChunk,
    ToolResultMessage,
    UserMessage,
    aclose_http_clients,
    deserialize_conversation,
    generate_chat_completion_stream,
    serialize_conversation,
)
from pipeline.testing import LocalProviderServer, Synthetic, open_local_server

pytestmark = pytest.mark.anyio

THINKING = {"type": "enabled", "budget_tokens": 2048}


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()


def request(url: str, messages: list[Any], provider: str = "anthropic") -> dict[str, Any]:
    return {
        "provider": provider,
        "api_key": "sk-roundtrip-key-0123456789",
        "model": "claude-sonnet-4-5",
        "messages": messages,
        "provider_kwargs": {
            provider: {
                "base_url": url,
                **({"thinking": THINKING} if provider == "anthropic" else {}),
            }
        },
    }


async def final(req: dict[str, Any]) -> Any:
    stream = await generate_chat_completion_stream(req)
    async with stream:
        chunks = [chunk async for chunk in stream]
    last = chunks[-1]
    assert isinstance(last, FinalResponseChunk)
    return last.response


async def first_turn(server: LocalProviderServer) -> tuple[list[Any], Any]:
    url = server.base_url(Synthetic(4, thoughts=3, redacted_thinking=2, tool_calls=2), "anthropic")
    history: list[Any] = [UserMessage("Weather in Paris and Tokyo?")]
    response = await final(request(url, history))
    message = response.message
    assert response.finish_reason == "tool_calls"
    assert len(message.tool_calls) == 2
    results = [ToolResultMessage(c.id, {"temp": 20 + i}) for i, c in enumerate(message.tool_calls)]
    return [*history, message, *results], server.requests[-1]


def wire_blocks(received: Any) -> list[dict[str, Any]]:
    """The thinking and redacted blocks of the first turn, as the server sent them."""
    blocks = []
    for line in received.splitlines():
        if line.startswith(b"data: "):
            payload = json.loads(line[6:])
            block = payload.get("content_block") or {}
            if block.get("type") == "redacted_thinking":
                blocks.append(block)
            delta = payload.get("delta") or {}
            if block.get("type") == "thinking":
                blocks.append({"type": "thinking", "thinking": "", "signature": ""})
            elif delta.get("type") == "thinking_delta":
                blocks[-1]["thinking"] += delta["thinking"]
            elif delta.get("type") == "signature_delta":
                blocks[-1]["signature"] += delta["signature"]
    return blocks


async def sent_blocks(server: LocalProviderServer, history: list[Any]) -> list[dict[str, Any]]:
    url = server.base_url(Synthetic(3), "anthropic")
    response = await final(request(url, history))
    assert response.message.content
    turns = server.requests[-1].json["messages"]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    results = turns[2]["content"]
    calls = [b for b in turns[1]["content"] if b["type"] == "tool_use"]
    assert [r["tool_use_id"] for r in results] == [c["id"] for c in calls]
    assert [r["type"] for r in results] == ["tool_result", "tool_result"]
    assert [json.loads(r["content"]) for r in results] == [{"temp": 20}, {"temp": 21}]
    content: list[dict[str, Any]] = turns[1]["content"]
    return content


async def test_thinking_and_tools_round_trip(server: LocalProviderServer) -> None:
    history, _ = await first_turn(server)
    body = await _first_body(server)
    blocks = await sent_blocks(server, history)
    expected = wire_blocks(body)
    assert [b["type"] for b in expected] == ["thinking", "redacted_thinking", "redacted_thinking"]
    assert blocks[:3] == expected
    assert [b["type"] for b in blocks[3:]] == ["text", "tool_use", "tool_use"]


async def test_round_trip_after_serialization(server: LocalProviderServer) -> None:
    history, _ = await first_turn(server)
    stored = json.dumps(serialize_conversation(history))
    restored = deserialize_conversation(json.loads(stored))
    assert restored == history
    direct = await sent_blocks(server, history)
    again = await sent_blocks(server, restored)
    assert again == direct
    assert direct[:3] == wire_blocks(await _first_body(server))


async def test_signatures_never_go_to_another_provider(server: LocalProviderServer) -> None:
    history, _ = await first_turn(server)
    assistant = history[1]
    assert isinstance(assistant, AssistantMessage)
    signatures = [b.signature or b.redacted_data for b in assistant.reasoning]
    url = server.base_url(Synthetic(3), "openai")
    await final(request(url, history, provider="openai"))
    sent = server.requests[-1].body.decode()
    assert all(s and s not in sent for s in signatures)
    assert "Thinking step" not in sent


async def _first_body(server: LocalProviderServer) -> bytes:
    """The bytes the server streamed for the first turn (fetched again: they are fixed)."""
    url = server.base_url(Synthetic(4, thoughts=3, redacted_thinking=2, tool_calls=2), "anthropic")
    async with httpx.AsyncClient() as client:
        response = await client.post(url + "/v1/messages", json={"stream": True})
        return response.content
