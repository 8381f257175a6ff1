"""The pure half of the supervisor: the plan (inheritance into fallbacks) and the schedule."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pipeline import (
    AllAttemptsFailedError,
    AuthenticationError,
    ChatCompletionRequest,
    CompletionsProvider,
    FallbackRequest,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    RetryConfiguration,
    UserMessage,
)
from pipeline._plan import DEFAULT_RETRY, plan_requests
from pipeline._schedule import MAX_BACKOFF, MAX_RETRY_AFTER, Launch, Schedule


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


def rate_limited(retry_after: float | None = None, provider: str = "openai") -> RateLimitError:
    return RateLimitError(
        "slow down", provider=provider, status_code=429, retryable=True, retry_after=retry_after
    )


def schedule(**changes: object) -> Schedule:
    return Schedule(plan_requests(request(**changes)), random.Random(7))


# ---------------------------------------------------------------- the plan


def test_fallbacks_inherit_unset_fields() -> None:
    planned = plan_requests(request(fallbacks=[FallbackRequest(model="gpt-4o-mini")]))
    assert [p.request.model for p in planned] == ["gpt-4o", "gpt-4o-mini"]
    fallback = planned[1].request
    assert fallback.temperature == 0.3
    assert fallback.api_key == "sk-openai-0123456789abcdef"  # same provider: the key is kept
    assert fallback.fallbacks is None
    assert planned[0].retry == DEFAULT_RETRY


def test_no_retry_configuration_means_the_contract_defaults() -> None:
    assert RetryConfiguration() == DEFAULT_RETRY
    assert DEFAULT_RETRY.max_retries == 3


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


def test_budgets_are_inherited_unless_the_fallback_sets_its_own() -> None:
    planned = plan_requests(
        request(
            hedge_after=0.3,
            first_token_timeout=2.0,
            fallbacks=[FallbackRequest(model="b"), FallbackRequest(model="c", hedge_after=1.0)],
        )
    )
    assert [p.request.hedge_after for p in planned] == [0.3, 0.3, 1.0]
    assert {p.request.first_token_timeout for p in planned} == {2.0}


# ---------------------------------------------------------------- the schedule


def test_retryable_errors_are_retried_with_backoff_then_the_next_fallback_runs() -> None:
    retry = RetryConfiguration(max_retries=2, retry_delay=1.0, backoff_multiplier=2.0)
    plan = schedule(retry=retry, fallbacks=[FallbackRequest(model="b")])
    first = plan.failed(plan.start(), rate_limited(), running=0)
    assert first is not None
    assert (first.config, first.retry) == (0, 1)
    assert 0.75 <= first.delay <= 1.0
    second = plan.failed(first, rate_limited(), running=0)
    assert second is not None
    assert (second.config, second.retry) == (0, 2)
    assert 1.5 <= second.delay <= 2.0
    fallback = plan.failed(second, rate_limited(), running=0)
    assert fallback == Launch(config=1, retry=0)  # retries spent: on to the fallback at once


def test_retry_after_is_honoured_and_a_long_one_skips_to_the_fallback() -> None:
    plan = schedule(fallbacks=[FallbackRequest(model="b")])
    retried = plan.failed(plan.start(), rate_limited(retry_after=2.5), running=0)
    assert retried is not None
    assert retried.delay == 2.5
    moved = plan.failed(retried, rate_limited(retry_after=MAX_RETRY_AFTER + 1), running=0)
    assert moved == Launch(config=1, retry=0)


def test_non_retryable_errors_move_on_and_a_lone_error_is_raised_as_itself() -> None:
    plan = schedule()
    error = AuthenticationError("no", provider="openai", status_code=401)
    assert plan.failed(plan.start(), error, running=0) is None
    assert plan.exhausted
    assert plan.final_error() is error


def test_one_provider_failing_throughout_raises_its_last_error() -> None:
    retry = RetryConfiguration(max_retries=1, retry_delay=0.0)
    plan = schedule(retry=retry, fallbacks=[FallbackRequest(model="b", retry=retry)])
    launch: Launch | None = plan.start()
    errors = []
    while launch is not None:
        errors.append(rate_limited())
        launch = plan.failed(launch, errors[-1], running=0)
    assert len(errors) == 4
    assert plan.final_error() is errors[-1]  # ``except RateLimitError`` still works


def test_several_providers_failing_raise_all_attempts_failed_with_each_error() -> None:
    fallback = FallbackRequest(provider=CompletionsProvider.ALIBABA, model="qwen")
    plan = schedule(retry=RetryConfiguration(enabled=False), fallbacks=[fallback])
    errors = [
        ProviderConnectionError("down", provider="openai", retryable=True),
        rate_limited(provider="alibaba"),
    ]
    nxt = plan.failed(plan.start(), errors[0], running=0)
    assert nxt == Launch(config=1, retry=0)
    assert plan.failed(nxt, errors[1], running=0) is None
    final = plan.final_error()
    assert isinstance(final, AllAttemptsFailedError)
    assert isinstance(final, ProviderError)
    assert final.errors == tuple(errors)
    assert final.provider == "alibaba"
    assert "attempt 1: ProviderConnectionError" in str(final)


@pytest.mark.parametrize("exc", [ValueError("bug"), KeyError("x")])
def test_errors_that_are_not_provider_errors_are_not_retried(exc: Exception) -> None:
    plan = schedule()
    assert plan.failed(plan.start(), exc, running=0) is None


def test_a_failure_while_another_attempt_runs_starts_nothing() -> None:
    plan = schedule(fallbacks=[FallbackRequest(model="b")])
    first = plan.start()
    hedge = plan.hedge()
    assert hedge == Launch(config=1, retry=0, hedge=True)
    assert plan.failed(first, rate_limited(), running=1) is None
    assert not plan.exhausted
    # The hedge moved the plan on: when it fails too, its own configuration is retried.
    retried = plan.failed(hedge, rate_limited(), running=0)
    assert retried is not None
    assert (retried.config, retried.retry) == (1, 1)


def test_a_hedge_with_no_fallback_left_is_a_retry_while_the_budget_lasts() -> None:
    plan = schedule(retry=RetryConfiguration(max_retries=1))
    plan.start()
    assert plan.hedge() == Launch(config=0, retry=1, hedge=True)
    assert plan.hedge() is None


# ---------------------------------------------------------------- random event orders


@dataclass
class _Config:
    retry: RetryConfiguration
    provider_name: str


class ScheduleMachine(RuleBasedStateMachine):
    """Any order of failures and hedge timers keeps the schedule's promises."""

    def __init__(self) -> None:
        super().__init__()
        self.configs: list[_Config] = []
        self.schedule: Schedule | None = None
        self.running: list[Launch] = []
        self.launched: list[Launch] = []

    @precondition(lambda self: self.schedule is None)
    @rule(
        budgets=st.lists(
            st.tuples(st.booleans(), st.integers(0, 3), st.sampled_from(["openai", "alibaba"])),
            min_size=1,
            max_size=4,
        ),
        seed=st.integers(0, 1000),
    )
    def begin(self, budgets: list[tuple[bool, int, str]], seed: int) -> None:
        self.configs = [
            _Config(RetryConfiguration(enabled=on, max_retries=n, retry_delay=0.5), name)
            for on, n, name in budgets
        ]
        self.schedule = Schedule(self.configs, random.Random(seed))
        self._started(self.schedule.start())

    def _started(self, launch: Launch) -> None:
        self.running.append(launch)
        self.launched.append(launch)

    @precondition(lambda self: self.running)
    @rule(
        pick=st.integers(0, 10),
        retryable=st.booleans(),
        retry_after=st.none() | st.floats(0, 100),
    )
    def fail(self, pick: int, retryable: bool, retry_after: float | None) -> None:
        assert self.schedule is not None
        launch = self.running.pop(pick % len(self.running))
        provider = self.configs[launch.config].provider_name
        error = ProviderError("x", provider=provider, retryable=retryable, retry_after=retry_after)
        nxt = self.schedule.failed(launch, error, running=len(self.running))
        if self.running:
            assert nxt is None  # a running attempt may still win
        if nxt is not None:
            assert nxt.delay <= max(MAX_RETRY_AFTER, MAX_BACKOFF)
            assert not nxt.hedge
            self._started(nxt)
        elif not self.running:
            assert self.schedule.exhausted
            final = self.schedule.final_error()
            providers = {self.configs[f.config].provider_name for f, _ in self.schedule.failures}
            if len(providers) == 1:
                assert final is self.schedule.failures[-1][1]
            else:
                assert isinstance(final, AllAttemptsFailedError)
                assert len(final.errors) == len(self.schedule.failures)

    @precondition(lambda self: self.running)
    @rule()
    def hedge_timer(self) -> None:
        assert self.schedule is not None
        nxt = self.schedule.hedge()
        if nxt is not None:
            assert nxt.hedge
            assert nxt.delay == 0.0
            self._started(nxt)

    @rule()
    def a_late_hedge_timer_after_the_end_starts_nothing(self) -> None:
        if self.schedule is not None and self.schedule.exhausted:
            assert self.schedule.hedge() is None

    @invariant()
    def budgets_hold_and_configurations_only_move_forward(self) -> None:
        for index, config in enumerate(self.configs):
            tries = [launch for launch in self.launched if launch.config == index]
            allowed = config.retry.max_retries if config.retry.enabled else 0
            assert len(tries) <= 1 + allowed
            assert [t.retry for t in tries] == list(range(len(tries)))  # each retry once
        configs = [launch.config for launch in self.launched]
        assert configs == sorted(configs)


TestScheduleMachine = ScheduleMachine.TestCase
