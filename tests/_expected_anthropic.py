"""Comparing an assembled response with the Anthropic entries of ``fixtures/EXPECTED.json``.

Those entries list content blocks (text, tool_use with its raw ``partial_json``, thinking with
the signature's length), the stop reason and the merged usage.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline import ChatCompletionResponse

from ._expected import expected
from .conftest import FIXTURES

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def anthropic_wire(name: str) -> bytes:
    """The body the real API sends: ``.sse`` as recorded, ``.chunks.txt`` framed as SSE."""
    raw = (FIXTURES / name).read_bytes()
    if name.endswith(".sse"):
        return raw
    lines = [line for line in raw.splitlines() if line.strip()]
    return b"".join(
        b"event: " + json.loads(line)["type"].encode() + b"\ndata: " + line + b"\n\n"
        for line in lines
    )


def blocks(name: str) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = expected()[name]["assembled"]["content"]
    return content


def wanted_input(block: dict[str, Any]) -> Any:
    """A stopped block's parsed input; for one cut by max_tokens, its complete prefix."""
    if not block.get("block_not_stopped"):
        return block["input"]
    # What the library promises for a tool input cut by max_tokens (see README): the complete
    # part, which for this recording is what the anthropic SDK's partial-JSON reader keeps.
    return {
        "filename": "taxes.txt",
        "lines_of_text": [
            "# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s",
            "",
            "## INTRODUCTION",
            "",
        ],
    }


def assert_matches_anthropic(response: ChatCompletionResponse, name: str) -> None:
    """``response`` is exactly what EXPECTED.json states for Anthropic fixture ``name``."""
    assembled = expected()[name]["assembled"]
    content = assembled["content"]
    assert response.model == assembled["model"]
    assert response.response_id == assembled["id"]
    assert response.finish_reason == FINISH[assembled["stop_reason"]]
    message = response.message
    texts = [b["text"] for b in content if b["type"] == "text"]
    assert message.content == ("".join(texts) if texts else None)
    calls = [b for b in content if b["type"] == "tool_use"]
    assert [
        (c.index, c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []
    ] == [(i, c["id"], c["name"], wanted_input(c)) for i, c in enumerate(calls)]
    thinking = [b for b in content if b["type"] in ("thinking", "redacted_thinking")]
    reasoning = message.reasoning or []
    assert [(r.text, len(r.signature or "")) for r in reasoning] == [
        (b["thinking"], b["signature_len"]) for b in thinking
    ]
    assert all(r.provider == response.provider for r in reasoning)
    usage = assembled["usage"]
    assert response.usage == usage
    tokens = response.token_usage
    assert tokens is not None
    cached = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    assert tokens.input_tokens == usage["input_tokens"] + cached + written
    assert tokens.output_tokens == usage["output_tokens"]
    assert tokens.cache_read_tokens == usage.get("cache_read_input_tokens")
    assert tokens.cache_write_tokens == usage.get("cache_creation_input_tokens")
    creation = usage.get("cache_creation") or {}
    assert tokens.cache_write_5m_tokens == creation.get("ephemeral_5m_input_tokens")
    assert tokens.cache_write_1h_tokens == creation.get("ephemeral_1h_input_tokens")
    details = usage.get("output_tokens_details") or {}
    assert tokens.reasoning_tokens == details.get("thinking_tokens")
