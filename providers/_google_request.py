"""A validated request as a Gemini ``GenerateContentRequest`` body (REST camelCase).

How a conversation is laid out:

- System messages become ``systemInstruction`` (one part each); roles are ``user``/``model``.
- An assistant message is one ``model`` Content: its signed thought parts, its text, then all
  its function calls, so the calls of one turn stay together.
- The tool results that follow one assistant turn go in one ``user`` Content, each a
  ``functionResponse`` named after its function (from the matching call when the result
  carries no name).

Thought signatures go back only to the provider that made them: those of a message whose
``provider`` is ``"google"`` are sent byte-identical on the part they came on (a call's on its
``functionCall`` part, the message's on its text part, or on an empty text part after the
calls when there is no text, where Gemini put it). A message from anywhere else (another
provider, or built by hand) carries no Gemini signature, so its first function call gets
Google's documented ``skip_thought_signature_validator``: without it Gemini 3 rejects a
conversation moved from another provider. Gemini's own calls are sent exactly as received
(a call Gemini left unsigned was one it did not need signed). Likewise only Gemini's own call
ids are sent; ids made up by this library or by another provider are left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipeline._errors import RequestValidationError
from pipeline._types import (
    AssistantMessage,
    ChatCompletionRequest,
    Message,
    SystemMessage,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)

from ._google_wire import GENERATED_ID_PREFIX, SKIP_SIGNATURE_VALIDATOR, signature_text

GOOGLE = "google"


def provider_kwargs(request: ChatCompletionRequest) -> Mapping[str, Any]:
    """``provider_kwargs.google``, or an empty mapping."""
    kwargs: Any = (request.provider_kwargs or {}).get(GOOGLE)
    return kwargs if isinstance(kwargs, Mapping) else {}


def build_body(request: ChatCompletionRequest) -> dict[str, Any]:
    """The JSON body; raises RequestValidationError for a rule only Gemini has."""
    system, contents = _conversation(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(request.tool_choice)}
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    extra = provider_kwargs(request).get("extra_body")
    if extra:
        merge_into(body, extra)
    return body


def merge_into(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``target`` as given; objects merge key by key (``generationConfig``
    gains ``topK`` rather than being replaced), anything else replaces."""
    for key, value in extra.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merge_into(current, value)
        else:
            target[key] = value


def camel_case(key: str) -> str:
    """``thinking_budget`` → ``thinkingBudget``; a camelCase key stays as it is."""
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)


def _generation_config(request: ChatCompletionRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if request.seed is not None:
        config["seed"] = request.seed
    if request.response_schema is not None:
        # Plain JSON Schema, sent as given ($defs, $ref, anyOf, additionalProperties included);
        # ``responseSchema`` would take only the OpenAPI subset.
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = request.response_schema
    thinking = provider_kwargs(request).get("thinking_config")
    if thinking is not None:
        if not isinstance(thinking, Mapping):
            raise RequestValidationError(
                ["provider_kwargs.google.thinking_config: expected an object"]
            )
        config["thinkingConfig"] = {camel_case(str(k)): v for k, v in thinking.items()}
    return config


def _declaration(tool: ToolDefinition) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.function.name}
    if tool.function.description:
        declaration["description"] = tool.function.description
    if tool.function.parameters:
        declaration["parametersJsonSchema"] = tool.function.parameters
    return declaration


def _calling_config(choice: str) -> dict[str, Any]:
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    return {"mode": "ANY", "allowedFunctionNames": [choice]}


def _conversation(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    # tool call id -> (function name, the id to send back or None)
    calls: dict[str, tuple[str, str | None]] = {}

    def end_results() -> None:
        if results:
            contents.append({"role": "user", "parts": list(results)})
            results.clear()

    for position, message in enumerate(messages):
        if isinstance(message, SystemMessage):
            system.append({"text": message.content})
        elif isinstance(message, UserMessage):
            end_results()
            contents.append({"role": "user", "parts": [{"text": message.content}]})
        elif isinstance(message, AssistantMessage):
            end_results()
            parts = _model_parts(message, calls)
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif isinstance(message, ToolResultMessage):
            results.append(_function_response(message, calls, position))
    end_results()
    return system, contents


def _model_parts(
    message: AssistantMessage, calls: dict[str, tuple[str, str | None]]
) -> list[dict[str, Any]]:
    own = message.provider == GOOGLE
    parts: list[dict[str, Any]] = []
    for block in message.reasoning or ():
        # Only a signed thought needs to go back; unsigned thought summaries cost tokens only.
        if own and block.provider == GOOGLE and block.signature:
            parts.append({"text": block.text, "thought": True, "thoughtSignature": block.signature})
    signature = (
        signature_text(message.thought_signature) if own and message.thought_signature else None
    )
    if message.content:
        text: dict[str, Any] = {"text": message.content}
        if signature:
            text["thoughtSignature"] = signature
            signature = None
        parts.append(text)
    for number, call in enumerate(message.tool_calls or ()):
        sent_id = (
            call.id if own and call.id and not call.id.startswith(GENERATED_ID_PREFIX) else None
        )
        function: dict[str, Any] = {"name": call.function.name, "args": call.function.arguments}
        if sent_id:
            function["id"] = sent_id
        part: dict[str, Any] = {"functionCall": function}
        if own and call.thought_signature:
            part["thoughtSignature"] = signature_text(call.thought_signature)
        elif not own and number == 0:
            part["thoughtSignature"] = SKIP_SIGNATURE_VALIDATOR
        parts.append(part)
        calls[call.id] = (call.function.name, sent_id)
    if signature:
        parts.append({"text": "", "thoughtSignature": signature})
    return parts


def _function_response(
    message: ToolResultMessage, calls: Mapping[str, tuple[str, str | None]], position: int
) -> dict[str, Any]:
    name, sent_id = calls.get(message.tool_call_id, (None, None))
    name = message.name or name
    if not name:
        raise RequestValidationError(
            [
                f"messages[{position}].name: Gemini needs the function's name, and no earlier "
                f"tool call has id {message.tool_call_id!r}"
            ]
        )
    response: dict[str, Any] = {"name": name, "response": message.content}
    if sent_id:
        response["id"] = sent_id
    return {"functionResponse": response}
