"""Attempt planning: inheritance into fallbacks, which failures are retried, and delays."""

from __future__ import annotations

import pytest

from pipeline import (
    AllAttemptsFailedError,
    AuthenticationError,
    ChatCompletionRequest,
    CompletionsProvider,
    FallbackRequest,
    ProviderConnectionError,
    RateLimitError,
    RetryConfiguration,
    UserMessage,
)
from pipeline._supervisor import DEFAULT_RETRY, MAX_RETRY_AFTER, AttemptPlan, plan_requests


def request(**changes: object) -> ChatCompletionRequest:
    fields: dict[str, object] = {
        "provider": CompletionsProvider.OPENAI,
        "api_key": "sk-openai-0123456789abcdef",
        "model": "gpt-4o",
        "messages": [UserMessage("Hi")],
        "temperature": 0.3,
    }
    fields.update(changes)
    return ChatCompletionRequest(**fields)  # type: ignore[arg-type]


def rate_limited(retry_after: float | None = None) -> RateLimitError:
    return RateLimitError(
        "slow down", provider="openai", status_code=429, retryable=True, retry_after=retry_after
    )


def test_fallbacks_inherit_unset_fields() -> None:
    planned = plan_requests(request(fallbacks=[FallbackRequest(model="gpt-4o-mini")]))
    assert [p.request.model for p in planned] == ["gpt-4o", "gpt-4o-mini"]
    fallback = planned[1].request
    assert fallback.temperature == 0.3
    assert fallback.api_key == "sk-openai-0123456789abcdef"  # same provider: the key is kept
    assert fallback.fallbacks is None
    assert planned[0].retry == DEFAULT_RETRY


def test_the_key_is_never_carried_to_another_provider() -> None:
    planned = plan_requests(
        request(fallbacks=[FallbackRequest(provider=CompletionsProvider.ALIBABA, model="qwen")])
    )
    assert planned[1].request.provider is CompletionsProvider.ALIBABA
    assert planned[1].request.api_key is None


def test_a_fallback_key_for_another_provider_is_used() -> None:
    fallback = FallbackRequest(provider=CompletionsProvider.ALIBABA, api_key="sk-dash-0123456789ab")
    planned = plan_requests(request(fallbacks=[fallback]))
    assert planned[1].request.api_key == "sk-dash-0123456789ab"


def test_retryable_errors_are_retried_then_the_next_fallback_runs() -> None:
    retry = RetryConfiguration(max_retries=2, retry_delay=1.0, backoff_multiplier=2.0)
    plan = AttemptPlan(plan_requests(request(retry=retry, fallbacks=[FallbackRequest(model="b")])))
    first, second = plan.after_failure(rate_limited()), plan.after_failure(rate_limited())
    assert first is not None
    assert 0.75 <= first <= 1.0
    assert second is not None
    assert 1.5 <= second <= 2.0
    assert plan.current.request.model == "gpt-4o"
    assert plan.after_failure(rate_limited()) == 0.0  # retries spent: on to the fallback
    assert plan.current.request.model == "b"


def test_retry_after_is_honoured_and_a_long_one_skips_to_the_fallback() -> None:
    plan = AttemptPlan(plan_requests(request(fallbacks=[FallbackRequest(model="b")])))
    assert plan.after_failure(rate_limited(retry_after=2.5)) == 2.5
    assert plan.after_failure(rate_limited(retry_after=MAX_RETRY_AFTER + 1)) == 0.0
    assert plan.current.request.model == "b"


def test_non_retryable_errors_move_on_at_once() -> None:
    plan = AttemptPlan(plan_requests(request()))
    error = AuthenticationError("no", provider="openai", status_code=401)
    assert plan.after_failure(error) is None
    assert plan.final_error() is error


def test_disabled_retry_and_the_final_error_holds_every_attempt() -> None:
    retry = RetryConfiguration(enabled=False)
    plan = AttemptPlan(plan_requests(request(retry=retry, fallbacks=[FallbackRequest(model="b")])))
    errors = [ProviderConnectionError("down", provider="openai", retryable=True), rate_limited()]
    assert plan.after_failure(errors[0]) == 0.0
    assert plan.after_failure(errors[1]) is None
    final = plan.final_error()
    assert isinstance(final, AllAttemptsFailedError)
    assert final.errors == tuple(errors)
    assert "attempt 1: ProviderConnectionError" in str(final)


@pytest.mark.parametrize("exc", [ValueError("bug"), KeyError("x")])
def test_errors_that_are_not_provider_errors_are_not_retried(exc: Exception) -> None:
    plan = AttemptPlan(plan_requests(request()))
    assert plan.after_failure(exc) is None
