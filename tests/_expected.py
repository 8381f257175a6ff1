"""Comparing an assembled response with ``fixtures/EXPECTED.json``, and fixture wire bytes."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from pipeline import AssistantMessage, ChatCompletionResponse

from .conftest import FIXTURES


@cache
def expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "EXPECTED.json").read_text())["fixtures"]
    return data


def fixtures_of(directory: str) -> list[str]:
    """Every stream fixture of one provider directory, as ``dir/name`` keys of EXPECTED."""
    return sorted(key for key in expected() if key.startswith(directory + "/"))


def openai_wire(name: str) -> bytes:
    """The body the real API sends: ``.sse`` as recorded, ``.chunks.txt`` wrapped as SSE."""
    raw = (FIXTURES / name).read_bytes()
    if name.endswith(".sse"):
        return raw
    lines = [line for line in raw.splitlines() if line.strip()]
    return b"".join(b"data: " + line + b"\n\n" for line in lines) + b"data: [DONE]\n\n"


def assert_text(actual: str | None, wanted: Any) -> None:
    if isinstance(wanted, dict) and wanted.get("_long_text"):
        assert actual is not None
        assert len(actual) == wanted["chars"]
        assert actual.startswith(wanted["head"])
        assert actual.endswith(wanted["tail"])
        assert hashlib.sha256(actual.encode()).hexdigest() == wanted["sha256"]
    else:
        assert actual == wanted


def assert_message(message: AssistantMessage, choice: dict[str, Any]) -> None:
    assert_text(message.content, choice.get("content"))
    if "refusal" in choice:
        assert message.refusal == choice["refusal"]
    if "reasoning_content" in choice:
        assert message.reasoning is not None
        assert_text("".join(block.text for block in message.reasoning), choice["reasoning_content"])
    else:
        assert message.reasoning is None
    wanted_calls = choice.get("tool_calls") or []
    calls = message.tool_calls or []
    assert [(c.index, c.id, c.function.name, c.function.arguments) for c in calls] == [
        (w["index"], w["id"], w["name"], w["parsed_arguments"]) for w in wanted_calls
    ]


def assert_matches(response: ChatCompletionResponse, name: str) -> None:
    """``response`` is exactly the assembled result EXPECTED.json states for fixture ``name``."""
    assembled = expected()[name]["assembled"]
    choices = assembled["choices"]
    assert response.model == assembled["model"]
    assert response.finish_reason == choices[0]["finish_reason"]
    assert_message(response.message, choices[0])
    if len(choices) > 1:
        assert response.choices is not None
        assert len(response.choices) == len(choices)
        for message, choice in zip(response.choices, choices, strict=True):
            assert_message(message, choice)
    else:
        assert response.choices is None
    assert response.usage == assembled["usage"]
    if assembled["usage"] is not None:
        assert response.token_usage is not None
        assert response.token_usage.input_tokens == assembled["usage"]["prompt_tokens"]
        assert response.token_usage.output_tokens == assembled["usage"]["completion_tokens"]
    else:
        assert response.token_usage is None
