"""Many concurrent streams: the sharded client pool against one large httpx pool and raw sockets.

httpx 0.28's connection pool rescans its queue and connections on every request event, which is
quadratic in the number of concurrent requests (encode/httpcore#1035). The library spreads a
base URL over shards of at most 64 connections. This starts N streams at once against a local
provider server in another process and measures, in the same run:

  (a) baseline: one ``httpx.AsyncClient`` with a pool of N connections, raw lines + JSON;
  (b) the public API (sharded pool, full pipeline);
  (c) the raw socket reader of bench_stream.py, one socket per stream.

Each client runs in a fresh child process of this run (one warm-up stream first), so its CPU
and memory figures are its own and not what another client left in the allocator. The server
stamps each delta with its ``time.monotonic_ns()`` as it writes the event
(``Synthetic(send_stamps=True)``); CLOCK_MONOTONIC is one clock for every process on Linux, so a
client subtracts the stamp from its own clock when the delta reaches the application.

Figures per client: wall time for all N streams, CPU time per delta (its process only),
send→receive latency p50 and p99 over every delta, and RSS per stream (peak RSS during the run
less the RSS after warm-up, over N). Target with ``--streams 1000 --deltas 200 --pace-ms 20``:
wall (b) ≤ 1.5 × (c).

Run: ``.venv/bin/python benchmarks/bench_concurrency.py [--streams 1000] [--deltas 50]
[--pace-ms 2] [--backend trio|asyncio] [--clients pipeline,httpx,socket] [--json]``
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import (
    allow_open_files,
    chosen_clients,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
)
from bench_stream import OPENAI_BODY, RawSocket

from pipeline import aclose_http_clients, generate_chat_completion_stream
from pipeline.testing import (
    Synthetic,
    read_send_stamps,
    scenario_base_url,
    spawn_server_process,
)

# The pipeline first: had they shared a process, what the first client pays for (imports,
# warm caches, the server's first connections) would count against it, not the baselines.
CLIENTS = ("pipeline", "httpx", "socket")
LABELS = {
    "httpx": "(a) one httpx pool",
    "pipeline": "(b) pipeline, sharded",
    "socket": "(c) raw socket reader",
}
TARGET_WALL_VS_SOCKET = 1.5


class Latencies:
    """Send→receive nanoseconds of every delta, in an array sized before the run.

    Preallocated so that keeping the figures adds nothing to the RSS measured per stream.
    """

    def __init__(self, capacity: int) -> None:
        self.ns = array("q", bytes(8 * capacity))
        self.count = 0

    def add(self, text: str) -> None:
        """One delta's text as the application gets it: its stamps against our clock now."""
        now = time.monotonic_ns()
        for stamp in read_send_stamps(text):
            self.ns[self.count] = now - stamp
            self.count += 1

    def percentile_ms(self, share: float) -> float:
        """Nearest-rank percentile (``share`` in (0, 1]) in milliseconds."""
        ordered = sorted(self.ns[: self.count])
        if not ordered:
            return math.nan
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)] / 1e6


Stream = Callable[[str, Latencies], Awaitable[int]]


async def pipeline_stream(base_url: str, latencies: Latencies) -> int:
    request = {
        "provider": "openai",
        "api_key": "sk-local-benchmark-key",
        "model": "bench",
        "messages": [{"role": "user", "content": "go"}],
        "provider_kwargs": {"openai": {"base_url": base_url}},
    }
    count = 0
    stream = await generate_chat_completion_stream(request)
    async with stream:
        async for chunk in stream:
            if chunk.type == "content_delta":
                latencies.add(chunk.content)
                count += 1
    return count


def httpx_stream(client: httpx.AsyncClient) -> Stream:
    async def run(base_url: str, latencies: Latencies) -> int:
        count = 0
        url = f"{base_url}/chat/completions"
        async with client.stream("POST", url, content=OPENAI_BODY) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                payload = line[6:]
                if payload == "[DONE]":
                    break
                for choice in json.loads(payload)["choices"]:
                    content = choice["delta"].get("content")
                    if content:
                        latencies.add(content)
                        count += 1
        return count

    return run


async def socket_stream(base_url: str, latencies: Latencies) -> int:
    count = 0
    raw = RawSocket(base_url)
    try:
        async for chunk in raw.events("/chat/completions", OPENAI_BODY):
            for choice in chunk["choices"]:
                content = choice["delta"].get("content")
                if content:
                    latencies.add(content)
                    count += 1
    finally:
        await raw.aclose()
    return count


@dataclass(slots=True)
class Figures:
    client: str
    backend: str
    streams: int
    deltas_expected: int
    deltas_received: int
    wall_s: float
    ideal_s: float
    cpu_s: float
    cpu_us_per_delta: float
    latency_p50_ms: float
    latency_p99_ms: float
    latencies: int
    rss_baseline_mib: float
    rss_peak_mib: float
    rss_kib_per_stream: float
    peak_exact: bool


