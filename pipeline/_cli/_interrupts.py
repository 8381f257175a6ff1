"""Ctrl-C for a live stream: the first stops the generation at once, a second exits."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
from anyio import CancelScope


class Interrupts:
    """Watches SIGINT while the CLI runs.

    A generation runs under :meth:`generation`'s scope. Ctrl-C during it cancels just that
    scope (closing its upstream socket); Ctrl-C when none is running cancels
    ``root`` and sets :attr:`exit_requested`.
    """

    def __init__(self) -> None:
        self.exit_requested = False
        self._current: CancelScope | None = None

    @contextmanager
    def generation(self) -> Iterator[CancelScope]:
        """The cancel scope of one generation; Ctrl-C inside it stops only the generation."""
        with anyio.CancelScope() as scope:
            self._current = scope
            try:
                yield scope
            finally:
                self._current = None

    async def watch(self, root: CancelScope) -> None:
        """Run until cancelled, turning each SIGINT into a cancellation."""
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                current = self._current
                if current is not None and not current.cancel_called:
                    current.cancel()
                else:
                    self.exit_requested = True
                    root.cancel()
