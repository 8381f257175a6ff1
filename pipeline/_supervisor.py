"""Which attempt runs next: retries with backoff, then fallbacks, in order.

An :class:`AttemptPlan` is pure bookkeeping: the caller runs an attempt, reports a failure, and
is told how long to wait before the next attempt, or that none is left. Only errors that can
succeed when repeated are retried (connection failures, timeouts, 408, 409, 429, 5xx, 529); a
server's ``Retry-After`` is honoured up to :data:`MAX_RETRY_AFTER` seconds, and a longer one
moves straight on to the next fallback. Fallbacks run on any failure: a different provider may
accept what this one refused.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ._errors import AllAttemptsFailedError, ProviderError
from ._types import ChatCompletionRequest, FallbackRequest, RetryConfiguration

MAX_RETRY_AFTER = 60.0
MAX_BACKOFF = 30.0
DEFAULT_RETRY = RetryConfiguration(enabled=True, max_retries=2)


@dataclass(frozen=True, slots=True)
class PlannedAttempt:
    """One provider configuration to try, with its own retry budget."""

    request: ChatCompletionRequest
    retry: RetryConfiguration


def plan_requests(request: ChatCompletionRequest) -> list[PlannedAttempt]:
    """The request, then each fallback with unspecified fields inherited from it.

    The API key is not inherited across a change of provider: one provider's key must never
    be sent to another. That fallback uses its provider's environment variable instead.
    """
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


class _HasRetry(Protocol):
    @property
    def retry(self) -> RetryConfiguration: ...


AttemptT = TypeVar("AttemptT", bound=_HasRetry)


class AttemptPlan(Generic[AttemptT]):
    """Walk the planned attempts, deciding after each failure what happens next."""

    __slots__ = ("_attempts", "_index", "_retries", "errors")

    def __init__(self, attempts: Sequence[AttemptT]) -> None:
        self._attempts = attempts
        self._index = 0
        self._retries = 0
        self.errors: list[BaseException] = []

    @property
    def current(self) -> AttemptT:
        return self._attempts[self._index]

    def after_failure(self, error: BaseException) -> float | None:
        """Record ``error``; return the delay before the next attempt, or ``None`` if done."""
        self.errors.append(error)
        retry = self.current.retry
        if retry.enabled and self._retries < retry.max_retries and _retryable(error):
            delay = _delay(retry, self._retries, error)
            if delay is not None:
                self._retries += 1
                return delay
        self._index += 1
        self._retries = 0
        return 0.0 if self._index < len(self._attempts) else None

    def final_error(self) -> BaseException:
        """The error to raise when nothing is left: the only one, or all of them."""
        if len(self.errors) == 1:
            return self.errors[0]
        return AllAttemptsFailedError(self.errors)


def _retryable(error: BaseException) -> bool:
    return isinstance(error, ProviderError) and error.retryable


def _delay(retry: RetryConfiguration, retries_done: int, error: BaseException) -> float | None:
    asked = error.retry_after if isinstance(error, ProviderError) else None
    if asked is not None:
        return asked if asked <= MAX_RETRY_AFTER else None
    try:
        backoff = min(retry.retry_delay * retry.backoff_multiplier**retries_done, MAX_BACKOFF)
    except OverflowError:  # a long retry budget: the multiplier's power leaves the floats
        backoff = MAX_BACKOFF
    return backoff * random.uniform(0.75, 1.0)
