"""``benchmarks/bench_load.py`` on a tiny configuration: its invariants, never its speed.

Twenty paced streams, two of them faulted (a 500 before the headers, a reset mid-stream),
through plain httpx, through the library and through the library over HTTP/2 (where the reset
is an RST_STREAM), on trio and on asyncio: no delta lost or duplicated, every faulted library
stream's partial response exactly what the server sent, every fault counted under its type, and
no socket left open to the server afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests._waiting import SAFETY_NET

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_load.py"


def run_bench(*args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--streams", "20", "--deltas", "10", "--pace-ms", "5",
         "--json", *args],
        capture_output=True,
        text=True,
        timeout=SAFETY_NET * 4,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.stdout.count("left open after close: 0") == len(figures)
    return figures


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_no_delta_lost_no_partial_wrong_no_socket_left(backend: str) -> None:
    by_client = {f["client"]: f for f in run_bench("--backend", backend)}
    assert len(by_client) == 3
    assert set(by_client) == {"httpx", "library", "library-h2"}
    for figures in by_client.values():
        assert figures["backend"] == backend
        assert figures["lost"] == 0
        assert figures["duplicated"] == 0
        # 18 whole streams of 10 deltas, and 4 deltas of the stream cut after 5 events.
        assert figures["deltas_sent"] == 18 * 10 + 4
        assert figures["deltas_received"] == figures["deltas_sent"]
        assert figures["faulted_with_output"] == 1
        assert figures["sockets_left_open"] == 0
        assert figures["cpu_us_per_delta"] > 0
        assert figures["rss_peak_mib"] > 0
    assert by_client["httpx"]["errors"] == {"HTTPStatusError": 1, "ReadError": 1}
    for name in ("library", "library-h2"):
        library = by_client[name]
        assert library["errors"] == {"ProviderConnectionError": 1, "ServerError": 1}
        assert library["partials_equal"] == 1


@pytest.mark.parametrize("client", ["library", "library-h2"])
def test_retries_recover_every_faulted_library_stream(client: str) -> None:
    (library,) = run_bench("--clients", client, "--retry", "--fault-share", "0.2")
    # The faults are on every request of their scenario, so retries fail the same way and
    # surface after the budget; what was received before each reset is still exact.
    assert library["lost"] == 0
    assert library["duplicated"] == 0
    assert library["sockets_left_open"] == 0
    assert sum(library["errors"].values()) == 4
    assert library["partials_equal"] == library["faulted_with_output"] == 2