async def worker(args: argparse.Namespace) -> Figures:
    root = args.root
    scenario = Synthetic(args.deltas, pace_ms=args.pace_ms, send_stamps=True)
    url = scenario_base_url(root, scenario)
    limits = httpx.Limits(max_connections=args.streams, max_keepalive_connections=args.streams)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        one: Stream = {
            "pipeline": pipeline_stream,
            "httpx": httpx_stream(client),
            "socket": socket_stream,
        }[args.worker]
        # Warm-up: imports, lazy caches, the first connection: none of it is a per-stream cost.
        await one(scenario_base_url(root, Synthetic(3, send_stamps=True)), Latencies(3))
        latencies = Latencies(args.streams * args.deltas)
        counts: list[int] = []

        async def run_one() -> None:
            counts.append(await one(url, latencies))

        gc.collect()
        baseline = rss_bytes()
        exact = reset_peak_rss()
        wall, cpu = time.perf_counter(), time.process_time()
        async with anyio.create_task_group() as streams:
            for _ in range(args.streams):
                streams.start_soon(run_one)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = peak_rss_bytes() if exact else max(peak_rss_bytes(), rss_bytes())
    if args.worker == "pipeline":
        await aclose_http_clients()
    received = sum(counts)
    return Figures(
        client=args.worker,
        backend=args.backend,
        streams=args.streams,
        deltas_expected=args.streams * args.deltas,
        deltas_received=received,
        wall_s=wall,
        ideal_s=args.deltas * args.pace_ms / 1000,
        cpu_s=cpu,
        cpu_us_per_delta=cpu / max(1, received) * 1e6,
        latency_p50_ms=latencies.percentile_ms(0.50),
        latency_p99_ms=latencies.percentile_ms(0.99),
        latencies=latencies.count,
        rss_baseline_mib=baseline / 2**20,
        rss_peak_mib=peak / 2**20,
        rss_kib_per_stream=(peak - baseline) / args.streams / 1024,
        peak_exact=exact,
    )


def run_client(client: str, root: str, args: argparse.Namespace) -> Figures:
    command = [sys.executable, __file__, "--worker", client, "--root", root]
    command += ["--streams", str(args.streams), "--deltas", str(args.deltas)]
    command += ["--pace-ms", str(args.pace_ms), "--backend", args.backend]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{client} worker failed:\n{done.stderr}")
    return Figures(**json.loads(done.stdout.strip().splitlines()[-1]))


def report(results: list[Figures], args: argparse.Namespace) -> None:
    print(
        f"{args.streams} concurrent streams x {args.deltas} deltas ({args.pace_ms:g} ms apart), "
        f"{args.backend}, server in another process, each client in its own, "
        f"{os.cpu_count()} cores"
    )
    for r in sorted(results, key=lambda r: LABELS[r.client]):
        if r.deltas_received != r.deltas_expected or r.latencies != r.deltas_expected:
            raise SystemExit(
                f"{LABELS[r.client]}: expected {r.deltas_expected} deltas, got "
                f"{r.deltas_received} ({r.latencies} stamps)"
            )
        print(
            f"  {LABELS[r.client]:24} wall {r.wall_s:6.2f} s (ideal {r.ideal_s:.2f})   "
            f"CPU {r.cpu_us_per_delta:7.2f} µs per delta"
        )
        print(
            f"  {'':24} send→receive p50 {r.latency_p50_ms:7.2f} ms   "
            f"p99 {r.latency_p99_ms:7.2f} ms   RSS {r.rss_kib_per_stream:6.1f} KiB per stream"
            f" (peak {r.rss_peak_mib:.1f} MiB, after warm-up {r.rss_baseline_mib:.1f})"
            f"{'' if r.peak_exact else ' (peak since start)'}"
        )
    by = {r.client: r for r in results}
    ours = by.get("pipeline")
    if ours is None:
        return
    for key in ("httpx", "socket"):
        if key in by:
            base = by[key]
            print(
                f"  ratio (b)/{LABELS[key][:3]}: wall {ours.wall_s / base.wall_s:.2f}x, "
                f"CPU {ours.cpu_us_per_delta / base.cpu_us_per_delta:.2f}x, "
                f"p50 {ours.latency_p50_ms / base.latency_p50_ms:.2f}x, "
                f"p99 {ours.latency_p99_ms / base.latency_p99_ms:.2f}x, "
                f"RSS per stream {ours.rss_kib_per_stream / base.rss_kib_per_stream:.2f}x"
            )
    if "socket" in by:
        ratio = ours.wall_s / by["socket"].wall_s
        met = "met" if ratio <= TARGET_WALL_VS_SOCKET else "NOT met"
        print(f"target (wall (b) <= {TARGET_WALL_VS_SOCKET}x (c)): {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--deltas", type=int, default=50)
    parser.add_argument("--pace-ms", type=float, default=2.0)
    parser.add_argument("--backend", choices=("trio", "asyncio"), default="trio")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        figures = anyio.run(worker, args, backend=args.backend)
        print(json.dumps(asdict(figures)))
        return
    clients = chosen_clients(parser, args.clients, CLIENTS)
    allow_open_files(args.streams)
    with spawn_server_process(backend=args.backend) as root:
        results = [run_client(client, root, args) for client in clients]
    report(results, args)
    if args.json:
        print(json.dumps([asdict(r) for r in results]))


if __name__ == "__main__":
    main()
