"""Kept for callers of ``pipeline._demo.main``: the CLI now lives in ``pipeline._cli``."""

from __future__ import annotations

from ._cli import main as main

__all__ = ("main",)
