"""``python -m pipeline bench`` on a tiny configuration: the table, the JSON and the PNGs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests._waiting import SAFETY_NET

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--deltas", "12", "--pace-ms", "1", "--first-token-ms", "5", "--streams", "2",
        "--rounds", "1", "--cpu-deltas", "200", "--sentence-deltas", "15"]  # fmt: skip


def bench(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{prelude}\nfrom pipeline._cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SAFETY_NET * 4,
    )


def test_bench_prints_the_table_writes_json_and_draws_the_plots(tmp_path: Path) -> None:
    done = bench(*TINY, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "cores, Python" in done.stdout
    for name in ("direct socket", "raw httpx", "pipeline", "openai SDK", "anthropic SDK"):
        assert name in done.stdout
    results = json.loads((tmp_path / "harness.json").read_text())
    assert results["machine"]["cpu_count"] >= 1
    for wire in ("openai", "anthropic"):
        rows = results["wires"][wire]
        assert rows["direct socket"]["over_socket_us_p50"] == 0
        for row in rows.values():
            assert row["errors"] == 0
            # Every delta of every stream was matched to its arrival at the relay.
            assert len(row["added_latency_us_samples"]) == 2 * 12
            assert row["cpu_us_per_delta"] > 0
            assert row["first_delta_ms_p50"] > 0
            assert row["first_sentence_ms_p50"] >= row["first_delta_ms_p50"] * 0.5
        for plot in (f"latency_{wire}.png", f"cpu_{wire}.png"):
            assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_counts_faults_per_client(tmp_path: Path) -> None:
    done = bench(*TINY, "--wires", "openai", "--fault", "429", "--no-plots", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "harness.json").read_text())["wires"]["openai"]
    # Clients without retries fail on the 429; the library and the SDK honour retry-after-ms.
    assert rows["direct socket"]["errors"] == 2
    assert rows["raw httpx"]["errors"] == 2
    assert rows["pipeline"]["errors"] == 0
    assert len(rows["pipeline"]["added_latency_us_samples"]) == 2 * 12
    assert rows["openai SDK"]["errors"] == 0
    assert not list(tmp_path.glob("*.png"))


def test_bench_without_matplotlib_names_the_extra(tmp_path: Path) -> None:
    done = bench(*TINY, "--out", str(tmp_path), prelude="sys.modules['matplotlib'] = None")
    assert done.returncode == 1
    assert "voxstream[bench]" in done.stderr
    assert "--no-plots" in done.stderr
    assert not (tmp_path / "harness.json").exists()
