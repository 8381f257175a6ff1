"""Idle read deadlines: one alarm per event loop for every response body, not a scope per read.

``timeout`` bounds each wait for more of a body, never the consumer's own time between reads.
A cancel scope around every read would cost microseconds per read and, on trio, memory that
outlives the read (see :mod:`pipeline._network`). Instead a body notes when its current wait
began (one clock read), and one :class:`IdleAlarm` per event loop wakes at the earliest moment
any watched wait can run out. It asks each body whose wait has lasted its whole limit to
:meth:`~IdleWatched.expire` (the body closes its socket, the read fails at once, and the body
reports a read timeout), then sets itself for the next such moment. A timeout fires at most
:data:`RESOLUTION` late; a thousand streams cost the alarm one pass over them per wake-up,
about once per limit.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import sniffio

from ._http import loop_key

if TYPE_CHECKING:
    import asyncio

RESOLUTION = 0.01
"""Seconds the alarm waits at least between two wake-ups: how late a timeout may fire."""


class IdleWatched(Protocol):
    """A body whose waits for bytes the alarm bounds."""

    @property
    def idle_limit(self) -> float:
        """Seconds one wait may last."""

    @property
    def waiting_since(self) -> float | None:
        """When the current wait began, on the alarm's clock; ``None``: not waiting."""

    async def expire(self) -> None:
        """The wait has lasted its limit (recheck: it may have ended meanwhile): fail it."""


class IdleAlarm:
    """Watches bodies of one event loop; subclasses put the wake-up on that loop."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        """The loop's own clock (a mock clock in tests): the one ``waiting_since`` is read on."""
        self._watched: weakref.WeakSet[IdleWatched] = weakref.WeakSet()
        self._due = math.inf

    def watch(self, body: IdleWatched) -> None:
        """Bound ``body``'s waits from now on, until :meth:`unwatch`."""
        self._watched.add(body)
        due = self.clock() + body.idle_limit
        if due < self._due:
            self._set(due)

    def unwatch(self, body: IdleWatched) -> None:
        self._watched.discard(body)
        if not self._watched:
            self._set(math.inf)

    def _ring(self) -> list[IdleWatched]:
        """The bodies whose wait ran out; the alarm is set again for the rest."""
        now = self.clock()
        due = math.inf
        expired = []
        for body in list(self._watched):
            since = body.waiting_since
            if since is not None and now - since >= body.idle_limit:
                expired.append(body)
                continue
            # A body not waiting now may start right away: its wait ends a limit from now.
            due = min(due, (now if since is None else since) + body.idle_limit)
        self._set(max(due, now + RESOLUTION) if due < math.inf else math.inf)
        return expired

    def _set(self, due: float) -> None:
        self._due = due


class SocketWatch:
    """The waits of one exchange on one socket, bounded by an alarm: a wait that lasts its
    limit closes the socket, so the operation in progress fails at once.

    The caller brackets each wait (``waiting_since = alarm.clock()`` before, ``None`` after)
    and, when the operation fails, turns the failure into a timeout if :attr:`expired`.
    """

    __slots__ = ("__weakref__", "_closable", "alarm", "expired", "idle_limit", "waiting_since")

    def __init__(self, alarm: IdleAlarm, closable: _Closable) -> None:
        self.alarm = alarm
        self._closable = closable
        self.idle_limit = math.inf
        self.waiting_since: float | None = None
        self.expired = False

    def limit(self, seconds: float | None) -> None:
        """Bound the next waits to ``seconds`` (``None``: unbounded)."""
        if seconds is None:
            self.stop()
            return
        self.idle_limit = seconds
        self.alarm.watch(self)  # again if watched: brings the alarm forward for a new limit

    def stop(self) -> None:
        """No more waits to bound (the exchange ended or failed)."""
        self.idle_limit = math.inf
        self.alarm.unwatch(self)

    async def expire(self) -> None:
        since = self.waiting_since
        if since is None or self.alarm.clock() - since < self.idle_limit:
            return  # the wait ended meanwhile
        self.expired = True
        await self._closable.aclose()


class _Closable(Protocol):
    async def aclose(self) -> None: ...


class TrioIdleAlarm(IdleAlarm):
    """Rings in a trio system task, which runs only while some body is watched."""

    def __init__(self) -> None:
        import trio

        super().__init__(trio.current_time)
        self._scope: trio.CancelScope | None = None
        self._running = False

    def _set(self, due: float) -> None:
        super()._set(due)
        scope = self._scope
        if scope is not None:
            if due == math.inf:
                scope.cancel()  # nothing left to watch: the task ends
            else:
                scope.deadline = due
        elif not self._running and due < math.inf:
            import trio

            self._running = True
            trio.lowlevel.spawn_system_task(self._run, name="pipeline idle read alarm")

    async def _run(self) -> None:
        import trio

        while self._due < math.inf:
            with trio.CancelScope(deadline=self._due) as self._scope:
                await trio.sleep_forever()
            self._scope = None
            for body in self._ring():
                await _expire(body)
        self._running = False


class AsyncioIdleAlarm(IdleAlarm):
    """Rings from an asyncio timer; each expiry runs in a task of its own."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop.time)
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._expiring: set[asyncio.Task[None]] = set()

    def _set(self, due: float) -> None:
        super()._set(due)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if due < math.inf:
            self._timer = self._loop.call_at(due, self._on_time)

    def _on_time(self) -> None:
        self._timer = None
        for body in self._ring():
            task = self._loop.create_task(_expire(body))
            self._expiring.add(task)
            task.add_done_callback(self._expiring.discard)


async def _expire(body: IdleWatched) -> None:
    with contextlib.suppress(Exception):  # closing a socket that is failing anyway
        await body.expire()


_alarms: weakref.WeakKeyDictionary[object, IdleAlarm] = weakref.WeakKeyDictionary()


def idle_alarm() -> IdleAlarm:
    """The alarm of the running event loop."""
    key = loop_key()
    found = _alarms.get(key)
    if found is not None:
        return found
    alarm: IdleAlarm
    if sniffio.current_async_library() == "trio":
        alarm = TrioIdleAlarm()
    else:
        import asyncio  # only a program that runs asyncio pays for importing it

        alarm = AsyncioIdleAlarm(asyncio.get_running_loop())
    _alarms[key] = alarm
    return alarm
