"""Anthropic errors: HTTP error bodies (Anthropic's shape, and Vertex's Google shape, bare or
wrapped in a JSON array) and mid-stream ``error`` events, as typed errors (PROVIDERS.md §2.4,
§4.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline._errors import (
    AuthenticationError,
    ProviderError,
    ProviderStatusError,
    RateLimitError,
    ServerError,
)

from ._base import json_body, status_error

ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def decode_error(
    provider: str, status_code: int, headers: Mapping[str, str], body: bytes
) -> ProviderError:
    """The typed error for an HTTP error response, with the provider's own message."""
    payload = json_body(body)
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]  # Vertex wraps its front-end errors in an array
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "no message")
        kind = error.get("type") or error.get("status")  # Anthropic, or Google's shape
        return status_error(
            provider=provider,
            status_code=status_code,
            headers=headers,
            message=message,
            error_type=str(kind) if kind else None,
            error_code=str(error["code"]) if error.get("code") is not None else None,
        )
    text = body[:500].decode("utf-8", "replace").strip() or "no body"
    return status_error(provider=provider, status_code=status_code, headers=headers, message=text)


def stream_error(error: Any, provider: str) -> ProviderError:
    """The typed error of a mid-stream ``error`` event."""
    if not isinstance(error, dict):
        error = {"message": str(error)}
    message = str(error.get("message") or "error event in stream")
    kind = error.get("type")
    status = ERROR_STATUS.get(str(kind))
    cls: type[ProviderStatusError] = ServerError
    if status == 429:
        cls = RateLimitError
    elif status in (401, 403):
        cls = AuthenticationError
    elif status is not None and status < 500:
        cls = ProviderStatusError
    return cls(
        f"{provider} sent an error mid-stream: {message}",
        provider=provider,
        status_code=status,
        retryable=status is None or status == 429 or status >= 500,
        provider_message=message,
        error_type=str(kind) if kind is not None else None,
    )
