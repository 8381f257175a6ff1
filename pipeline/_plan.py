"""The configurations a request may be tried with: the request itself, then each fallback.

Pure. A fallback inherits every field it leaves unset from the request, except the API key
across a change of provider: one provider's key is never sent to another, so that fallback uses
its own provider's environment variable instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ._types import ChatCompletionRequest, FallbackRequest, RetryConfiguration

DEFAULT_RETRY = RetryConfiguration()
"""``retry=None`` means the contract's defaults: 3 retries, 1 s doubling backoff."""


@dataclass(frozen=True, slots=True)
class PlannedAttempt:
    """One provider configuration to try, with its own retry budget."""

    request: ChatCompletionRequest
    retry: RetryConfiguration

    @property
    def provider_name(self) -> str:
        return self.request.provider.value


def plan_requests(request: ChatCompletionRequest) -> list[PlannedAttempt]:
    """The request, then each fallback with unspecified fields inherited from it."""
    planned = [PlannedAttempt(request, request.retry or DEFAULT_RETRY)]
    for fallback in request.fallbacks or ():
        planned.append(_inherit(request, fallback))
    return planned


def _inherit(request: ChatCompletionRequest, fallback: FallbackRequest) -> PlannedAttempt:
    changes = {
        f.name: getattr(fallback, f.name)
        for f in dataclasses.fields(FallbackRequest)
        if getattr(fallback, f.name) is not None
    }
    provider = fallback.provider or request.provider
    if provider != request.provider and fallback.api_key is None:
        changes["api_key"] = None
    merged = dataclasses.replace(request, fallbacks=None, **changes)
    return PlannedAttempt(merged, merged.retry or DEFAULT_RETRY)
