"""Waiting in tests without a claim about speed: events, polling, safety nets.

A test that waits for "long enough" fails on a loaded machine; these helpers wait for the state
itself. :data:`SAFETY_NET` bounds every wait so a hang fails the test instead of stalling the
suite; it is never a claim about how fast anything is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

SAFETY_NET = 30.0
"""Seconds after which a test that should end at once is declared hung."""


async def until(predicate: Callable[[], bool]) -> None:
    """Poll ``predicate`` for state that has no event to wait on (client-side counters)."""
    with anyio.fail_after(SAFETY_NET):
        while not predicate():  # noqa: ASYNC110 - nothing signals the state polled here
            await anyio.sleep(0.005)


async def cancel_when(
    wait: Callable[[], Awaitable[object]], work: Callable[[], Awaitable[object]]
) -> bool:
    """Run ``work``, cancelling it once ``wait`` returns; True if ``work`` was cancelled.

    Synchronises on an event instead of a deadline, so it means the same on a loaded machine.
    """
    scope = anyio.CancelScope()

    async def cancel_after_wait() -> None:
        await wait()
        scope.cancel()

    with anyio.fail_after(SAFETY_NET):
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_after_wait)
            with scope:
                await work()
            tg.cancel_scope.cancel()
    return scope.cancelled_caught
