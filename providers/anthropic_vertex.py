"""Claude on Vertex AI: the Anthropic codec with Vertex's URL, body and credentials.

PROVIDERS.md §4: ``POST {base}/projects/{project}/locations/{region}/publishers/anthropic/
models/{model}:streamRawPredict`` (``:rawPredict`` when not streaming), the Messages body without
``model`` and with ``"anthropic_version": "vertex-2023-10-16"``, and a Google OAuth2 bearer
token obtained from the service account (:mod:`._google_auth`) just before sending. The stream
is Anthropic's. Front-end errors come in Google's shape, sometimes wrapped in a JSON array; the
shared error decoder reads both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pipeline._errors import ConfigurationError
from pipeline._types import ChatCompletionRequest, CompletionsProvider

from ._google_auth import service_account_authorizer
from ._google_credentials import ENV_VAR, credentials_from_environment
from .anthropic import AnthropicCodec, AnthropicSettings, AuthStep

VERTEX_API_VERSION = "vertex-2023-10-16"
_KWARGS = "provider_kwargs.anthropic_vertex"


def vertex_base_url(region: str) -> str:
    """The API root for ``region`` (``global``, the ``us``/``eu`` multi-regions, or one region)."""
    if region == "global":
        return "https://aiplatform.googleapis.com/v1"
    if region in ("us", "eu"):
        return f"https://aiplatform.{region}.rep.googleapis.com/v1"
    return f"https://{region}-aiplatform.googleapis.com/v1"


def _credentials(kwargs: Mapping[str, Any]) -> Any:
    credentials = kwargs.get("service_account_credentials")
    if credentials is None:
        credentials = credentials_from_environment()
    if credentials is None:
        raise ConfigurationError(
            f"no credentials for anthropic_vertex: set {_KWARGS}.service_account_credentials "
            f"to the service-account key JSON, or {ENV_VAR} to its file"
        )
    return credentials


def _endpoint(request: ChatCompletionRequest, kwargs: Mapping[str, Any], stream: bool) -> str:
    credentials = _credentials(kwargs)
    project = (
        kwargs.get("project_id")
        or (credentials.get("project_id") if isinstance(credentials, Mapping) else None)
        or os.environ.get("ANTHROPIC_VERTEX_PROJECT_ID")
    )
    if not project:
        raise ConfigurationError(
            f"no Google Cloud project for anthropic_vertex: set {_KWARGS}.project_id, the "
            "credentials' project_id, or ANTHROPIC_VERTEX_PROJECT_ID"
        )
    region = kwargs.get("region") or os.environ.get("CLOUD_ML_REGION") or "global"
    base = str(kwargs.get("base_url") or vertex_base_url(region)).rstrip("/")
    method = "streamRawPredict" if stream else "rawPredict"
    return (
        f"{base}/projects/{project}/locations/{region}/publishers/anthropic/models/"
        f"{request.model}:{method}"
    )


def _authorize(request: ChatCompletionRequest, kwargs: Mapping[str, Any]) -> AuthStep:
    authorizer = service_account_authorizer(
        _credentials(kwargs),
        provider=CompletionsProvider.ANTHROPIC_VERTEX.value,
        path=f"{_KWARGS}.service_account_credentials",
    )
    return AuthStep({}, authorizer)


def _vertex_body(body: dict[str, Any]) -> dict[str, Any]:
    # The model moves into the URL and the API version into the body.
    out = {k: v for k, v in body.items() if k != "model"}
    out["anthropic_version"] = VERTEX_API_VERSION
    return out


VERTEX = AnthropicSettings(
    provider=CompletionsProvider.ANTHROPIC_VERTEX,
    endpoint=_endpoint,
    authorize=_authorize,
    body_changes=_vertex_body,
    # No evidence that Vertex takes output_config.format: the forced tool works everywhere.
    native_output=False,
)


def anthropic_vertex_codec() -> AnthropicCodec:
    """The codec for Claude models on Vertex AI."""
    return AnthropicCodec(VERTEX)
