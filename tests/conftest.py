"""Shared test configuration: every ``@pytest.mark.anyio`` test runs on trio and on asyncio.

A test marked ``@pytest.mark.autojump_clock`` runs its trio case on
``trio.testing.MockClock(autojump_threshold=0)``: virtual time that jumps to the next deadline
as soon as every task waits, so sleeps, retries and timeouts take no wall time and fire in a
fixed order however loaded the machine is. Its asyncio case runs on the real clock and must
therefore assert order and outcome, never a wall-clock upper bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.testing import default_fixtures_dir

FIXTURES = default_fixtures_dir()
GOLD = Path(__file__).resolve().parent / "gold"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "autojump_clock: run the trio case on trio.testing.MockClock(autojump_threshold=0)",
    )


@pytest.fixture(params=["trio", "asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str | tuple[str, dict[str, Any]]:
    name = str(request.param)
    if name == "trio" and request.node.get_closest_marker("autojump_clock") is not None:
        from trio.testing import MockClock

        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    return name


def on_virtual_clock() -> bool:
    """Whether the running test's clock is trio's autojump clock (time is exact there)."""
    import sniffio

    if sniffio.current_async_library() != "trio":
        return False
    import trio
    from trio.testing import MockClock

    return isinstance(trio.lowlevel.current_clock(), MockClock)
