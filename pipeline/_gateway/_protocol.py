"""The gateway's protocol core: parse and check client messages, build server messages. Sans-IO.

Every message is one JSON object in a WebSocket text message, tagged by ``type``.

Client to server:

- ``{"type": "generate", "id": ID, "request": {...}, "stream_options": {...}}``: start a
  generation. ``request`` is the dict :func:`pipeline.generate_chat_completion_stream` accepts;
  ``stream_options`` is optional. ``ID`` (a non-empty string or an integer) names the
  generation in every answer and must not be in use on this connection.
- ``{"type": "cancel", "id": ID}``: stop that generation now (barge-in).

Server to client: ``{"type": "chunk", "id", "chunk"}`` per chunk, then ``{"type": "done",
"id"}`` or ``{"type": "error", "id", "error": {"type", "message", "retryable"}}``; a message
that cannot be attributed to a generation gets an error with ``"id": null``.

The client's request may not carry credentials or endpoints unless the server allows it: a
client-chosen base URL would send the server's keys to a host of the client's choosing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = (
    "Cancel",
    "ClientMessage",
    "Generate",
    "MessageError",
    "Policy",
    "cancelled_message",
    "chunk_message",
    "done_message",
    "error_message",
    "parse_client_message",
    "refusal",
)

GenerationId: TypeAlias = str | int

KEY_FIELDS = ("api_key", "service_account_credentials")
"""Request fields that carry a credential."""
URL_FIELDS = ("base_url",)
"""Request fields that choose where requests (and the server's keys) go."""


@dataclass(frozen=True, slots=True)
class Policy:
    """What a client may put in a request.

    Attributes:
        allow_client_keys: Accept ``api_key`` / ``service_account_credentials`` from clients.
        allow_client_base_url: Accept ``base_url`` from clients.
    """

    allow_client_keys: bool = False
    allow_client_base_url: bool = False


@dataclass(frozen=True, slots=True)
class Generate:
    """Start generation ``id`` for ``request``."""

    id: GenerationId
    request: dict[str, Any]
    stream_options: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Cancel:
    """Stop generation ``id``."""

    id: GenerationId


ClientMessage: TypeAlias = Generate | Cancel


class MessageError(ValueError):
    """A client message the gateway refuses; ``id`` is its generation id when it had one."""

    def __init__(self, message: str, *, id: GenerationId | None = None) -> None:
        super().__init__(message)
        self.id = id


def parse_client_message(text: str | bytes, policy: Policy) -> ClientMessage:
    """Parse one client message.

    Raises:
        MessageError: not JSON, not an object, an unknown ``type``, a bad ``id``, a request or
            stream options that are not objects, or a field the policy forbids; the message
            names the problem (and the field path).
    """
    if isinstance(text, bytes):
        raise MessageError("binary messages are not accepted: send JSON text")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MessageError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError(f"a message must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    id_ = _read_id(data)
    if kind == "cancel":
        return Cancel(id_)
    if kind != "generate":
        raise MessageError(
            f"type: expected 'generate' or 'cancel', got {kind!r}", id=id_ if kind else None
        )
    request = data.get("request")
    if not isinstance(request, dict):
        raise MessageError("request: expected an object (the request dict)", id=id_)
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise MessageError("stream_options: expected an object", id=id_)
    for path, field in _credential_fields(request):
        if field in KEY_FIELDS and not policy.allow_client_keys:
            raise MessageError(
                f"{path}: clients may not send credentials; the server uses its own "
                "environment (start it with --allow-client-keys to allow this)",
                id=id_,
            )
        if field in URL_FIELDS and not policy.allow_client_base_url:
            raise MessageError(
                f"{path}: clients may not choose the provider endpoint; the server uses its "
                "own environment (start it with --allow-client-base-url to allow this)",
                id=id_,
            )
    return Generate(id_, request, options)


def _read_id(data: dict[str, Any]) -> GenerationId:
    if "id" not in data:
        raise MessageError("id: missing (a string or an integer naming the generation)")
    value = data["id"]
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise MessageError(f"id: expected a non-empty string or an integer, got {value!r}")
    return value


def _credential_fields(request: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(path, field)`` for each non-null credential or endpoint field in the request."""
    yield from _fields_of(request, "request")
    fallbacks = request.get("fallbacks")
    if isinstance(fallbacks, list):
        for i, fallback in enumerate(fallbacks):
            if isinstance(fallback, dict):
                yield from _fields_of(fallback, f"request.fallbacks[{i}]")


def _fields_of(part: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    for field in (*KEY_FIELDS, *URL_FIELDS):
        if part.get(field) is not None:
            yield f"{path}.{field}", field
    kwargs = part.get("provider_kwargs")
    if isinstance(kwargs, dict):
        for provider, options in kwargs.items():
            if isinstance(options, dict):
                for field in (*KEY_FIELDS, *URL_FIELDS):
                    if options.get(field) is not None:
                        yield f"{path}.provider_kwargs.{provider}.{field}", field


def chunk_message(id_: GenerationId, chunk: dict[str, Any]) -> str:
    """``{"type": "chunk", "id", "chunk"}`` as text."""
    return json.dumps({"type": "chunk", "id": id_, "chunk": chunk}, ensure_ascii=False)


def done_message(id_: GenerationId) -> str:
    """``{"type": "done", "id"}`` as text."""
    return json.dumps({"type": "done", "id": id_})


def cancelled_message(id_: GenerationId) -> str:
    """``{"type": "done", "id", "cancelled": true}``: the generation stopped on a cancel."""
    return json.dumps({"type": "done", "id": id_, "cancelled": True})


def error_message(id_: GenerationId | None, error: dict[str, Any]) -> str:
    """``{"type": "error", "id", "error"}`` as text."""
    return json.dumps({"type": "error", "id": id_, "error": error}, ensure_ascii=False)


def refusal(exc: MessageError) -> str:
    """The error message answering a refused client message."""
    return error_message(exc.id, {"type": "MessageError", "message": str(exc), "retryable": False})
