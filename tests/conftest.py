"""Shared test configuration: every ``@pytest.mark.anyio`` test runs on trio and on asyncio."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.testing import default_fixtures_dir

FIXTURES = default_fixtures_dir()
GOLD = Path(__file__).resolve().parent / "gold"


@pytest.fixture(params=["trio", "asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
