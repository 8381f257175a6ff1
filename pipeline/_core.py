"""The sans-IO stage-core protocol, and fusion of adjacent cores.

A core is a synchronous state machine: ``feed(item)`` returns the outputs that item makes
certain, ``flush()`` returns what remains at end of input. It never awaits, never reads the
clock, never does I/O. A core that raised is poisoned: every later call fails fast with the
same error, so a half-updated state is never used again (see :func:`guarded`).

Adjacent cores are fused into one (:class:`FusedCore`) so the built-in path pays one function
call per stage per item rather than a channel hop and a task switch.

A core that fails part-way through one input (a body block whose third event is broken, say)
may keep the outputs it completed before the failure and hand them over through
:class:`Salvaging`, so a failure never loses what came before it in the stream.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, NoReturn, ParamSpec, Protocol, TypeVar, cast, runtime_checkable

from ._errors import PipelineError

In_contra = TypeVar("In_contra", contravariant=True)
Out_co = TypeVar("Out_co", covariant=True)


@runtime_checkable
class StageCore(Protocol[In_contra, Out_co]):
    """A pure, incremental transformation from items of one kind to items of another."""

    def feed(self, item: In_contra, /) -> Sequence[Out_co]:
        """Consume one item; return every output it makes certain (often none)."""
        ...

    def flush(self) -> Sequence[Out_co]:
        """End of input: return whatever is still held back."""
        ...


@runtime_checkable
class Salvaging(Protocol):
    """A core that keeps, when ``feed`` or ``flush`` raises, the outputs completed before."""

    def salvage(self) -> Sequence[Any]:
        """The outputs the call that just raised had completed before its failure, once."""
        ...


class PoisonedCoreError(PipelineError):
    """A core was used again after it raised; ``__cause__`` is the original error."""


class Poisonable:
    """Mixin: remember the first error and refuse further work.

    Decorate ``feed``/``flush`` with :func:`guarded`.
    """

    __slots__ = ("_poisoned",)

    def __init__(self) -> None:
        self._poisoned: BaseException | None = None


CoreT = TypeVar("CoreT", bound=Poisonable)
P = ParamSpec("P")
R = TypeVar("R")


def guarded(method: Callable[Concatenate[CoreT, P], R]) -> Callable[Concatenate[CoreT, P], R]:
    """Make a core method fail fast once the core is poisoned, and poison it on any error."""

    def refuse(core: Poisonable, poisoned: BaseException) -> NoReturn:
        name = type(core).__name__
        raise PoisonedCoreError(f"{name} already failed: {poisoned}") from poisoned

    # feed(item) runs once per item per stage: a wrapper of its exact arity avoids packing
    # arguments on that path.
    wrapper: Callable[..., R]
    if method.__code__.co_argcount == 2:
        feed = cast(Callable[[CoreT, object], R], method)

        def wrapper(core: CoreT, item: object, /) -> R:
            if core._poisoned is not None:
                refuse(core, core._poisoned)
            try:
                return feed(core, item)
            except Exception as exc:
                core._poisoned = exc
                raise

    else:

        def wrapper(core: CoreT, /, *args: P.args, **kwargs: P.kwargs) -> R:
            if core._poisoned is not None:
                refuse(core, core._poisoned)
            try:
                return method(core, *args, **kwargs)
            except Exception as exc:
                core._poisoned = exc
                raise

    return functools.wraps(method)(wrapper)


class FusedCore:
    """Several cores run back to back as one core: each output of one feeds the next.

    ``flush`` flushes the cores in order, feeding each core's remainder through the rest, so
    nothing held back upstream is lost at end of input.
    """

    __slots__ = ("_cores",)
    _cores: tuple[StageCore[Any, Any], ...]

    def __init__(self, cores: Sequence[StageCore[Any, Any]]) -> None:
        flat: list[StageCore[Any, Any]] = []
        for core in cores:
            flat.extend(core._cores if isinstance(core, FusedCore) else (core,))
        self._cores = tuple(flat)

    @property
    def cores(self) -> tuple[StageCore[Any, Any], ...]:
        return self._cores

    def feed(self, item: Any, /) -> list[Any]:
        items: Sequence[Any] = (item,)
        for core in self._cores:
            if not items:
                return []
            if len(items) == 1:
                items = core.feed(items[0])
            else:
                out: list[Any] = []
                for one in items:
                    out.extend(core.feed(one))
                items = out
        return list(items)

    def feed_block(self, items: Sequence[Any], /) -> list[Any]:
        """Feed several items at once, stage by stage; the same output as one at a time.

        A core that offers ``feed_block`` itself (the sentence stage, say) takes them in one
        call; any other core one item at a time. Each core sees the same items in the same
        order either way.
        """
        for core in self._cores:
            if not items:
                return []
            # getattr rather than a runtime protocol check: this runs once per core per read,
            # and the check costs more than the call it saves on a small read.
            take_block = getattr(core, "feed_block", None)
            if take_block is not None:
                items = take_block(items)
            else:
                out: list[Any] = []
                for one in items:
                    out.extend(core.feed(one))
                items = out
        return list(items)

    def flush(self) -> list[Any]:
        carried: list[Any] = []
        for core in self._cores:
            out: list[Any] = []
            for one in carried:
                out.extend(core.feed(one))
            out.extend(core.flush())
            carried = out
        return carried

    def feed_partial(self, item: Any, /) -> tuple[list[Any], Exception | None]:
        """Like :meth:`feed`, but a core's failure keeps what came before it.

        Returns the outputs of everything the cores accepted before one of them raised, each
        passed through the rest of the chain, and that error (``None`` if none). One read can
        carry valid events and a broken one: the valid ones are not lost with it.
        """
        return self._run(0, (item,), flushing=False)

    def flush_partial(self) -> tuple[list[Any], Exception | None]:
        """Like :meth:`flush`, keeping what came before a failure (see :meth:`feed_partial`)."""
        return self._run(0, (), flushing=True)

    def _run(
        self, start: int, items: Sequence[Any], *, flushing: bool
    ) -> tuple[list[Any], Exception | None]:
        cores = self._cores
        for position in range(start, len(cores)):
            core = cores[position]
            out: list[Any] = []
            try:
                for one in items:
                    out.extend(core.feed(one))
                if flushing:
                    out.extend(core.flush())
            except Exception as error:
                # What this core produced before it failed still goes down the chain. Those
                # outputs all come from earlier in the stream than the failure, so an error
                # they raise downstream is the first one in stream order and is reported:
                # the same error a chain fed one event at a time would report.
                if isinstance(core, Salvaging):
                    out.extend(core.salvage())
                downstream, earlier = self._run(position + 1, out, flushing=False)
                return downstream, earlier or error
            items = out
        return list(items), None


def fuse(*cores: StageCore[Any, Any]) -> StageCore[Any, Any]:
    """Fuse ``cores`` into one; a single core is returned as it is."""
    if len(cores) == 1:
        return cores[0]
    return FusedCore(cores)
