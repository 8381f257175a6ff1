"""What every provider codec provides, and the helpers they share.

A codec is pure: it maps a validated request to an :class:`HTTPRequestSpec`, decodes response
bodies and stream events into neutral events, and maps an error response to a typed
:class:`~pipeline._errors.ProviderError`. The HTTP exchange itself happens in ``pipeline``.
"""

from __future__ import annotations

import email.utils
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline._core import StageCore
from pipeline._errors import (
    AuthenticationError,
    ConfigurationError,
    ProtocolError,
    ProviderError,
    ProviderStatusError,
    RateLimitError,
    ServerError,
)
from pipeline._events import Event, SSEEvent
from pipeline._secrets import SECRET_HEADERS, is_header_safe
from pipeline._types import ChatCompletionRequest, CompletionsProvider
from stages.sse import SSEDecoder


@dataclass(frozen=True, slots=True, repr=False)
class AccessGrant:
    """Headers that authorize requests, and for how many seconds (from when it was asked)."""

    headers: Mapping[str, str]
    expires_in: float

    def __repr__(self) -> str:
        return f"AccessGrant(headers=<redacted>, expires_in={self.expires_in!r})"


class Authorizer(Protocol):
    """A sans-IO credentials step run before a request is sent (like httpx's auth flows).

    ``pipeline`` sends :meth:`token_request`, reads the answer with :meth:`read_token_response`,
    adds the grant's headers to the request, and shares each grant among requests whose
    ``cache_key`` is equal until shortly before it expires.
    """

    cache_key: str

    def token_request(self, issued_at: int) -> HTTPRequestSpec:
        """The request that obtains a grant; ``issued_at`` is the Unix time now."""
        ...

    def read_token_response(self, status_code: int, body: bytes) -> AccessGrant:
        """The grant in the answer (raises a ProviderError if there is none)."""
        ...


@dataclass(frozen=True, slots=True, repr=False)
class HTTPRequestSpec:
    """One HTTP request to send. ``headers`` may hold a secret, so the repr hides them.

    With an ``authorizer``, the request is not yet authorized: ``pipeline`` obtains a grant
    (an access token) and adds its headers just before sending.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    authorizer: Authorizer | None = None

    def __repr__(self) -> str:
        shown = {
            k: ("<redacted>" if k.lower() in SECRET_HEADERS else v) for k, v in self.headers.items()
        }
        return f"HTTPRequestSpec(method={self.method!r}, url={self.url!r}, headers={shown!r})"


class ProviderCodec(Protocol):
    """The pure half of a provider: request mapping and response decoding."""

    provider: CompletionsProvider

    def build_request(self, request: ChatCompletionRequest, *, stream: bool) -> HTTPRequestSpec:
        """Map a validated request to the provider's HTTP request (raises ConfigurationError)."""
        ...

    def event_framing(self) -> SSEDecoder:
        """A fresh core splitting this provider's event-stream bytes into events."""
        ...

    def stream_decoder(self) -> StageCore[SSEEvent, Event]:
        """A fresh core turning this provider's stream events into neutral events."""
        ...

    def decode_response(self, body: bytes) -> Sequence[Event]:
        """The neutral events of a whole (non-streaming) response body."""
        ...

    def decode_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """The typed error for an HTTP error response."""
        ...


def resolve_api_key(request_key: str | None, env_var: str, provider: str) -> str:
    """The request's key, else the provider's standard environment variable."""
    key = request_key or os.environ.get(env_var)
    if not key:
        raise ConfigurationError(
            f"no API key for {provider}: set api_key on the request or the {env_var} "
            "environment variable"
        )
    if not is_header_safe(key):
        # Such a key would make h11 refuse the header and echo it in the error.
        source = "api_key" if request_key else env_var
        raise ConfigurationError(
            f"the {provider} API key in {source} holds whitespace or non-ASCII"
        )
    return key


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, then ``retry-after``.

    ``retry-after`` is seconds or an HTTP date. A date is measured against the response's own
    ``date`` header: the server's clock, not ours, so clock skew cannot distort it and the codec
    stays free of the clock. Negative or unparsable values, or a date without a ``date``
    header, mean the server did not say.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    header = lowered.get("retry-after")
    if header is None:
        return None
    try:
        value = float(header)
    except ValueError:
        until, sent = _http_date(header), _http_date(lowered.get("date"))
        if until is None or sent is None:
            return None
        value = until - sent
    return value if value >= 0 else None


def _http_date(text: str | None) -> float | None:
    parsed = email.utils.parsedate_tz(text) if text else None
    return None if parsed is None else float(email.utils.mktime_tz(parsed))


RETRYABLE_STATUSES = frozenset({408, 409, 429})


def status_error(
    *,
    provider: str,
    status_code: int,
    headers: Mapping[str, str],
    message: str,
    error_type: str | None = None,
    error_code: str | None = None,
    retryable: bool | None = None,
) -> ProviderStatusError:
    """The typed error for an HTTP status, with the Stainless SDKs' retry rules."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if retryable is None:
        retryable = status_code in RETRYABLE_STATUSES or status_code >= 500
    should_retry = lowered.get("x-should-retry")
    if should_retry in {"true", "false"}:
        retryable = should_retry == "true"
    cls: type[ProviderStatusError]
    if status_code in (401, 403):
        cls = AuthenticationError
    elif status_code == 429:
        cls = RateLimitError
    elif status_code >= 500:
        cls = ServerError
    else:
        cls = ProviderStatusError
    return cls(
        f"{provider} returned HTTP {status_code}: {message}",
        provider=provider,
        status_code=status_code,
        retryable=retryable,
        retry_after=parse_retry_after(headers),
        provider_message=message,
        error_type=error_type,
        error_code=error_code,
        request_id=lowered.get("x-request-id") or lowered.get("request-id"),
    )


def json_body(body: bytes) -> Any:
    """Decode a JSON body, or ``None`` if it is not JSON (an HTML error page, say)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def dumps(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON for request bodies."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def event_object(event: SSEEvent, provider: str) -> dict[str, Any]:
    """The JSON object one stream event carries; anything else is a ProtocolError at its offset."""
    try:
        payload = json.loads(event.data)
    except ValueError as exc:
        raise ProtocolError(
            f"stream event is not valid JSON ({exc}): {event.data[:200]!r}",
            provider=provider,
            offset=event.offset,
        ) from None
    if not isinstance(payload, dict):
        raise ProtocolError(
            f"stream event is not a JSON object: {event.data[:200]!r}",
            provider=provider,
            offset=event.offset,
        )
    return payload
