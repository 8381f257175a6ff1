"""Comparing an assembled response with the Gemini entries of ``fixtures/EXPECTED.json``.

Those entries have their own shape (``text``, ``function_calls``, ``signatures``,
``finishReason``, ``usage``, ``thought_text``), so they get their own comparator. Signatures are
also checked byte for byte against the ``thoughtSignature`` texts of the recording itself.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from pipeline import ChatCompletionResponse
from pipeline.testing._fixtures import chunk_lines

from ._expected import assert_text, expected
from .conftest import FIXTURES

NORMALIZED = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}


def gemini_fixtures() -> list[str]:
    """Every Gemini stream (or JSON-array body) with an expected result."""
    return sorted(key for key in expected() if key.startswith("gemini/"))


def gemini_streams() -> list[str]:
    """The SSE recordings among them (``.sse`` raw, ``.chunks.txt`` one payload a line)."""
    return [name for name in gemini_fixtures() if not name.endswith(".json")]


def gemini_wire(name: str) -> bytes:
    """The body Gemini sends: ``.sse`` as recorded, ``.chunks.txt`` as ``data: …\\r\\n\\r\\n``."""
    raw = (FIXTURES / name).read_bytes()
    if name.endswith(".chunks.txt"):
        return b"".join(b"data: " + line + b"\r\n\r\n" for line in chunk_lines(raw))
    return raw


def recorded_payloads(name: str) -> list[dict[str, Any]]:
    """The ``GenerateContentResponse`` objects of a recording, in order."""
    raw = (FIXTURES / name).read_bytes()
    if name.endswith(".json"):
        data = json.loads(raw)
        return data if isinstance(data, list) else [data]
    if name.endswith(".chunks.txt"):
        return [json.loads(line) for line in chunk_lines(raw)]
    lines = raw.decode().splitlines()
    return [json.loads(line[len("data:") :]) for line in lines if line.startswith("data:")]


def recorded_signatures(name: str) -> list[str]:
    """Every ``thoughtSignature`` text of the recording, in order of arrival."""
    found: list[str] = []
    for payload in recorded_payloads(name):
        for candidate in payload.get("candidates") or ():
            for part in (candidate.get("content") or {}).get("parts") or ():
                if "thoughtSignature" in part:
                    found.append(part["thoughtSignature"])
    return found


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def assert_gemini_matches(response: ChatCompletionResponse, name: str) -> None:
    """``response`` is exactly the result EXPECTED.json states for Gemini fixture ``name``."""
    wanted = expected()[name]["assembled"]
    message = response.message
    assert response.model == wanted["model"]
    calls = wanted["function_calls"]
    reason = "tool_calls" if calls else NORMALIZED[wanted["finishReason"]]
    assert response.finish_reason == reason
    assert_text(message.content or "", wanted["text"])
    # No empty text content is made up for a signature that came on an empty part.
    assert message.content != ""
    if "thought_text" in wanted:
        assert message.reasoning is not None
        assert "".join(block.text for block in message.reasoning) == wanted["thought_text"]
        assert {block.provider for block in message.reasoning} == {"google"}
    else:
        assert message.reasoning is None
    got = message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in got] == [
        (c["name"], c["args"]) for c in calls
    ]
    assert [c.thought_signature is not None for c in got] == [c["has_signature"] for c in calls]
    for call, spec in zip(got, calls, strict=True):
        if spec["id"] is not None:
            assert call.id == spec["id"]
        else:
            assert call.id.startswith("gemini_call_")
    assert len({c.id for c in got}) == len(got)
    assert [c.index for c in got] == list(range(len(got)))
    # Where each signature sits, and that it is the recorded text byte for byte.
    ours = [b64(c.thought_signature) for c in got if c.thought_signature is not None]
    text_signatures = [s for s in wanted["signatures"] if s["on"] == "text"]
    if text_signatures:
        ours.append(b64(message.thought_signature))
        assert len(b64(message.thought_signature) or "") == text_signatures[-1]["len"]
    else:
        assert message.thought_signature is None
    assert sorted(s or "" for s in ours) == sorted(recorded_signatures(name))
    for call, spec in zip(got, calls, strict=True):
        if spec["has_signature"]:
            on_calls = [s["len"] for s in wanted["signatures"] if s["on"] == "functionCall"]
            assert len(b64(call.thought_signature) or "") in on_calls
    assert message.provider == "google"
    assert response.usage == wanted["usage"]
    usage = wanted["usage"]
    thoughts = usage.get("thoughtsTokenCount")
    assert response.token_usage is not None
    assert response.token_usage.input_tokens == usage["promptTokenCount"]
    assert response.token_usage.output_tokens == usage.get("candidatesTokenCount", 0) + (
        thoughts or 0
    )
    assert response.token_usage.reasoning_tokens == thoughts
    assert response.token_usage.cache_read_tokens == usage.get("cachedContentTokenCount")
