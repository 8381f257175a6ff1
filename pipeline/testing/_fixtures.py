"""Where the recorded fixtures live, and reading them safely and once."""

from __future__ import annotations

import functools
import os
from pathlib import Path

__all__ = ("FixtureError", "chunk_lines", "default_fixtures_dir", "read_fixture")

ENV_VAR = "PIPELINE_FIXTURES_DIR"


class FixtureError(LookupError):
    """A scenario names a fixture that does not exist or lies outside the fixtures dir."""


def default_fixtures_dir() -> Path:
    """``$PIPELINE_FIXTURES_DIR``, else the recorded streams shipped inside this package.

    They are package data (``pipeline/testing/fixtures``, origins and licenses in its
    ``SOURCES.md``), so replays work from any installed copy, not only from a checkout.
    """
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent / "fixtures"


def read_fixture(root: Path, relative: str) -> bytes:
    """The bytes of ``root / relative``, cached after the first read.

    Raises:
        FixtureError: the file is missing, or ``relative`` escapes ``root``.
    """
    return _read(root.resolve(), relative)


@functools.lru_cache(maxsize=256)
def _read(root: Path, relative: str) -> bytes:
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise FixtureError(f"fixture {relative!r} lies outside {root}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FixtureError(f"cannot read fixture {relative!r} in {root}: {exc.strerror}") from None


def chunk_lines(data: bytes) -> list[bytes]:
    """The JSON payloads of a ``*.chunks.txt`` file: its non-empty lines, without line ends."""
    return [line for line in data.splitlines() if line.strip()]
