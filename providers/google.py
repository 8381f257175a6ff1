"""Google Gemini (Developer API): request mapping, stream and body decoding, error mapping.

``POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`` streams, ``:generateContent``
answers whole (PROVIDERS.md §3). The key goes in the ``x-goog-api-key`` header, never in the
URL: it is the request's ``api_key``, else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``. The
base URL is ``provider_kwargs.google.base_url``, else ``GOOGLE_GEMINI_BASE_URL`` (the variable
the google-genai SDK reads), else ``https://generativelanguage.googleapis.com``.

The body mapping is in :mod:`providers._google_request`, the decoding in
:mod:`providers._google_stream`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from pipeline._errors import ConfigurationError, ProtocolError, ProviderError
from pipeline._events import Event
from pipeline._secrets import is_header_safe
from pipeline._types import ChatCompletionRequest, CompletionsProvider
from stages.sse import SSEDecoder

from ._base import HTTPRequestSpec, dumps, json_body
from ._google_request import build_body, provider_kwargs
from ._google_stream import GeminiDecoder
from ._google_wire import error_object, http_error

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
BASE_URL_ENV = "GOOGLE_GEMINI_BASE_URL"
API_KEY_ENVS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
API_VERSION = "v1beta"


def resolve_google_key(request_key: str | None) -> str:
    """The request's key, else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``."""
    source, key = "api_key", request_key
    for env in API_KEY_ENVS:
        if key:
            break
        source, key = env, os.environ.get(env)
    if not key:
        raise ConfigurationError(
            "no API key for google: set api_key on the request or the GEMINI_API_KEY "
            "(or GOOGLE_API_KEY) environment variable"
        )
    if not is_header_safe(key):
        raise ConfigurationError(f"the google API key in {source} holds whitespace or non-ASCII")
    return key


class GoogleCodec:
    """Request mapping and decoding for the Gemini API."""

    provider = CompletionsProvider.GOOGLE

    def base_url(self, request: ChatCompletionRequest) -> str:
        """Where requests go: the request's ``base_url``, the environment, or Google."""
        url = provider_kwargs(request).get("base_url") or os.environ.get(BASE_URL_ENV)
        return str(url or DEFAULT_BASE_URL).rstrip("/")

    def build_request(self, request: ChatCompletionRequest, *, stream: bool) -> HTTPRequestSpec:
        """The HTTP request; raises ConfigurationError (no key) or RequestValidationError."""
        key = resolve_google_key(request.api_key)
        body = dumps(build_body(request))
        model = quote(request.model.removeprefix("models/"), safe="")
        url = f"{self.base_url(request)}/{API_VERSION}/models/{model}"
        url += ":streamGenerateContent?alt=sse" if stream else ":generateContent"
        headers = {
            "x-goog-api-key": key,
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        if stream:
            # A compressor may hold tokens back to fill its blocks: latency a voice agent hears.
            headers["accept-encoding"] = "identity"
        return HTTPRequestSpec("POST", url, headers, body)

    def event_framing(self) -> SSEDecoder:
        """Standard framing, plus the JSON Gemini sends line by line (a mid-stream error)."""
        return SSEDecoder(provider=self.provider.value, raw_json_lines=True)

    def stream_decoder(self) -> GeminiDecoder:
        """A fresh decoder for one ``alt=sse`` stream."""
        return GeminiDecoder(provider=self.provider.value)

    def decode_response(self, body: bytes) -> Sequence[Event]:
        """A ``generateContent`` body, or the JSON array ``streamGenerateContent`` gives
        without ``alt=sse``."""
        payload = json_body(body)
        chunks = payload if isinstance(payload, list) else [payload]
        if not chunks or not all(isinstance(c, dict) for c in chunks):
            raise ProtocolError(
                "response body is not a GenerateContentResponse", provider=self.provider.value
            )
        decoder = GeminiDecoder(provider=self.provider.value)
        decoder.seed_ids(hashlib.sha256(body).hexdigest()[:16])
        events: list[Event] = []
        for chunk in chunks:
            events += decoder.decode_chunk(chunk)
        events += decoder.flush()
        return events

    def decode_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """``{"error": {"code", "message", "status", "details"}}``, possibly in an array."""
        error = error_object(json_body(body))
        text = body[:500].decode("utf-8", "replace").strip() or "no body"
        return http_error(
            error,
            provider=self.provider.value,
            status_code=status_code,
            headers=headers,
            fallback_message=text,
        )
