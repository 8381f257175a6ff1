"""``import pipeline`` stays light: what it must not load until a program needs it.

Structural checks only (the timing is benchmarks/bench_import.py's job): asyncio is loaded
only by a program that runs asyncio, cattrs by the first validation, httpcore and h11 by the
first request.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("asyncio", "cattrs", "httpcore", "h11", "trio")


def run(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_import_pipeline_loads_none_of_the_heavy_modules() -> None:
    run(
        "import pipeline, sys\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )


@pytest.mark.parametrize(
    ("name", "loads"),
    [
        ("generate_chat_completion_stream", "cattrs"),
        ("serialize_conversation", "cattrs"),
        ("warm_up", "httpcore"),
    ],
)
def test_a_lazy_name_loads_its_module_on_first_use(name: str, loads: str) -> None:
    run(
        "import pipeline, sys\n"
        f"assert {loads!r} not in sys.modules\n"
        f"assert callable(pipeline.{name})\n"
        f"assert {loads!r} in sys.modules\n"
    )


def test_a_warm_up_on_trio_never_imports_asyncio() -> None:
    """The shared pool and a warm-up on trio need nothing of asyncio."""
    run(
        "import sys, trio, pipeline\n"
        "async def main():\n"
        "    await pipeline.warm_up([], connections=1)\n"
        "    await pipeline.aclose_http_clients()\n"
        "trio.run(main)\n"
        "assert 'asyncio' not in sys.modules, 'asyncio was imported'\n"
    )
