"""Anthropic Messages request bodies: the mapping from a validated request (PROVIDERS.md §2.2).

- System messages, wherever they sit, are collapsed in order into the top-level ``system``
  blocks (Anthropic has no system role).
- Consecutive user-side messages (tool results and user text) form ONE user turn: tool results
  become ``tool_result`` blocks, so parallel tool calls are answered in one turn as the API
  requires. Consecutive assistant messages are merged the same way.
- An assistant turn is its reasoning blocks (``thinking`` / ``redacted_thinking``, unchanged and
  in order), then its text, then its ``tool_use`` blocks. Reasoning produced by another
  provider is never sent (its signatures would be rejected, and must not leak). Anthropic's own
  signatures are valid on the Claude API and on Vertex alike, so both count as one family.
- Each ``cache_breakpoint`` becomes ``cache_control`` on the last block of what it marks.
- With thinking on, temperature is not sent; a value other than 1 is a caller error, as are a
  ``top_p`` below 0.95 and a forced tool choice, which the API rejects with thinking.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipeline._errors import RequestValidationError
from pipeline._types import (
    AssistantMessage,
    CacheBreakpoint,
    ChatCompletionRequest,
    Message,
    ReasoningBlock,
    SystemMessage,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)

ANTHROPIC_FAMILY = frozenset({"anthropic", "anthropic_vertex"})
"""Providers whose thinking signatures are the same (Claude API and Vertex AI)."""

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` when the request has none (the API requires one); with a thinking budget, the
default is the budget plus this, so thinking cannot use up the whole answer."""

JSON_TOOL_NAME = "json"
"""The tool of the forced-tool structured-output method (the name Vercel's AI SDK uses)."""

_Block = dict[str, Any]


def thinking_config(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``thinking`` provider kwarg as given, or ``None``."""
    thinking = kwargs.get("thinking")
    return dict(thinking) if isinstance(thinking, Mapping) else None


def thinking_on(thinking: Mapping[str, Any] | None) -> bool:
    return thinking is not None and thinking.get("type") in ("enabled", "adaptive")


def messages_body(
    request: ChatCompletionRequest, provider: str
) -> tuple[list[_Block], list[dict[str, Any]]]:
    """The ``system`` blocks and the ``messages`` turns of ``request``."""
    system: list[_Block] = []
    turns: list[dict[str, Any]] = []
    for message in request.messages:
        if isinstance(message, SystemMessage):
            system.append(_cached({"type": "text", "text": message.content}, message))
            continue
        role = "assistant" if isinstance(message, AssistantMessage) else "user"
        blocks = _blocks(message, provider)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        content = turn["content"]
        if len(content) == 1 and content[0].keys() == {"type", "text"}:
            turn["content"] = content[0]["text"]  # the plain form, for readable request logs
    return system, turns


def _blocks(message: Message, provider: str) -> list[_Block]:
    blocks: list[_Block]
    if isinstance(message, UserMessage):
        blocks = [{"type": "text", "text": message.content}]
    elif isinstance(message, ToolResultMessage):
        blocks = [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": json.dumps(message.content, ensure_ascii=False),
            }
        ]
    elif isinstance(message, AssistantMessage):
        blocks = [
            _reasoning(block)
            for block in message.reasoning or ()
            if _sendable(block, message.provider, provider)
        ]
        if message.content:
            blocks.append({"type": "text", "text": message.content})
        for call in message.tool_calls or ():
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.function.name,
                    "input": call.function.arguments,
                }
            )
    else:  # pragma: no cover - system messages are handled by the caller
        raise TypeError(type(message).__name__)
    if blocks:
        _cached(blocks[-1], message)
    return blocks


def _sendable(block: ReasoningBlock, author: str | None, provider: str) -> bool:
    """Only Anthropic's own signed blocks go back; a block of unknown origin is not sent."""
    origin = block.provider or author
    if origin not in ANTHROPIC_FAMILY or provider not in ANTHROPIC_FAMILY:
        return False
    return block.redacted_data is not None or bool(block.signature)


def _reasoning(block: ReasoningBlock) -> _Block:
    if block.redacted_data is not None:
        return {"type": "redacted_thinking", "data": block.redacted_data}
    return {"type": "thinking", "thinking": block.text, "signature": block.signature}


def _cached(block: _Block, marked: Message | ToolDefinition) -> _Block:
    breakpoint_: CacheBreakpoint | None = marked.cache_breakpoint
    if breakpoint_ is not None:
        block["cache_control"] = {"type": "ephemeral", "ttl": breakpoint_.ttl}
    return block


def tool_definition(tool: ToolDefinition) -> dict[str, Any]:
    function = tool.function
    out: dict[str, Any] = {"name": function.name, "input_schema": function.parameters}
    if function.description:
        out["description"] = function.description
    if function.strict is not None:
        out["strict"] = function.strict
    return _cached(out, tool)


def tool_choice(choice: str) -> dict[str, Any]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice}


