"""CPU cost per delta: the full pipeline against raw httpx, in the same run.

A local provider server in another process streams N deltas arriving at once: one HTTP chunk
per event, as the providers frame them, gathered into 64 KB writes (``Synthetic(burst_bytes=…)``),
so each socket read carries many events. (With ``--write-per-event`` the server writes each
event on its own instead; every client then reads as fast as the server writes, and its CPU per
delta is mostly the cost of one socket read per event, ~10 µs here even for a bare recv loop.)
Each round runs, back to back on one trio loop:

  (a) baseline: raw httpx ``aiter_lines`` + ``json.loads`` + pulling out ``delta.content``;
  (b) the public API, ``generate_chat_completion_stream`` (decoding, tool calls, aggregation);
  (c) the same with ``stream_sentences=True`` (segmenter and markdown cleaner too);
  (d) Gemini baseline: raw httpx ``aiter_lines`` + ``json.loads`` + picking the parts' text;
  (e) the public API on the same Gemini stream (``provider: "google"``);
  (f) Anthropic baseline: raw httpx ``aiter_lines`` + ``json.loads`` + picking ``text_delta``;
  (g) the public API on the same Anthropic Messages stream (``provider: "anthropic"``).

and (h) DashScope (``provider: "alibaba"``, OpenAI-compatible) against the OpenAI raw floor.
Each provider also gets a raw socket reader: one keep-alive socket, the request written by
hand, chunked framing parsed by hand, ``json.loads`` per ``data:`` line, the content picked.

The figure is this process's CPU time (the server's is not counted) divided by N, the median of
the rounds. Targets: pipeline ≤ 0.4 × raw httpx and ≤ 1.0 × the raw socket reader;
sentences ≤ 0.5 × raw httpx.

After the rounds, allocations per delta: one more OpenAI stream per client (httpx floor, socket
reader, pipeline) under memray (``pip install .[bench]``), which records every allocator call,
pymalloc's included. The figure counts allocations (malloc, calloc, realloc and pymalloc's, not
frees) over N: what the client churns through, not what it keeps live, which tracemalloc and
``sys.getallocatedblocks`` would measure. Skipped, with a note, if memray is not installed.

Run: ``.venv/bin/python benchmarks/bench_stream.py [--deltas 5000] [--rounds 7]
[--backend trio|asyncio] [--pace-ms 20] [--write-per-event] [--no-allocations]`` (with
``--pace-ms``: one OpenAI stream, deltas that far apart; target pipeline ≤ 0.9 × raw httpx).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx

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


async def pipeline_stream(
    base_url: str, *, sentences: bool = False, provider: str = "openai"
) -> int:
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


class RawSocket:
    """The least a client can do over one keep-alive socket: HTTP/1.1 by hand."""

    def __init__(self, base_url: str) -> None:
        url = httpx.URL(base_url)
        self.host, self.port, self.prefix = url.host, url.port or 80, url.raw_path.decode()
        self.stream: anyio.abc.SocketStream | None = None

    async def events(self, path: str, body: bytes) -> AsyncIterator[Any]:
        """Each ``data:`` line's JSON of one streamed response (``[DONE]`` skipped)."""
        if self.stream is None:
            self.stream = await anyio.connect_tcp(self.host, self.port)
        stream = self.stream
        await stream.send(
            b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s"
            % ((self.prefix + path).encode(), self.host.encode(), len(body), body)
        )
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive()
        data = data.split(b"\r\n\r\n", 1)[1]
        text = b""  # de-framed body not yet split into lines
        while True:
            line_end = data.find(b"\r\n")
            while line_end < 0:
                data += await stream.receive()
                line_end = data.find(b"\r\n")
            size = int(data[:line_end].split(b";")[0], 16)
            while len(data) < line_end + 2 + size + 2:
                data += await stream.receive()
            text += data[line_end + 2 : line_end + 2 + size]
            data = data[line_end + 2 + size + 2 :]
            *lines, text = text.split(b"\n")
            for line in lines:
                if line.startswith(b"data: ") and line != b"data: [DONE]":
                    yield json.loads(line[6:])
            if size == 0:
                return

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()


