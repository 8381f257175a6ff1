"""Import cost: ``import pipeline`` against ``import httpx, anyio`` alone, in the same run.

Each figure is what ``python -X importtime`` reports for the modules a statement imports (the
cumulative time of its top-level imports, interpreter start-up excluded), the median of
``--runs`` fresh interpreters after one warm-up run (a cold disk cache is not the library's).
Target: ``import pipeline`` <= 150 ms, or within 20 ms of ``import httpx, anyio``.

Run: ``.venv/bin/python benchmarks/bench_import.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def import_ms(statement: str) -> float:
    """Milliseconds ``statement`` spends importing, as ``-X importtime`` reports them."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    total = 0
    after_site = False
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _self, cumulative, name = line[len("import time:") :].split("|")
        if not cumulative.strip().isdigit():
            continue  # the header line
        if name.strip() == "site" and not name.startswith("  "):
            after_site = True  # what came before is the interpreter's start-up
            total = 0
            continue
        if after_site and not name[1:].startswith(" "):  # a top-level import
            total += int(cumulative)
    return total / 1000


def main(runs: int) -> None:
    statements = {"pipeline": "import pipeline", "httpx, anyio": "import httpx, anyio"}
    results: dict[str, list[float]] = {name: [] for name in statements}
    for statement in statements.values():  # warm-up: the disk cache, the .pyc files
        import_ms(statement)
    for _ in range(runs):
        for name, statement in statements.items():
            results[name].append(import_ms(statement))
    ours = statistics.median(results["pipeline"])
    floor = statistics.median(results["httpx, anyio"])
    print(f"import time, median of {runs} fresh interpreters (python -X importtime)")
    print(f"  import httpx, anyio   {floor:7.1f} ms")
    print(f"  import pipeline       {ours:7.1f} ms   (+{ours - floor:.1f} ms)")
    met = ours <= 150 or ours - floor <= 20
    print(f"target <= 150 ms or within 20 ms of httpx+anyio: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
