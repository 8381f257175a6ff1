"""``bench``: the latency harness, which ships with the source checkout in ``benchmarks/``.

The harness compares the library with the official SDKs, which the library itself never
imports, so it stays a script beside the package rather than a module inside it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from . import _exit

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "harness.py"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser(
        "bench",
        help="measure streaming latency and CPU against raw httpx and the SDKs",
        add_help=False,
    )


def run(argv: list[str]) -> int:
    if not HARNESS.is_file():
        print(
            f"error: the harness is not here ({HARNESS}): it ships with the source checkout; "
            "run this command from a clone",
            file=sys.stderr,
        )
        return _exit.FAILURE
    spec = importlib.util.spec_from_file_location("voxstream_harness", HARNESS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    code: int = module.main(argv)
    return code