OPENAI_BODY = json.dumps(
    {"model": "bench", "messages": [{"role": "user", "content": "go"}], "stream": True}
).encode()
ANTHROPIC_BODY = json.dumps(
    {
        "model": "bench",
        "max_tokens": 8192,
        "messages": [{"role": "user", "content": "go"}],
        "stream": True,
    }
).encode()
GEMINI_BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "go"}]}]}).encode()


async def socket_openai(raw: RawSocket) -> int:
    count = 0
    async for chunk in raw.events("/chat/completions", OPENAI_BODY):
        for choice in chunk["choices"]:
            if choice["delta"].get("content"):
                count += 1
    return count


async def socket_anthropic(raw: RawSocket) -> int:
    count = 0
    async for event in raw.events("/v1/messages", ANTHROPIC_BODY):
        if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
            count += 1
    return count


async def socket_gemini(raw: RawSocket) -> int:
    count = 0
    path = "/v1beta/models/bench:streamGenerateContent?alt=sse"
    async for chunk in raw.events(path, GEMINI_BODY):
        for candidate in chunk["candidates"]:
            for part in candidate["content"]["parts"]:
                if part.get("text") and not part.get("thought"):
                    count += 1
    return count


async def measure(run: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    start = time.process_time()
    count = await run()
    return time.process_time() - start, count


PROVIDERS = {
    # name: (server format, pipeline provider, raw httpx reader, raw socket reader)
    "OpenAI": ("openai", "openai", raw_httpx, socket_openai),
    "Anthropic": ("anthropic", "anthropic", raw_httpx_anthropic, socket_anthropic),
    "Gemini": ("google", "google", raw_httpx_gemini, socket_gemini),
    "DashScope": ("alibaba", "alibaba", raw_httpx, socket_openai),
}


ALLOCATION_CLIENTS = ("OpenAI httpx", "OpenAI socket", "OpenAI pipeline")


async def allocations(run: Callable[[], Awaitable[int]]) -> tuple[int, int]:
    """Allocator calls (frees not counted) during one ``run()``, and the deltas it counted."""
    import memray  # the bench extra; imported here so the CPU figures never need it

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "allocations.bin"
        # trace_python_allocators: pymalloc serves most small objects from its own arenas,
        # which a malloc hook alone would never see.
        with memray.Tracker(path, trace_python_allocators=True):
            count = await run()
        frees = {
            memray.AllocatorType.FREE,
            memray.AllocatorType.PYMALLOC_FREE,
            memray.AllocatorType.MUNMAP,
        }
        records = memray.FileReader(path).get_allocation_records()
        calls = sum(1 for record in records if record.allocator not in frees)
    return calls, count


def memray_missing() -> bool:
    try:
        import memray  # noqa: F401
    except ImportError:
        return True
    return False


async def main(deltas: int, rounds: int, backend: str, per_event: bool, allocs: bool) -> None:
    scenario = Synthetic(deltas=deltas, burst_bytes=None if per_event else BURST_BYTES)
    with spawn_server_process() as root:
        runs: dict[str, Callable[[], Awaitable[int]]] = {}
        sockets: list[RawSocket] = []
        async with httpx.AsyncClient(timeout=60) as client:
            for name, (wire, provider, httpx_reader, socket_reader) in PROVIDERS.items():
                url = scenario_base_url(root, scenario, wire)
                raw = RawSocket(url)
                sockets.append(raw)
                runs[f"{name} httpx"] = partial(httpx_reader, client, url)
                runs[f"{name} socket"] = partial(socket_reader, raw)
                runs[f"{name} pipeline"] = partial(pipeline_stream, url, provider=provider)
                if name == "OpenAI":
                    runs["OpenAI sentences"] = partial(pipeline_stream, url, sentences=True)
            results: dict[str, list[float]] = {name: [] for name in runs}
            for run in runs.values():  # warm-up: connections, imports, caches
                await run()
            for _ in range(rounds):
                for name, run in runs.items():
                    cpu, count = await measure(run)
                    if "sentences" not in name and count != deltas:
                        raise SystemExit(f"{name}: expected {deltas} deltas, got {count}")
                    results[name].append(cpu / deltas * 1e6)
            per_delta: dict[str, float] = {}
            for name in ALLOCATION_CLIENTS if allocs else ():
                calls, count = await allocations(runs[name])
                if count != deltas:
                    raise SystemExit(f"{name}: expected {deltas} deltas, got {count}")
                per_delta[name] = calls / deltas
        for raw in sockets:
            await raw.aclose()
        await aclose_http_clients()
    median = {name: statistics.median(values) for name, values in results.items()}
    print(
        f"{backend}: {deltas} burst deltas per stream, {rounds} rounds "
        "(median CPU µs per delta, client only)"
    )
    print(f"  {'provider':10} {'httpx':>8} {'socket':>8} {'pipeline':>9}  vs httpx  vs socket")
    met = True
    for name in PROVIDERS:
        floor, sock, ours = (median[f"{name} {kind}"] for kind in ("httpx", "socket", "pipeline"))
        met = met and ours <= 0.4 * floor and ours <= sock
        print(
            f"  {name:10} {floor:8.2f} {sock:8.2f} {ours:9.2f}  "
            f"{ours / floor:7.2f}x  {ours / sock:7.2f}x"
        )
    voice = median["OpenAI sentences"]
    floor = median["OpenAI httpx"]
    print(f"  OpenAI sentences + markdown clean {voice:8.2f} µs   {voice / floor:.2f}x httpx")
    print(f"targets (pipeline <= 0.4x httpx and <= 1.0x socket): {'met' if met else 'NOT met'}")
    print(f"target (sentences <= 0.5x httpx): {'met' if voice <= 0.5 * floor else 'NOT met'}")
    if per_delta:
        floor, sock, ours = (per_delta[name] for name in ALLOCATION_CLIENTS)
        print(
            f"allocations per delta (memray, one OpenAI stream each): httpx {floor:.1f}   "
            f"socket {sock:.1f}   pipeline {ours:.1f}   "
            f"({ours / floor:.2f}x httpx, {ours / sock:.2f}x socket)"
        )


BURST_BYTES = 64 * 1024
"""The server's write size for a burst: many events per socket read, as from a fast provider."""


async def paced(deltas: int, rounds: int, backend: str, pace_ms: int) -> None:
    """One OpenAI stream at ``pace_ms`` per delta: CPU per delta, httpx vs socket vs pipeline."""
    with spawn_server_process() as root:
        url = scenario_base_url(root, Synthetic(deltas=deltas, pace_ms=pace_ms))
        raw = RawSocket(url)
        async with httpx.AsyncClient(timeout=60) as client:
            runs: dict[str, Callable[[], Awaitable[int]]] = {
                "httpx": partial(raw_httpx, client, url),
                "socket": partial(socket_openai, raw),
                "pipeline": partial(pipeline_stream, url),
            }
            results: dict[str, list[float]] = {name: [] for name in runs}
            for run in runs.values():
                await run()
            for _ in range(rounds):
                for name, run in runs.items():
                    cpu, _count = await measure(run)
                    results[name].append(cpu / deltas * 1e6)
        await raw.aclose()
        await aclose_http_clients()
    median = {name: statistics.median(values) for name, values in results.items()}
    floor = median["httpx"]
    print(f"{backend}: one stream, {deltas} deltas {pace_ms} ms apart, {rounds} rounds")
    for name, value in median.items():
        print(f"  {name:9} {value:8.2f} µs CPU per delta   {value / floor:.2f}x httpx")
    ok = median["pipeline"] <= 0.9 * floor
    print(f"target (pipeline <= 0.9x httpx): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    parser.add_argument(
        "--pace-ms", type=int, default=0, help="one paced stream instead of bursts (e.g. 20)"
    )
    parser.add_argument(
        "--write-per-event", action="store_true", help="burst: one server write per event"
    )
    parser.add_argument(
        "--no-allocations", action="store_true", help="burst: skip the memray allocation count"
    )
    args = parser.parse_args()
    if args.pace_ms:
        anyio.run(paced, args.deltas, args.rounds, args.backend, args.pace_ms, backend=args.backend)
    else:
        allocs = not args.no_allocations and not memray_missing()
        if not args.no_allocations and not allocs:
            print("allocations per delta: memray is not installed (pip install .[bench])")
        anyio.run(
            main,
            args.deltas,
            args.rounds,
            args.backend,
            args.write_per_event,
            allocs,
            backend=args.backend,
        )
