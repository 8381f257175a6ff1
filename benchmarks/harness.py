"""Latency harness: what each client adds between the provider's bytes and the application.

``python -m pipeline bench [options]`` (or ``python benchmarks/harness.py``). A local provider
server runs in its own process (``spawn_server_process``) and streams with the configured pacing,
first-token delay, concurrency and faults. In the same run, on one trio loop, it measures for
every client (a direct socket reader as the floor, raw httpx, this library, and the official
``openai`` / ``anthropic`` SDKs when installed), on the OpenAI and Anthropic wire formats:

- time to first delta (from the request) and time to first sentence (the library's sentence
  stream; for the other clients the first ``.``/``!``/``?`` followed by a space, by hand);
- latency added per delta over the bytes' arrival (p50/p99, in µs), through a relay that stamps
  each self-naming word as it passes (``harness_relay.py``), and the same minus the floor;
- CPU µs per delta and deltas/s on an unpaced stream (this process only: the server is apart);
- memory per stream: peak Python allocations (tracemalloc) over N concurrent streams, over N.

It prints a table, writes JSON, and draws PNG plots (matplotlib, the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from harness_clients import Client, clients, pipeline_client
from harness_plots import EXTRA_HINT, draw, plotting_available
from harness_relay import TEXT_WORD, Relay, words

from pipeline import aclose_http_clients
from pipeline.testing import Synthetic, scenario_base_url, spawn_server_process

SENTENCE_END = re.compile(r"[.!?](\s|$)")
FAULTS = ("none", "429", "cut")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--deltas", type=int, default=200, help="deltas per paced stream")
    p.add_argument("--pace-ms", type=float, default=5.0, help="delay between deltas")
    p.add_argument("--first-token-ms", type=float, default=100.0, help="delay before the first")
    p.add_argument("--streams", type=int, default=4, help="concurrent streams per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--cpu-deltas", type=int, default=5000, help="deltas of the unpaced stream")
    p.add_argument("--sentence-deltas", type=int, default=40)
    p.add_argument("--fault", choices=FAULTS, default="none",
                   help="429: the first request of each stream is refused with retry-after-ms; "
                   "cut: the connection is cut halfway")  # fmt: skip
    p.add_argument("--wires", default="openai,anthropic", help="wire formats, comma-separated")
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="output folder")
    p.add_argument("--no-plots", action="store_true", help="table and JSON only")
    return p


def fault_fields(fault: str, deltas: int) -> dict[str, Any]:
    if fault == "429":
        return {"status": 429, "headers": (("retry-after-ms", "10"),), "fail_times": 1}
    if fault == "cut":
        return {"cut_after": max(1, deltas // 2)}
    return {}


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Run:
    def __init__(self, args: argparse.Namespace, root: str, relay: Relay) -> None:
        self.args = args
        self.root = root
        self.relay_root = f"http://127.0.0.1:{relay.port}"
        self.relay = relay
        self.ids: Iterator[int] = itertools.count()

    def url(self, wire: str, *, via_relay: bool, **fields: Any) -> str:
        root = self.relay_root if via_relay else self.root
        return scenario_base_url(root, Synthetic(**fields), wire)

    async def latency(self, wire: str, client: Client) -> dict[str, Any]:
        a = self.args
        added: list[float] = []
        first: list[float] = []
        errors = 0

        async def one(stream: int) -> None:
            nonlocal errors
            url = self.url(
                wire, via_relay=True, deltas=a.deltas, text=words(stream, a.deltas),
                pace_ms=a.pace_ms, first_token_delay_ms=a.first_token_ms,
                **fault_fields(a.fault, a.deltas),
            )  # fmt: skip
            arrivals: dict[tuple[int, int], float] = {}

            def on_text(text: str) -> None:
                now = trio.current_time()
                for match in TEXT_WORD.finditer(text):
                    arrivals.setdefault((int(match.group(1)), int(match.group(2))), now)

            start = trio.current_time()
            try:
                await client(url, on_text)
            except Exception:  # a fault: counted, its samples dropped
                errors += 1
                return
            if arrivals:
                first.append(min(arrivals.values()) - start)
            added.extend(t - self.relay.stamps[key] for key, t in arrivals.items())

        for _ in range(a.rounds):
            async with trio.open_nursery() as nursery:
                for _ in range(a.streams):
                    nursery.start_soon(one, next(self.ids))
        return {"added": [s * 1e6 for s in added], "first_delta": first, "errors": errors}

    async def first_sentence(self, wire: str, client: Client, *, real: bool) -> list[float]:
        a = self.args
        times: list[float] = []
        for _ in range(a.rounds):
            url = self.url(
                wire, via_relay=False, deltas=a.sentence_deltas, pace_ms=a.pace_ms,
                first_token_delay_ms=a.first_token_ms, tag=str(next(self.ids)),
            )  # fmt: skip
            text: list[str] = []
            seen: list[float] = []

            def on_text(piece: str, text: list[str] = text, seen: list[float] = seen) -> None:
                if seen:
                    return
                text.append(piece)
                if real or SENTENCE_END.search("".join(text)):
                    seen.append(trio.current_time())

            start = trio.current_time()
            try:
                await client(url, on_text)
            except Exception:
                continue
            if seen:
                times.append(seen[0] - start)
        return times

    async def cpu(self, wire: str, client: Client) -> tuple[float, float]:
        per_delta: list[float] = []
        rates: list[float] = []
        url = self.url(wire, via_relay=False, deltas=self.args.cpu_deltas)
        for _ in range(self.args.rounds):
            count = 0

            def on_text(_: str) -> None:
                nonlocal count
                count += 1

            cpu0, wall0 = time.process_time(), time.perf_counter()
            try:
                await client(url, on_text)
            except Exception:
                continue
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            if count:
                per_delta.append(cpu / count * 1e6)
                rates.append(count / wall)
        if not per_delta:
            return float("nan"), float("nan")
        return statistics.median(per_delta), statistics.median(rates)

    async def memory(self, wire: str, client: Client) -> float:
        a = self.args
        url = self.url(wire, via_relay=False, deltas=a.deltas, pace_ms=min(a.pace_ms, 2.0))
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()

            async def one() -> None:
                with contextlib.suppress(Exception):  # a fault: nothing to count here
                    await client(url, lambda _: None)

            async with trio.open_nursery() as nursery:
                for _ in range(a.streams):
                    nursery.start_soon(one)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return (peak - base) / a.streams / 1024


async def measure(args: argparse.Namespace, root: str) -> dict[str, Any]:
    relay = Relay(int(root.rsplit(":", 1)[1]))
    results: dict[str, Any] = {"wires": {}}
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=60) as http:
        await nursery.start(relay.serve)
        run = Run(args, root, relay)
        for wire in [w.strip() for w in args.wires.split(",") if w.strip()]:
            rows: dict[str, Any] = {}
            for name, client in clients(wire, http).items():
                warm = run.url(wire, via_relay=False, deltas=5)
                await client(warm, lambda _: None)  # imports, connections, caches
                lat = await run.latency(wire, client)
                sentence_client = (
                    pipeline_client(wire, sentences=True) if name == "pipeline" else client
                )
                ttfs = await run.first_sentence(wire, sentence_client, real=name == "pipeline")
                cpu, rate = await run.cpu(wire, client)
                rows[name] = {
                    "first_delta_ms_p50": quantile(lat["first_delta"], 0.5) * 1e3,
                    "first_sentence_ms_p50": quantile(ttfs, 0.5) * 1e3,
                    "added_latency_us_p50": quantile(lat["added"], 0.5),
                    "added_latency_us_p99": quantile(lat["added"], 0.99),
                    "added_latency_us_samples": lat["added"],
                    "cpu_us_per_delta": cpu,
                    "deltas_per_s": rate,
                    "memory_kib_per_stream": await run.memory(wire, client),
                    "errors": lat["errors"],
                }
            floor = rows["direct socket"]
            for row in rows.values():
                row["over_socket_us_p50"] = (
                    row["added_latency_us_p50"] - floor["added_latency_us_p50"]
                )
                row["over_socket_us_p99"] = (
                    row["added_latency_us_p99"] - floor["added_latency_us_p99"]
                )
            results["wires"][wire] = rows
        nursery.cancel_scope.cancel()
    await aclose_http_clients()
    return results


def table(results: dict[str, Any]) -> str:
    head = (f"{'client':<15}{'1st delta':>10}{'1st sent.':>10}{'added p50':>10}{'p99':>8}"
            f"{'+sock p50':>10}{'p99':>8}{'CPU/delta':>10}{'deltas/s':>10}{'KiB/strm':>9}"
            f"{'err':>5}")  # fmt: skip
    units = f"{'':<15}{'ms':>10}{'ms':>10}{'µs':>10}{'µs':>8}{'µs':>10}{'µs':>8}{'µs':>10}"
    lines = []
    for wire, rows in results["wires"].items():
        lines += [f"== {wire} wire format", head, units]
        raw_cpu = rows.get("raw httpx", {}).get("cpu_us_per_delta")
        for name, r in rows.items():
            ratio = f"  ({r['cpu_us_per_delta'] / raw_cpu:.2f}x httpx)" if raw_cpu else ""
            lines.append(
                f"{name:<15}{r['first_delta_ms_p50']:>10.1f}{r['first_sentence_ms_p50']:>10.1f}"
                f"{r['added_latency_us_p50']:>10.0f}{r['added_latency_us_p99']:>8.0f}"
                f"{r['over_socket_us_p50']:>10.0f}{r['over_socket_us_p99']:>8.0f}"
                f"{r['cpu_us_per_delta']:>10.2f}{r['deltas_per_s']:>10.0f}"
                f"{r['memory_kib_per_stream']:>9.1f}{r['errors']:>5}{ratio}"
            )  # fmt: skip
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.no_plots and not plotting_available():
        print(f"error: the plots need matplotlib: {EXTRA_HINT}", file=sys.stderr)
        return 1
    with spawn_server_process() as root:
        results = trio.run(partial(measure, args, root))
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    results = {"machine": machine(), "config": config, **results}
    print(f"machine: {results['machine']['platform']}, {results['machine']['cpu_count']} cores, "
          f"Python {results['machine']['python']}")  # fmt: skip
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "harness.json"
    json_path.write_text(json.dumps(results, indent=1))
    print(f"wrote {json_path}")
    if not args.no_plots:
        for path in draw(results, args.out):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
