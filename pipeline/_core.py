"""The sans-IO stage-core protocol, and fusion of adjacent cores.

A core is a synchronous state machine: ``feed(item)`` returns the outputs that item makes
certain, ``flush()`` returns what remains at end of input. It never awaits, never reads the
clock, never does I/O. A core that raised is poisoned: every later call fails fast with the
same error, so a half-updated state is never used again (see :class:`Poisonable`).

Adjacent cores are fused into one (:class:`FusedCore`) so the built-in path pays one function
call per stage per item rather than a channel hop and a task switch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

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


class PoisonedCoreError(PipelineError):
    """A core was used again after it raised; ``__cause__`` is the original error."""


class Poisonable:
    """Mixin: remember the first error and refuse further work.

    Subclasses call :meth:`_check` at the top of ``feed``/``flush`` and wrap the body in
    ``try: ... except Exception as exc: self._poison(exc); raise``.
    """

    __slots__ = ("_poisoned",)

    def __init__(self) -> None:
        self._poisoned: BaseException | None = None

    def _check(self) -> None:
        if self._poisoned is not None:
            raise PoisonedCoreError(
                f"{type(self).__name__} already failed: {self._poisoned}"
            ) from self._poisoned

    def _poison(self, exc: BaseException) -> None:
        self._poisoned = exc


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

    def flush(self) -> list[Any]:
        carried: list[Any] = []
        for core in self._cores:
            out: list[Any] = []
            for one in carried:
                out.extend(core.feed(one))
            out.extend(core.flush())
            carried = out
        return carried


def fuse(*cores: StageCore[Any, Any]) -> StageCore[Any, Any]:
    """Fuse ``cores`` into one; a single core is returned as it is."""
    if len(cores) == 1:
        return cores[0]
    return FusedCore(cores)