def sampling(
    request: ChatCompletionRequest, thinking: Mapping[str, Any] | None, kwargs_path: str
) -> dict[str, Any]:
    """``max_tokens``, ``temperature``, ``top_p`` and ``stop_sequences``, checked for thinking.

    Raises:
        RequestValidationError: a value the API rejects together with ``thinking``.
    """
    body: dict[str, Any] = {}
    problems: list[str] = []
    budget = thinking.get("budget_tokens") if thinking_on(thinking) and thinking else None
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
        if isinstance(budget, int) and request.max_tokens <= budget:
            problems.append(
                f"max_tokens: {request.max_tokens} must exceed {kwargs_path}.thinking."
                f"budget_tokens ({budget}), which counts towards it"
            )
    else:
        body["max_tokens"] = DEFAULT_MAX_TOKENS + (budget if isinstance(budget, int) else 0)
    if thinking_on(thinking):
        if request.temperature is not None and request.temperature != 1:
            problems.append(
                f"temperature: {request.temperature!r} conflicts with {kwargs_path}.thinking: "
                "with thinking on, Anthropic accepts no temperature but 1 (leave it unset)"
            )
        if request.top_p is not None and not 0.95 <= request.top_p <= 1:
            problems.append(
                f"top_p: {request.top_p!r} conflicts with {kwargs_path}.thinking: "
                "with thinking on, top_p must be between 0.95 and 1"
            )
        if request.tool_choice not in (None, "auto", "none"):
            problems.append(
                f"tool_choice: {request.tool_choice!r} conflicts with {kwargs_path}.thinking: "
                "with thinking on, a tool cannot be forced (use 'auto' or 'none')"
            )
        if request.top_p is not None:
            body["top_p"] = request.top_p
    else:
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
    if problems:
        raise RequestValidationError(problems)
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    return body


def structured_output(
    request: ChatCompletionRequest, *, native: bool, thinking: bool
) -> dict[str, Any]:
    """Body fields asking for JSON matching ``request.response_schema``.

    ``native``: ``output_config.format`` (the answer is ordinary JSON text). Otherwise the
    forced-tool method: one extra tool whose input schema is the schema, chosen by force unless
    thinking is on (the API forbids forcing then); the decoder turns its input into content.
    """
    schema = dict(request.response_schema or {})
    if native:
        return {"output_config": {"format": {"type": "json_schema", "schema": schema}}}
    if any(t.function.name == JSON_TOOL_NAME for t in request.tools or ()):
        raise RequestValidationError(
            [
                f"tools: a tool named {JSON_TOOL_NAME!r} collides with the tool that carries "
                "response_schema (set structured_output to 'native', or rename the tool)"
            ]
        )
    tool = {
        "name": JSON_TOOL_NAME,
        "description": "Respond with a JSON object.",
        "input_schema": schema,
    }
    out: dict[str, Any] = {"tools": [tool]}
    if not thinking:
        out["tool_choice"] = {"type": "tool", "name": JSON_TOOL_NAME}
    return out
