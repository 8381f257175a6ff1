"""Storing a conversation as plain JSON-safe data, and reading it back exactly.

The stored form is what a request dict's ``messages`` holds: one dict per message tagged with
``role``, tool-call arguments as dicts, bytes (Gemini thought signatures) as base64 text,
reasoning blocks included, and fields that are ``None`` left out. Reading goes through the same
converter as request validation, so a stored conversation can be passed straight back as
``messages``, and a malformed one is rejected with the same ``"<path>: <problem>"`` lines.
"""

from __future__ import annotations

from typing import Any

from ._converter import MESSAGE_TYPES, converter, describe, problems_of
from ._errors import RequestValidationError
from ._types import ConversationHistory


def serialize_conversation(conversation: ConversationHistory) -> list[dict[str, Any]]:
    """Convert a conversation history to a list of plain dicts for storage.

    Args:
        conversation: Typed messages, oldest first.

    Returns:
        New dicts and lists only (nothing shared with ``conversation``), accepted by
        ``json.dumps`` whenever tool arguments and results are JSON values.

    Raises:
        RequestValidationError: An entry is not a message, or holds a value that could not be
            read back (a ``str`` content that is not a string, a tool result that is not a
            dict, ...); ``problems`` names each one, e.g. ``"[1].content: ..."``.
    """
    if not isinstance(conversation, list | tuple):
        raise RequestValidationError(
            [f"conversation: expected list, got {describe(conversation)}"], subject="conversation"
        )
    problems: list[str] = []
    for i, message in enumerate(conversation):
        if not isinstance(message, MESSAGE_TYPES):
            problems.append(f"[{i}]: expected a message, got {describe(message)}")
            continue
        # Checked by the rules that read it back, so what is stored can always be read.
        try:
            converter.structure(message, type(message))
        except Exception as exc:  # Broad on purpose: whatever a hook raised becomes a problem.
            problems += problems_of(exc, f"[{i}]")
    if problems:
        raise RequestValidationError(problems, subject="conversation")
    return [converter.unstructure(message) for message in conversation]


def deserialize_conversation(
    serialized_conversation: list[dict[str, Any]],
) -> ConversationHistory:
    """Convert a list of dicts (from :func:`serialize_conversation`) back to typed messages.

    Base64 strings become ``bytes`` again; ``bytes`` themselves are accepted too.

    Raises:
        RequestValidationError: An entry is malformed (unknown ``role``, missing or mistyped
            field, unknown key); ``problems`` lists every one, e.g. ``"[2].role: ..."``.
    """
    try:
        return converter.structure(serialized_conversation, ConversationHistory)
    except Exception as exc:  # Broad on purpose: whatever a hook raised becomes a problem.
        problems = problems_of(exc, "", root="conversation")
    # Raised outside the handler so the cattrs exceptions are not chained onto ours.
    raise RequestValidationError(problems, subject="conversation")
