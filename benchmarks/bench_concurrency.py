"""Many concurrent streams: the sharded client pool against one large httpx pool.

httpx 0.28's connection pool rescans its queue and connections on every request event, which is
quadratic in the number of concurrent requests (encode/httpcore#1035). The library spreads a
base URL over shards of at most 64 connections. This starts N streams at once against a local
provider server in another process and measures, in the same run:

  (a) baseline: one ``httpx.AsyncClient`` with a pool of N connections, raw lines + JSON;
  (b) the public API (sharded pool, full pipeline).

Figures: wall time for all N streams, and this process's CPU time per delta.

Run: ``.venv/bin/python benchmarks/bench_concurrency.py [--streams 1000] [--deltas 50]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stream import pipeline_stream, raw_httpx

from pipeline import aclose_http_clients
from pipeline.testing import Synthetic, scenario_base_url, spawn_server_process


async def run_all(streams: int, one: Callable[[], Awaitable[int]]) -> tuple[float, float, int]:
    counts: list[int] = []

    async def worker() -> None:
        counts.append(await one())

    wall, cpu = time.perf_counter(), time.process_time()
    async with trio.open_nursery() as nursery:
        for _ in range(streams):
            nursery.start_soon(worker)
    return time.perf_counter() - wall, time.process_time() - cpu, sum(counts)


async def main(streams: int, deltas: int) -> None:
    with spawn_server_process() as root:
        base_url = scenario_base_url(root, Synthetic(deltas=deltas, pace_ms=2))
        limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
        # The pipeline runs first: whatever the first run pays for (imports, warm caches,
        # the server's first connections) counts against it, not the baseline.
        ours = await run_all(streams, lambda: pipeline_stream(base_url, sentences=False))
        await aclose_http_clients()
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            raw = await run_all(streams, lambda: raw_httpx(client, base_url))
    total = streams * deltas
    print(f"{streams} concurrent streams x {deltas} deltas (2 ms apart), server in another process")
    for label, (wall, cpu, count) in (("(a) one httpx pool", raw), ("(b) pipeline, sharded", ours)):
        if count != total:
            raise SystemExit(f"{label}: expected {total} deltas, got {count}")
        print(f"  {label:24} wall {wall:6.2f} s   CPU {cpu / total * 1e6:7.2f} µs per delta")
    print(f"  ratio (b)/(a): wall {ours[0] / raw[0]:.2f}x, CPU {ours[1] / raw[1]:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--deltas", type=int, default=50)
    args = parser.parse_args()
    trio.run(main, args.streams, args.deltas)
