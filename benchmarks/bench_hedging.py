"""What hedging buys a voice agent: time to first token when the primary sometimes stalls.

A local provider server in another process answers 200 requests. For a fixed, seeded fifth of
them (probability 0.2) the primary stalls for 2 s before its first token; the fallback (the
same server, as DashScope) always answers at once. The same 200 requests run twice in one
run, one starting every 10 ms (they overlap): without hedging (the caller waits out the
stall), and with ``hedge_after=0.3`` (the fallback starts beside a primary that has said
nothing for 0.3 s). The figure is each request's wall time from the call to its first
content delta.

Run: ``.venv/bin/python benchmarks/bench_hedging.py [--requests 200] [--stall 2.0]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import aclose_http_clients, generate_chat_completion_stream
from pipeline.testing import Synthetic, scenario_base_url, spawn_server_process


def request(primary: str, fallback: str, hedge_after: float | None) -> dict[str, Any]:
    return {
        "provider": "openai",
        "api_key": "sk-local-benchmark-key",
        "model": "bench",
        "messages": [{"role": "user", "content": "go"}],
        "provider_kwargs": {"openai": {"base_url": primary}},
        "retry": {"enabled": False},
        "hedge_after": hedge_after,
        "fallbacks": [
            {
                "provider": "alibaba",
                "api_key": "sk-local-benchmark-fallback",
                "provider_kwargs": {"alibaba": {"base_url": fallback}},
            }
        ],
    }


async def first_token(req: dict[str, Any]) -> float:
    start = trio.current_time()
    stream = await generate_chat_completion_stream(req)
    async with stream:
        async for chunk in stream:
            if chunk.type == "content_delta":
                return trio.current_time() - start
    raise SystemExit("a stream ended without content")


async def run_all(requests: list[dict[str, Any]], interval: float) -> list[float]:
    times: list[float] = [0.0] * len(requests)

    async def one(index: int) -> None:
        times[index] = await first_token(requests[index])

    async with trio.open_nursery() as nursery:
        for index in range(len(requests)):
            nursery.start_soon(one, index)
            await trio.sleep(interval)
    return times


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def main(count: int, stall: float, hedge_after: float, interval: float) -> None:
    rng = random.Random(2026)
    stalls = [rng.random() < 0.2 for _ in range(count)]
    with spawn_server_process() as root:
        quick = scenario_base_url(root, Synthetic(deltas=20, tag="primary"))
        stalled = scenario_base_url(
            root, Synthetic(deltas=20, stall_after=0, stall_seconds=stall, tag="stalled")
        )
        fallback = scenario_base_url(root, Synthetic(deltas=20, tag="fallback"), "alibaba")
        results = {}
        for label, hedge in (("no hedging", None), (f"hedge_after={hedge_after:g}", hedge_after)):
            reqs = [request(stalled if s else quick, fallback, hedge) for s in stalls]
            await run_all(reqs[:5], interval)  # warm-up: connections and imports
            results[label] = await run_all(reqs, interval)
        await aclose_http_clients()
    print(
        f"{count} requests, one every {interval * 1000:g} ms, {sum(stalls)} with a primary "
        f"that stalls {stall:g} s"
    )
    print("time to first token (wall, seconds):")
    print(f"  {'':20} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
    for label, times in results.items():
        row = [percentile(times, 50), percentile(times, 95), percentile(times, 99), max(times)]
        print(f"  {label:20} " + " ".join(f"{v:8.3f}" for v in row))
    plain, hedged = results.values()
    print(f"p99 ratio hedged / plain: {percentile(hedged, 99) / percentile(plain, 99):.2f}x")
    calm = [t for t, s in zip(hedged, stalls, strict=True) if not s]
    print(
        f"median of the requests whose primary did not stall (hedged run): "
        f"{statistics.median(calm):.3f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--stall", type=float, default=2.0)
    parser.add_argument("--hedge-after", type=float, default=0.3)
    parser.add_argument("--interval", type=float, default=0.01)
    args = parser.parse_args()
    trio.run(main, args.requests, args.stall, args.hedge_after, args.interval)
