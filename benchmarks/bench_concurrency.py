"""Many concurrent streams: the sharded client pool against one large httpx pool.

httpx 0.28's connection pool rescans its queue and connections on every request event, which is
quadratic in the number of concurrent requests (encode/httpcore#1035). The library spreads a
base URL over shards of at most 64 connections. This starts N streams at once against a local
provider server in another process and measures, in the same run:

  (a) baseline: one ``httpx.AsyncClient`` with a pool of N connections, raw lines + JSON;
  (b) the public API (sharded pool, full pipeline);
  (c) the raw socket reader of bench_stream.py, one socket per stream.

Figures: wall time for all N streams, and this process's CPU time per delta.
Target with ``--deltas 200 --pace-ms 20``: wall (b) ≤ 1.5 × (c).

Run: ``.venv/bin/python benchmarks/bench_concurrency.py [--streams 1000] [--deltas 50]
[--pace-ms 2]``
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

from bench_stream import RawSocket, pipeline_stream, raw_httpx, socket_openai

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


async def socket_stream(base_url: str) -> int:
    raw = RawSocket(base_url)
    try:
        return await socket_openai(raw)
    finally:
        await raw.aclose()


async def main(streams: int, deltas: int, pace_ms: int) -> None:
    with spawn_server_process() as root:
        base_url = scenario_base_url(root, Synthetic(deltas=deltas, pace_ms=pace_ms))
        limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
        # The pipeline runs first: whatever the first run pays for (imports, warm caches,
        # the server's first connections) counts against it, not the baseline.
        ours = await run_all(streams, lambda: pipeline_stream(base_url, sentences=False))
        await aclose_http_clients()
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            raw = await run_all(streams, lambda: raw_httpx(client, base_url))
        sockets = await run_all(streams, lambda: socket_stream(base_url))
    total = streams * deltas
    print(
        f"{streams} concurrent streams x {deltas} deltas ({pace_ms} ms apart), "
        "server in another process"
    )
    rows = (
        ("(a) one httpx pool", raw),
        ("(b) pipeline, sharded", ours),
        ("(c) raw socket reader", sockets),
    )
    for label, (wall, cpu, count) in rows:
        if count != total:
            raise SystemExit(f"{label}: expected {total} deltas, got {count}")
        print(f"  {label:24} wall {wall:6.2f} s   CPU {cpu / total * 1e6:7.2f} µs per delta")
    print(f"  ratio (b)/(a): wall {ours[0] / raw[0]:.2f}x, CPU {ours[1] / raw[1]:.2f}x")
    print(f"  ratio (b)/(c): wall {ours[0] / sockets[0]:.2f}x, CPU {ours[1] / sockets[1]:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--deltas", type=int, default=50)
    parser.add_argument("--pace-ms", type=int, default=2)
    args = parser.parse_args()
    trio.run(main, args.streams, args.deltas, args.pace_ms)
