"""The latency, memory and allocation figures of ``bench_concurrency.py`` and ``bench_stream.py``
on tiny configurations: that every figure is measured and printed, never how good it is.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests._waiting import SAFETY_NET

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=SAFETY_NET * 4,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_concurrency_measures_latency_and_memory_per_client(backend: str) -> None:
    out = run(
        "bench_concurrency.py",
        *("--streams", "6", "--deltas", "5", "--pace-ms", "2", "--backend", backend, "--json"),
    )
    figures: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    assert [f["client"] for f in figures] == ["pipeline", "httpx", "socket"]
    for f in figures:
        assert f["backend"] == backend
        assert f["deltas_received"] == f["deltas_expected"] == 30
        assert f["latencies"] == 30  # one send stamp read back per delta
        # Received after it was sent, on one system-wide clock.
        assert 0 <= f["latency_p50_ms"] <= f["latency_p99_ms"]
        assert f["rss_peak_mib"] >= f["rss_baseline_mib"] > 0
        assert f["cpu_us_per_delta"] > 0
    assert out.count("send→receive p50") == 3
    assert out.count("KiB per stream") == 3
    assert re.search(r"ratio \(b\)/\(c\): wall \d+\.\d\dx", out)
    assert re.search(r"target \(wall \(b\) <= 1\.5x \(c\)\): (met|NOT met)", out)


def test_concurrency_runs_one_client_alone() -> None:
    out = run("bench_concurrency.py", "--streams", "2", "--deltas", "3", "--clients", "socket")
    assert "(c) raw socket reader" in out
    assert "(b) pipeline" not in out
    assert "ratio" not in out


def test_stream_counts_allocations_per_delta_for_each_client() -> None:
    pytest.importorskip("memray")  # the bench extra
    out = run("bench_stream.py", "--deltas", "40", "--rounds", "1")
    found = re.search(
        r"allocations per delta \(memray, one OpenAI stream each\): "
        r"httpx ([\d.]+)\s+socket ([\d.]+)\s+pipeline ([\d.]+)",
        out,
    )
    assert found, out
    # Every client allocates something per delta (a parsed JSON object at the least).
    assert all(float(value) >= 1 for value in found.groups())
    assert "OpenAI sentences + markdown clean" in out  # the CPU figures are still there


def test_stream_without_allocations_keeps_the_cpu_figures() -> None:
    out = run("bench_stream.py", "--deltas", "20", "--rounds", "1", "--no-allocations")
    assert "allocations per delta" not in out
    assert re.search(r"OpenAI\s+[\d.]+\s+[\d.]+\s+[\d.]+", out)
