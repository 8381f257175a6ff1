"""CPU cost per delta: the full pipeline against raw httpx, in the same run.

A local provider server in another process streams N OpenAI deltas as fast as it can. Each
round runs, back to back on one trio loop:

  (a) baseline: raw httpx ``aiter_lines`` + ``json.loads`` + pulling out ``delta.content``;
  (b) the public API, ``generate_chat_completion_stream`` (decoding, tool calls, aggregation);
  (c) the same with ``stream_sentences=True`` (segmenter and markdown cleaner too);
  (d) Gemini baseline: raw httpx ``aiter_lines`` + ``json.loads`` + picking the parts' text;
  (e) the public API on the same Gemini stream (``provider: "google"``);
  (f) Anthropic baseline: raw httpx ``aiter_lines`` + ``json.loads`` + picking ``text_delta``;
  (g) the public API on the same Anthropic Messages stream (``provider: "anthropic"``).

The figure is this process's CPU time (the server's is not counted) divided by N, the median of
the rounds. Target: (b) ≤ 1.5 × (a).

Run: ``.venv/bin/python benchmarks/bench_stream.py [--deltas 5000] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import (
    aclose_http_clients,
    generate_chat_completion_stream,
)
from pipeline.testing import Synthetic, scenario_base_url, spawn_server_process


async def raw_httpx(client: httpx.AsyncClient, base_url: str) -> int:
    """The least a client can do: lines, JSON, the content field."""
    count = 0
    request = {"model": "bench", "messages": [{"role": "user", "content": "go"}], "stream": True}
    async with client.stream("POST", f"{base_url}/chat/completions", json=request) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            payload = line[6:]
            if payload == "[DONE]":
                break
            chunk = json.loads(payload)
            for choice in chunk["choices"]:
                if choice["delta"].get("content"):
                    count += 1
    return count


async def raw_httpx_gemini(client: httpx.AsyncClient, base_url: str) -> int:
    """The same least work on Gemini's stream: lines, JSON, the text of non-thought parts."""
    count = 0
    request = {"contents": [{"role": "user", "parts": [{"text": "go"}]}]}
    url = f"{base_url}/v1beta/models/bench:streamGenerateContent?alt=sse"
    async with client.stream("POST", url, json=request) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            chunk = json.loads(line[6:])
            for candidate in chunk["candidates"]:
                for part in candidate["content"]["parts"]:
                    if part.get("text") and not part.get("thought"):
                        count += 1
    return count


async def raw_httpx_anthropic(client: httpx.AsyncClient, base_url: str) -> int:
    """The same least work on Anthropic's stream: data lines, JSON, the text deltas."""
    count = 0
    request = {
        "model": "bench",
        "max_tokens": 8192,
        "messages": [{"role": "user", "content": "go"}],
        "stream": True,
    }
    async with client.stream("POST", f"{base_url}/v1/messages", json=request) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
                count += 1
    return count


async def pipeline_stream(base_url: str, *, sentences: bool, provider: str = "openai") -> int:
    request = {
        "provider": provider,
        "api_key": "sk-local-benchmark-key",
        "model": "bench",
        "messages": [{"role": "user", "content": "go"}],
        "provider_kwargs": {provider: {"base_url": base_url}},
    }
    count = 0
    stream = await generate_chat_completion_stream(request, {"stream_sentences": sentences})
    async with stream:
        async for chunk in stream:
            if chunk.type in ("content_delta", "content_sentence"):
                count += 1
    return count


async def measure(run: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    start = time.process_time()
    count = await run()
    return time.process_time() - start, count


async def main(deltas: int, rounds: int) -> None:
    with spawn_server_process() as root:
        base_url = scenario_base_url(root, Synthetic(deltas=deltas))
        gemini_url = scenario_base_url(root, Synthetic(deltas=deltas), "google")
        anthropic_url = scenario_base_url(root, Synthetic(deltas=deltas), "anthropic")
        results: dict[str, list[float]] = {
            "raw": [],
            "pipeline": [],
            "sentences": [],
            "gemini_raw": [],
            "gemini": [],
            "anthropic_raw": [],
            "anthropic": [],
        }
        async with httpx.AsyncClient(timeout=60) as client:
            runs: dict[str, Callable[[], Awaitable[int]]] = {
                "raw": lambda: raw_httpx(client, base_url),
                "pipeline": lambda: pipeline_stream(base_url, sentences=False),
                "sentences": lambda: pipeline_stream(base_url, sentences=True),
                "gemini_raw": lambda: raw_httpx_gemini(client, gemini_url),
                "gemini": lambda: pipeline_stream(gemini_url, sentences=False, provider="google"),
                "anthropic_raw": lambda: raw_httpx_anthropic(client, anthropic_url),
                "anthropic": lambda: pipeline_stream(
                    anthropic_url, sentences=False, provider="anthropic"
                ),
            }
            for run in runs.values():  # warm-up: connections, imports, caches
                await run()
            for _ in range(rounds):
                for name, run in runs.items():
                    cpu, count = await measure(run)
                    if name != "sentences" and count != deltas:
                        raise SystemExit(f"{name}: expected {deltas} deltas, got {count}")
                    results[name].append(cpu / deltas * 1e6)
        await aclose_http_clients()
    raw = statistics.median(results["raw"])
    full = statistics.median(results["pipeline"])
    voice = statistics.median(results["sentences"])
    print(f"deltas per stream: {deltas}, rounds: {rounds} (median CPU µs per delta, client only)")
    print(f"  (a) raw httpx aiter_lines + json.loads   {raw:8.2f} µs")
    print(f"  (b) pipeline, content deltas             {full:8.2f} µs   ratio {full / raw:.2f}x")
    print(f"  (c) pipeline, sentences + markdown clean {voice:8.2f} µs   ratio {voice / raw:.2f}x")
    gemini_raw = statistics.median(results["gemini_raw"])
    gemini = statistics.median(results["gemini"])
    ratio = gemini / gemini_raw
    print(f"  (d) Gemini raw httpx + json.loads        {gemini_raw:8.2f} µs")
    print(f"  (e) pipeline, Gemini content deltas      {gemini:8.2f} µs   ratio {ratio:.2f}x")
    anthropic_raw = statistics.median(results["anthropic_raw"])
    anthropic = statistics.median(results["anthropic"])
    ratio = anthropic / anthropic_raw
    print(f"  (f) Anthropic raw httpx + json.loads     {anthropic_raw:8.2f} µs")
    print(f"  (g) pipeline, Anthropic content deltas   {anthropic:8.2f} µs   ratio {ratio:.2f}x")
    print(f"target (b) <= 1.50x: {'met' if full / raw <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    trio.run(main, args.deltas, args.rounds)
