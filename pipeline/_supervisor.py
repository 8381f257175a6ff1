"""The supervisor: races attempts until one commits, inside the caller's single ``await``.

:meth:`Supervisor.run` opens a task group, starts the first attempt, and from then on does
what the pure :class:`~pipeline._schedule.Schedule` says: a failed attempt is retried after its
backoff or replaced by the next fallback; an attempt with no first token after its
``hedge_after`` gets the next attempt started beside it. The first attempt to commit (its first
content, tool-call or reasoning event) wins: every other one is cancelled and its socket closed
before ``run`` returns, and nothing a loser decoded ever reaches the caller. The task group
lives only inside that one ``await``; after it the stream pulls the winner in the caller's own
task.

``first_token_timeout`` is a deadline on each attempt's task, from the moment its request is
sent: bytes that carry no token (SSE comments, pings, empty deltas) do not move it.

Only library errors (:class:`PipelineError`) move the schedule on. Anything else is a bug: it
cancels the race and propagates at once, as itself.

Cancellation: cancelling the caller (or :meth:`ChatCompletionStream.aclose` from another task)
cancels every attempt; each closes its response, shielded, before the cancellation propagates,
also during a backoff sleep or a hedge race.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence

import anyio
import anyio.abc

from ._attempt import Attempt, PreparedAttempt
from ._errors import PipelineError, ProviderError, ProviderTimeoutError
from ._schedule import Launch, Schedule
from ._secrets import KnownSecrets, redact_known
from ._types import AttemptRecord

logger = logging.getLogger("pipeline")


class Supervisor:
    """Run one call's attempts: retries, fallbacks and hedges, until one commits.

    Args:
        prepared: The request's attempt, then each fallback's, built before any I/O.
        stream: Whether the attempts stream (``generate_chat_completion_stream``).
        rng: Source of the backoff jitter.
    """

    __slots__ = (
        "_final",
        "_prepared",
        "_running",
        "_schedule",
        "_stream",
        "attempts",
        "secrets",
        "winner",
    )

    def __init__(
        self,
        prepared: Sequence[PreparedAttempt],
        *,
        stream: bool,
        secrets: KnownSecrets | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._prepared = prepared
        self.secrets = secrets or KnownSecrets()
        """Every secret the call carries: hidden, by value, in each error that leaves it."""
        self._stream = stream
        self._schedule = Schedule(prepared, rng)
        self._running = 0
        self._final: BaseException | None = None
        self.attempts: list[Attempt] = []
        """Every attempt started, in order."""
        self.winner: Attempt | None = None

    async def run(self) -> Attempt:
        """Race attempts until one commits; return it, open, with its output so far.

        Raises:
            ProviderError: Every attempt failed: the last error when they all came from one
                provider, else :class:`AllAttemptsFailedError`; ``attempts`` records each.
        """
        try:
            try:
                async with anyio.create_task_group() as group:
                    self._launch(self._schedule.start(), group)
            except BaseExceptionGroup as exc_group:
                # A bug in one attempt: raise it as itself, not wrapped.
                raise _single(exc_group) from None
        except BaseException as exc:
            await self.close_all()  # cancelled, or a bug: the winner too, nobody will read it
            if isinstance(exc, Exception):
                redact_known(exc, self.secrets)
            raise
        winner = self.winner
        if winner is None:
            final = self._final
            assert final is not None, "the race ends with a winner or the final error"
            redact_known(final, self.secrets)
            if isinstance(final, ProviderError):
                final.attempts = tuple(self.records())
            raise final
        return winner

    async def close_all(self) -> None:
        """Close every attempt, the winner included (a cancelled or abandoned call)."""
        for attempt in self.attempts:
            await attempt.aclose()

    def records(self, *, winner_outcome: str = "succeeded") -> list[AttemptRecord]:
        """What each attempt did, in the order they started."""
        out = []
        for attempt in self.attempts:
            if attempt is self.winner:
                outcome = winner_outcome
            elif attempt.error is not None:
                outcome = "failed"
            else:
                outcome = "cancelled"
            out.append(attempt.record(outcome))  # type: ignore[arg-type]
        return out

    # ---------------------------------------------------------------- the race

    def _launch(self, launch: Launch, group: anyio.abc.TaskGroup) -> None:
        attempt = Attempt(self._prepared[launch.config], launch, stream=self._stream)
        self.attempts.append(attempt)
        self._running += 1
        group.start_soon(self._run_attempt, attempt, group)

    async def _run_attempt(self, attempt: Attempt, group: anyio.abc.TaskGroup) -> None:
        try:
            await self._try(attempt, group)
        except PipelineError as error:
            await attempt.aclose()
            redact_known(error, self.secrets)  # before it is logged, recorded or raised
            attempt.error = error
            self._failed(attempt, error, group)
            return
        except BaseException:
            await attempt.aclose()
            raise
        self._running -= 1
        if self.winner is None:
            self.winner = attempt
            if attempt.launch.hedge:
                logger.info("%s won the hedge race", _name(attempt))
            group.cancel_scope.cancel()
        else:  # pragma: no cover - two commits in one tick: the later one loses
            await attempt.aclose()

    async def _try(self, attempt: Attempt, group: anyio.abc.TaskGroup) -> None:
        """Open ``attempt`` and pull it until its first token (or its end)."""
        if attempt.launch.delay:
            await anyio.sleep(attempt.launch.delay)
        request = attempt.prepared.planned.request
        if request.hedge_after is not None:
            group.start_soon(self._hedge_timer, attempt, request.hedge_after, group)
        budget = request.first_token_timeout
        deadline = math.inf if budget is None else anyio.current_time() + budget
        with anyio.CancelScope(deadline=deadline) as scope:
            await attempt.open()
            while not (attempt.committed or attempt.finished):
                await attempt.pull()
        if scope.cancelled_caught:
            raise ProviderTimeoutError(
                f"{attempt.provider} sent no first token within {budget:g} s",
                provider=attempt.provider,
                budget="first token",
            )

    async def _hedge_timer(
        self, attempt: Attempt, delay: float, group: anyio.abc.TaskGroup
    ) -> None:
        await anyio.sleep(delay)
        if attempt.committed or attempt.error is not None or self.winner is not None:
            return
        launch = self._schedule.hedge()
        if launch is None:
            return
        logger.info(
            "hedging: %s has no first token after %g s; starting %s beside it",
            _name(attempt),
            delay,
            _describe(self._prepared[launch.config], launch),
        )
        self._launch(launch, group)

    def _failed(self, attempt: Attempt, error: PipelineError, group: anyio.abc.TaskGroup) -> None:
        self._running -= 1
        if self.winner is not None:
            return  # a loser failing while the winner is handed over: it does not count
        launch = self._schedule.failed(attempt.launch, error, running=self._running)
        if launch is not None:
            nxt = self._prepared[launch.config]
            if launch.config == attempt.launch.config:
                logger.info(
                    "retrying %s in %.2f s after %s: %s",
                    _name(attempt),
                    launch.delay,
                    type(error).__name__,
                    error,
                )
            else:
                logger.warning(
                    "falling back from %s to %s after %s: %s",
                    _name(attempt),
                    _describe(nxt, launch),
                    type(error).__name__,
                    error,
                )
            self._launch(launch, group)
        elif self._running == 0 and self._schedule.exhausted:
            self._final = self._schedule.final_error()
            logger.warning(
                "giving up after %d attempts: %s: %s",
                len(self.attempts),
                type(self._final).__name__,
                error,
            )
            group.cancel_scope.cancel()


def _name(attempt: Attempt) -> str:
    return _describe(attempt.prepared, attempt.launch)


def _describe(prepared: PreparedAttempt, launch: Launch) -> str:
    retry = f" (retry {launch.retry})" if launch.retry else ""
    return f"{prepared.provider_name}/{prepared.planned.request.model}{retry}"


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception of a group of one (nested groups included), else the group."""
    while len(group.exceptions) == 1:
        inner = group.exceptions[0]
        if not isinstance(inner, BaseExceptionGroup):
            return inner
        group = inner
    return group
