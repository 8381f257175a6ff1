"""Which attempt runs next, and when: retries with backoff, fallbacks in order, hedges.

The schedule is pure bookkeeping. The supervisor tells it what happened (the start, a failure,
a hedge timer that expired) and is told what to launch: a :class:`Launch` names the
configuration (the request, then each fallback, in order), its retry number, whether it is a
hedge, and how long to wait before sending. It never sleeps, never reads the clock and draws
jitter from the random generator it is given, so a test can drive it step by step.

The rules, in the order they apply:

- Only errors that can succeed when repeated are retried: :class:`ProviderError` with
  ``retryable`` set (connection failures, timeouts, 408, 409, 429, 5xx, 529). A server's
  ``Retry-After`` is honoured up to :data:`MAX_RETRY_AFTER` seconds; a longer one moves on.
- A failure while another attempt is still running starts nothing: the running one may win.
- When nothing is running any more, the newest configuration is retried if its last error
  allows it and its budget is not spent; otherwise the next configuration starts; when none is
  left, the schedule is exhausted and :meth:`Schedule.final_error` says what to raise.
- A hedge starts the next configuration beside the running attempt. With none left, it is a
  retry of the newest configuration, if its budget allows. A hedge moves the schedule on: an
  earlier configuration is not retried after a later one has started.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ._errors import AllAttemptsFailedError, ProviderError
from ._types import RetryConfiguration

MAX_RETRY_AFTER = 60.0
"""The longest ``Retry-After`` honoured, in seconds (the Anthropic SDK's bound)."""
MAX_BACKOFF = 30.0
"""The longest backoff between two tries of one configuration, in seconds."""

# One generator for every schedule that is given none: a Mersenne Twister's state is 2.5 KB,
# more than the rest of a schedule, and a thousand concurrent calls would each carry one.
_JITTER = random.Random()


class Configuration(Protocol):
    """What the schedule reads of a planned attempt."""

    @property
    def retry(self) -> RetryConfiguration: ...

    @property
    def provider_name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Launch:
    """One attempt to start: configuration ``config``, try number ``retry`` (0 is the first)."""

    config: int
    retry: int
    hedge: bool = False
    delay: float = 0.0


class Schedule:
    """Decide, after each event of a race, which attempt starts next.

    Args:
        configs: The request's configuration, then each fallback's, in order.
        rng: Source of the backoff jitter.
    """

    __slots__ = ("_configs", "_last_error", "_newest", "_retries", "_rng", "failures")

    def __init__(self, configs: Sequence[Configuration], rng: random.Random | None = None) -> None:
        if not configs:
            raise ValueError("a schedule needs at least one configuration")
        self._configs = configs
        self._rng = rng or _JITTER
        self._newest = 0
        self._retries = [0] * len(configs)
        self._last_error: dict[int, BaseException] = {}
        self.failures: list[tuple[Launch, BaseException]] = []
        """Every failed launch with its error, in the order they failed."""

    def start(self) -> Launch:
        """The first attempt."""
        return Launch(config=0, retry=0)

    def hedge(self) -> Launch | None:
        """A running attempt has not committed within its ``hedge_after``: what starts beside."""
        if self.exhausted:
            return None
        if self._newest + 1 < len(self._configs):
            self._newest += 1
            return Launch(config=self._newest, retry=0, hedge=True)
        retry = self._configs[self._newest].retry
        if retry.enabled and self._retries[self._newest] < retry.max_retries:
            self._retries[self._newest] += 1
            return Launch(config=self._newest, retry=self._retries[self._newest], hedge=True)
        return None

    def failed(self, launch: Launch, error: BaseException, *, running: int) -> Launch | None:
        """Record that ``launch`` failed with ``error``; ``running`` attempts are still going.

        Returns:
            The attempt to start next, or ``None``: wait for the running ones, or (when
            :attr:`exhausted`) give up.
        """
        self.failures.append((launch, error))
        self._last_error[launch.config] = error
        if running:
            return None
        newest = self._newest
        retry = self._configs[newest].retry
        last = self._last_error.get(newest, error)
        if retry.enabled and self._retries[newest] < retry.max_retries and _retryable(last):
            delay = _delay(retry, self._retries[newest], last, self._rng)
            if delay is not None:
                self._retries[newest] += 1
                return Launch(config=newest, retry=self._retries[newest], delay=delay)
        if newest + 1 < len(self._configs):
            self._newest = newest + 1
            return Launch(config=self._newest, retry=0)
        self._newest = len(self._configs)
        return None

    @property
    def exhausted(self) -> bool:
        """Whether every configuration has been tried and nothing more will start."""
        return self._newest >= len(self._configs)

    def final_error(self) -> BaseException:
        """What to raise when the schedule is exhausted.

        The last error itself when every failure came from one provider (so
        ``except RateLimitError`` still works after retries), else an
        :class:`AllAttemptsFailedError` holding each one.
        """
        errors = [error for _, error in self.failures]
        providers = {self._configs[launch.config].provider_name for launch, _ in self.failures}
        if len(providers) <= 1:
            return errors[-1]
        return AllAttemptsFailedError(errors)


def _retryable(error: BaseException) -> bool:
    return isinstance(error, ProviderError) and error.retryable


def _delay(
    retry: RetryConfiguration, retries_done: int, error: BaseException, rng: random.Random
) -> float | None:
    asked = error.retry_after if isinstance(error, ProviderError) else None
    if asked is not None:
        return asked if asked <= MAX_RETRY_AFTER else None
    try:
        backoff = min(retry.retry_delay * retry.backoff_multiplier**retries_done, MAX_BACKOFF)
    except OverflowError:  # a long retry budget: the multiplier's power leaves the floats
        backoff = MAX_BACKOFF
    return backoff * rng.uniform(0.75, 1.0)
