"""PNG plots of a harness run (matplotlib, from the ``bench`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXTRA_HINT = 'pip install "voxstream[bench]"  (or: pip install matplotlib; or pass --no-plots)'


def plotting_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Latency distributions and CPU per delta, one figure per wire format; returns the files."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    written = []
    for wire, rows in results["wires"].items():
        names = list(rows)
        samples = [rows[n]["added_latency_us_samples"] or [0.0] for n in names]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.boxplot(samples, whis=(1, 99), showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), names)
        ax.set_ylabel("µs from bytes at the socket to delta in hand")
        ax.set_title(f"{wire}: latency each client adds per delta (box p25-p75, whiskers p1-p99)")
        fig.tight_layout()
        path = out_dir / f"latency_{wire}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

        fig, ax = plt.subplots(figsize=(8, 4.5))
        cpu = [rows[n]["cpu_us_per_delta"] for n in names]
        ax.bar(names, cpu, color="#4c72b0")
        for i, value in enumerate(cpu):
            ax.annotate(f"{value:.1f}", (i, value), ha="center", va="bottom")
        ax.set_ylabel("CPU µs per delta (client process)")
        ax.set_title(f"{wire}: CPU per delta, unpaced stream")
        fig.tight_layout()
        path = out_dir / f"cpu_{wire}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
