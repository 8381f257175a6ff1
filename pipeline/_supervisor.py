"""The supervisor: races attempts until one commits, inside the caller's single ``await``.

:meth:`Supervisor.run` starts the first attempt and from then on does what the pure
:class:`~pipeline._schedule.Schedule` says: a failed attempt is retried after its backoff or
replaced by the next fallback; an attempt with no first token after its ``hedge_after`` gets
the next attempt started beside it. The first attempt to commit (its first content, tool-call
or reasoning event) wins: every other one is cancelled and its socket closed before ``run``
returns, and nothing a loser decoded ever reaches the caller. Any task group lives only inside
that one ``await``; after it the stream pulls the winner in the caller's own task.

A call that can hedge (``hedge_after`` on the request or a fallback) races its attempts in a
task group, one task each. A call that cannot never has two attempts at once: they run one
after another in the caller's task, with no task group, so a thousand concurrent calls carry
no nursery, task or cancel status each while they connect (most of their memory then).

``first_token_timeout`` is a deadline on each attempt, from the moment its request is sent:
bytes that carry no token (SSE comments, pings, empty deltas) do not move it.

Only library errors (:class:`PipelineError`) move the schedule on. Anything else is a bug: it
cancels the race and propagates at once, as itself.

Cancellation: cancelling the caller (or :meth:`ChatCompletionStream.aclose` from another task)
cancels every attempt; each closes its response, shielded, before the cancellation propagates,
also during a backoff sleep or a hedge race.
"""

from __future__ import annotations

import logging
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
        "_hedged",
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
        self._hedged = any(p.planned.request.hedge_after is not None for p in prepared)
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
            if self._hedged:
                await self._race()
            else:
                await self._one_at_a_time()
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

    # ---------------------------------------------------------------- one at a time

    async def _one_at_a_time(self) -> None:
        launch: Launch | None = self._schedule.start()
        while launch is not None:
            attempt = self._new_attempt(launch)
            try:
                await self._try(attempt, None)
            except PipelineError as error:
                await self._close_failed(attempt, error)
                launch = self._next_after(attempt, error)
                continue
            except BaseException:
                await attempt.aclose()
                raise
            self._running -= 1
            self.winner = attempt
            return
        # With nothing running, a schedule that starts nothing more is exhausted: _next_after
        # has set the final error that run() raises.

    # ---------------------------------------------------------------- the race

    async def _race(self) -> None:
        try:
            async with anyio.create_task_group() as group:
                self._launch(self._schedule.start(), group)
        except BaseExceptionGroup as exc_group:
            # A bug in one attempt: raise it as itself, not wrapped.
            raise _single(exc_group) from None

    def _new_attempt(self, launch: Launch) -> Attempt:
        attempt = Attempt(self._prepared[launch.config], launch, stream=self._stream)
        self.attempts.append(attempt)
        self._running += 1
        return attempt

    def _launch(self, launch: Launch, group: anyio.abc.TaskGroup) -> None:
        group.start_soon(self._run_attempt, self._new_attempt(launch), group)

    async def _close_failed(self, attempt: Attempt, error: PipelineError) -> None:
        await attempt.aclose()
        redact_known(error, self.secrets)  # before it is logged, recorded or raised
        attempt.error = error

    async def _run_attempt(self, attempt: Attempt, group: anyio.abc.TaskGroup) -> None:
        try:
            await self._try(attempt, group)
        except PipelineError as error:
            await self._close_failed(attempt, error)
            if self.winner is not None:
                self._running -= 1
                return  # a loser failing while the winner is handed over: it does not count
            launch = self._next_after(attempt, error)
            if launch is not None:
                self._launch(launch, group)
            elif self._final is not None:
                group.cancel_scope.cancel()
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

    async def _try(self, attempt: Attempt, group: anyio.abc.TaskGroup | None) -> None:
        """Open ``attempt`` and pull it until its first token (or its end)."""
        if attempt.launch.delay:
            await anyio.sleep(attempt.launch.delay)
        request = attempt.prepared.planned.request
        if request.hedge_after is not None:
            assert group is not None, "a hedged call races in a task group"
            group.start_soon(self._hedge_timer, attempt, request.hedge_after, group)
        budget = request.first_token_timeout
        if budget is None:
            await _until_first_token(attempt)
            return
        with anyio.CancelScope(deadline=anyio.current_time() + budget) as scope:
            await _until_first_token(attempt)
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

    def _next_after(self, attempt: Attempt, error: PipelineError) -> Launch | None:
        """What to start after ``attempt`` failed; None when nothing is (yet) to start.

        When the schedule is exhausted and nothing else runs, the final error is set.
        """
        self._running -= 1
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
        elif self._running == 0 and self._schedule.exhausted:
            self._final = self._schedule.final_error()
            logger.warning(
                "giving up after %d attempts: %s: %s",
                len(self.attempts),
                type(self._final).__name__,
                error,
            )
        return launch


async def _until_first_token(attempt: Attempt) -> None:
    await attempt.open()
    while not (attempt.committed or attempt.finished):
        await attempt.pull()


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
