"""Small pieces of Gemini's wire format shared by the request and response halves.

Thought signatures are protobuf ``bytes`` fields, which protobuf's JSON mapping writes as
standard, padded base64 (RFC 4648 §4). That text form is canonical: decoding it and encoding the
bytes again gives the same text, which the tests check for every recorded signature, so a
signature kept as ``bytes`` goes back to Gemini byte-identical. Protobuf's JSON parsers also
accept URL-safe and unpadded base64; such a text (never seen from Gemini) is decoded the same
lenient way, to the very bytes Gemini's parser would read, and is sent back in the canonical
form, which Gemini reads as those same bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from pipeline._errors import ProviderError, RateLimitError, ServerError
from pipeline._types import TokenUsage

from ._base import parse_retry_after, status_error

GENERATED_ID_PREFIX = "gemini_call_"
"""Tool-call ids this library made up (Gemini gave none); they are never sent to Gemini."""

SKIP_SIGNATURE_VALIDATOR = "skip_thought_signature_validator"
"""The value Google documents for a function call whose thought signature is unavailable."""

FINISH_REASONS: Mapping[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
}


def finish_reason(raw: str) -> str:
    """The normalized finish reason; one with no common name is Gemini's word in lower case."""
    return FINISH_REASONS.get(raw, raw.lower())


def signature_bytes(text: str) -> bytes:
    """The bytes of a ``thoughtSignature`` (see the module docstring for non-canonical text)."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        data = None
    if data is not None:
        return data
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    if not re.fullmatch(r"[A-Za-z0-9+/]*=*", cleaned):
        raise ValueError(f"not base64 text: {text[:40]!r}")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned.rstrip("=")) % 4), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64 text ({exc}): {text[:40]!r}") from None


def signature_text(data: bytes) -> str:
    """The wire form of a signature: standard padded base64."""
    return base64.b64encode(data).decode("ascii")


def normalize_usage(usage: Mapping[str, Any]) -> TokenUsage:
    """Gemini's counts: thoughts are not in ``candidatesTokenCount``, so they are added in."""
    thoughts = usage.get("thoughtsTokenCount")
    prompt = int(usage.get("promptTokenCount") or 0) + int(
        usage.get("toolUsePromptTokenCount") or 0
    )
    return TokenUsage(
        input_tokens=prompt,
        output_tokens=int(usage.get("candidatesTokenCount") or 0) + int(thoughts or 0),
        cache_read_tokens=usage.get("cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


class PartialArgumentsError(ValueError):
    """A ``partialArg`` whose path or value cannot be placed in the arguments so far."""


class PartialArguments:
    """Vertex's streamed ``partialArgs`` assembled into one JSON object by ``jsonPath``.

    Each item names a path (``$.a.b``, ``$.list[0]``, ``$['key']``) and one of
    ``stringValue`` (fragments of one string, concatenated), ``numberValue``, ``boolValue``
    or ``nullValue``.
    """

    __slots__ = ("_root", "_touched")

    def __init__(self) -> None:
        self._root: dict[str, Any] = {}
        self._touched = False

    def apply(self, item: Mapping[str, Any]) -> None:
        """Add one ``PartialArg``; raises ValueError for a path or value it cannot place."""
        steps = _path_steps(str(item.get("jsonPath", "")))
        self._touched = True
        container: Any = self._root
        for step, following in zip(steps, [*steps[1:], None], strict=True):
            if following is None:
                _assign(container, step, item)
                return
            empty: Any = [] if isinstance(following, int) else {}
            container = _child(container, step, empty)

    def json(self) -> str:
        """The assembled arguments as JSON text; ``""`` when none arrived."""
        return json.dumps(self._root, ensure_ascii=False) if self._touched else ""


_STEP = re.compile(
    r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]"
)


def _path_steps(path: str) -> list[str | int]:
    if not path.startswith("$"):
        raise ValueError(f"jsonPath {path!r} does not start with $")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise ValueError(f"cannot read jsonPath {path!r} at character {position}")
        name, number, single, double = match.groups()
        if number is not None:
            steps.append(int(number))
        else:
            steps.append(name if name is not None else (single if single is not None else double))
        position = match.end()
    if not steps:
        raise ValueError("jsonPath $ names the whole object, not an argument")
    return steps


def _child(container: Any, step: str | int, empty: Any) -> Any:
    if isinstance(step, int):
        if not isinstance(container, list):
            raise PartialArgumentsError(f"index [{step}] into a non-list")
        while len(container) <= step:
            container.append(None)
        if container[step] is None:
            container[step] = empty
        return container[step]
    if not isinstance(container, dict):
        raise PartialArgumentsError(f"key {step!r} into a non-object")
    return container.setdefault(step, empty)


def _assign(container: Any, step: str | int, item: Mapping[str, Any]) -> None:
    if "stringValue" in item:
        current = _child(container, step, "")
        value: Any = (current if isinstance(current, str) else "") + str(item["stringValue"])
    elif "numberValue" in item:
        value = item["numberValue"]
    elif "boolValue" in item:
        value = bool(item["boolValue"])
    elif "nullValue" in item:
        value = None
    else:
        raise ValueError(f"partialArg for {item.get('jsonPath')!r} has no value")
    if isinstance(step, int):
        _child(container, step, None)
        container[step] = value
    else:
        if not isinstance(container, dict):
            raise PartialArgumentsError(f"key {step!r} into a non-object")
        container[step] = value


def _retry_delay(error: Mapping[str, Any]) -> float | None:
    """``google.rpc.RetryInfo.retryDelay`` (``"34.4s"``) in seconds."""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            delay = str(detail.get("retryDelay", ""))
            try:
                value = float(delay.removesuffix("s"))
            except ValueError:
                return None
            return value if value >= 0 else None
    return None


def error_object(payload: Any) -> dict[str, Any] | None:
    """The ``error`` object of a body, also when Google wraps the body in a JSON array."""
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if isinstance(payload, dict):
        error = payload.get("error", payload if "code" in payload else None)
        if isinstance(error, dict):
            return error
    return None


def http_error(
    error: Mapping[str, Any] | None,
    *,
    provider: str,
    status_code: int,
    headers: Mapping[str, str],
    fallback_message: str,
) -> ProviderError:
    """The typed error of an HTTP error response; ``RetryInfo`` sets ``retry_after``."""
    error = error or {}
    message = str(error.get("message") or fallback_message)
    status = error.get("status")
    result = status_error(
        provider=provider,
        status_code=status_code,
        headers=headers,
        message=message,
        error_type=str(status) if status else None,
        error_code=str(error["code"]) if error.get("code") is not None else None,
    )
    if parse_retry_after(headers) is None:
        result.retry_after = _retry_delay(error)
    return result


def mid_stream_error(error: Mapping[str, Any], *, provider: str) -> ProviderError:
    """An ``{"error": …}`` object that arrived inside a 200 stream."""
    message = str(error.get("message") or "error in stream")
    code = error.get("code")
    status = error.get("status")
    numeric = code if isinstance(code, int) else 500
    cls: type[ProviderError] = ProviderError
    if numeric == 429:
        cls = RateLimitError
    elif numeric >= 500:
        cls = ServerError
    return cls(
        f"{provider} sent an error mid-stream: {message}",
        provider=provider,
        status_code=None,
        retryable=numeric in (408, 429) or numeric >= 500,
        retry_after=_retry_delay(error),
        provider_message=message,
        error_type=str(status) if status else None,
        error_code=str(code) if code is not None else None,
    )
