"""Load: many concurrent paced streams, 10% faulted, through the library and through plain httpx.

A local provider server in another process serves N OpenAI streams of D deltas, P ms apart.
One stream in ten is faulted: half answer 500 before any header of a stream, half are cut with
a TCP reset after half their deltas. Each client runs all N streams at once, in the same run,
against the same server:

  (a) baseline: plain httpx, one ``AsyncClient`` (a pool of N connections), ``aiter_lines`` +
      ``json.loads``, keeping each delta's text as an application must to have the reply;
  (b) the public API, ``generate_chat_completion_stream`` (retries disabled by default, so the
      faults surface; ``--retry`` enables them and then measures recovery instead);
  (c) the same with ``http2=True``, against the same scenarios served over HTTP/2 with prior
      knowledge (h2c) by a second server process: many streams per connection. The reset
      fault is an RST_STREAM there (the stream is reset, its connection goes on).

Each client runs in a fresh child process of this run (same interpreter, same imports, one
warm-up stream), so its memory figures are its own and not what the other one left in the
allocator. Every stream's text is checked against what the server sent (the synthetic text is
deterministic): deltas lost or duplicated must be 0, and for the library every faulted stream's
``partial_response`` must hold exactly the text received. Sockets still open to the server after
``aclose_http_clients()`` (or the client's close) are counted from /proc and must be 0.

Figures per client: wall time against the ideal (D × P), CPU seconds and CPU per delta (this
client's process only), errors by type, peak RSS and RSS growth per stream (peak during the run
less the RSS after warm-up), and the sockets open to the server halfway through the run.
``--tracemalloc`` adds the Python heap per concurrent stream and its largest sources, by file and
line, from a snapshot taken while every stream is open (slower: tracing costs CPU).

Run: ``.venv/bin/python benchmarks/bench_load.py [--streams 1000] [--deltas 200] [--pace-ms 20]
[--backend trio|asyncio] [--clients httpx,library,library-h2] [--retry] [--tracemalloc]
[--json]``
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import anyio.lowlevel
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import aclose_http_clients, generate_chat_completion_stream  # noqa: E402
from pipeline.testing import Synthetic, scenario_base_url, spawn_server_process  # noqa: E402
from pipeline.testing._text import synthetic_tokens  # noqa: E402

CLIENTS = ("httpx", "library", "library-h2")
LABELS = {"httpx": "(a) plain httpx", "library": "(b) library", "library-h2": "(c) library HTTP/2"}
KEY = "sk-local-load-benchmark"
PROMPT = [{"role": "user", "content": "go"}]


# ---------------------------------------------------------------- the streams


@dataclass(frozen=True, slots=True)
class Plan:
    """One stream: the scenario it asks for and the deltas the server sends before it ends."""

    kind: str  # "ok", "500" or "reset"
    scenario: Synthetic
    sent: tuple[str, ...]


def plans(streams: int, deltas: int, pace_ms: float, fault_share: float) -> list[Plan]:
    """N streams; every ``1 / fault_share``-th is faulted, alternately a 500 and a reset."""
    full = Synthetic(deltas, pace_ms=pace_ms)
    tokens = synthetic_tokens(full)
    cut = max(2, deltas // 2)
    # Event 0 is the role chunk (no text); events 1.. are the deltas, so a cut before event
    # ``cut`` has sent ``cut - 1`` of them.
    faulted = {
        "500": Plan("500", Synthetic(deltas, pace_ms=pace_ms, status=500), ()),
        "reset": Plan(
            "reset",
            Synthetic(deltas, pace_ms=pace_ms, cut_after=cut, cut_with_reset=True),
            tokens[: cut - 1],
        ),
    }
    every = round(1 / fault_share) if fault_share > 0 else 0
    out = []
    faults = 0
    for index in range(streams):
        if every and index % every == every - 1:
            out.append(faulted["500" if faults % 2 == 0 else "reset"])
            faults += 1
        else:
            out.append(Plan("ok", full, tokens))
    return out


@dataclass(slots=True)
class Outcome:
    """What one stream delivered. Each delta is checked against what the server sent as it
    arrives, so the consumer keeps no copy of its own: the text kept is the client's (plain
    httpx: one string built as the deltas arrive; the library: its final or partial response).
    """

    sent: tuple[str, ...]
    received: int = 0
    mismatched: int = 0
    text: str | None = None  # the whole text the client kept, once the stream ended
    error: str | None = None
    partial: str | None = None  # the library's partial_response content, when it failed
    done: bool = False

    def delta(self, piece: str) -> None:
        index = self.received
        self.received = index + 1
        if index >= len(self.sent) or self.sent[index] != piece:
            self.mismatched += 1


Stream = Callable[[str, Outcome], Awaitable[None]]


def plain_httpx(client: httpx.AsyncClient) -> Stream:
    async def run(base_url: str, out: Outcome) -> None:
        body = {"model": "bench", "messages": PROMPT, "stream": True}
        headers = {"authorization": f"Bearer {KEY}"}
        url = f"{base_url}/chat/completions"
        text = ""  # the reply, kept as an application must (a local: CPython appends in place)
        try:
            async with client.stream("POST", url, json=body, headers=headers) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    payload = line[6:]
                    if payload == "[DONE]":
                        break
                    for choice in json.loads(payload)["choices"]:
                        piece = choice["delta"].get("content")
                        if piece:
                            text += piece
                            out.delta(piece)
        finally:
            out.text = text

    return run


def library(retry: bool, http2: bool = False) -> Stream:
    async def run(base_url: str, out: Outcome) -> None:
        request = {
            "provider": "openai",
            "api_key": KEY,
            "model": "bench",
            "messages": PROMPT,
            "retry": {"enabled": retry, "retry_delay": 0.05},
            "provider_kwargs": {"openai": {"base_url": base_url}},
            "http2": http2,
        }
        stream = await generate_chat_completion_stream(request)
        try:
            async with stream:
                async for chunk in stream:
                    if chunk.type == "content_delta":
                        out.delta(chunk.content)
                    elif chunk.type == "response":
                        out.text = chunk.response.message.content or ""
        except Exception as exc:
            partial = getattr(exc, "partial_response", None)
            out.partial = out.text = partial.message.content or "" if partial is not None else ""
            raise

    return run


# ---------------------------------------------------------------- measurements


def chosen_clients(parser: argparse.ArgumentParser, given: str, known: Sequence[str]) -> list[str]:
    """The comma-separated ``--clients``, in order; an unknown name is a usage error."""
    clients = [c for c in given.split(",") if c]
    unknown = set(clients) - set(known)
    if unknown:
        parser.error(f"unknown clients {sorted(unknown)}; known: {', '.join(known)}")
    return clients


def allow_open_files(streams: int) -> None:
    """Raise this process's file limit for ``streams`` sockets (its children inherit it).

    A pool of 1,000 needs more than the default 1,024 file descriptors.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, streams * 2 + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> bool:
    """Restart the kernel's peak RSS count from now (Linux ``clear_refs``); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def open_sockets_to(port: int) -> int:
    """This process's TCP sockets whose remote end is ``port`` (from /proc, IPv4 and IPv6)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port:
                inodes.add(fields[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


@dataclass(slots=True)
class Figures:
    client: str
    backend: str
    streams: int
    deltas_sent: int
    deltas_received: int
    wall_s: float
    ideal_s: float
    cpu_s: float
    cpu_us_per_delta: float
    errors: dict[str, int]
    lost: int
    duplicated: int
    faulted_with_output: int
    partials_equal: int | None
    rss_baseline_mib: float
    rss_peak_mib: float
    rss_kib_per_stream: float
    peak_exact: bool
    sockets_left_open: int
    sockets_mid_run: int = 0
    heap_peak_kib_per_stream: float | None = None
    heap_top: list[str] = field(default_factory=list)


def compare(out: Outcome) -> tuple[int, int]:
    """Deltas lost and duplicated; a delta that differs from the one sent at its place is both,
    and so is a kept text that differs from the deltas sent."""
    sent = len(out.sent)
    lost = max(0, sent - out.received) + out.mismatched
    duplicated = max(0, out.received - sent) + out.mismatched
    if not lost and not duplicated and out.text != "".join(out.sent):
        return 1, 1
    return lost, duplicated


async def worker(args: argparse.Namespace) -> Figures:
    root = args.root
    port = urlsplit(root).port or 80
    every = plans(args.streams, args.deltas, args.pace_ms, args.fault_share)
    limits = httpx.Limits(max_connections=args.streams, max_keepalive_connections=args.streams)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        if args.worker == "httpx":
            one = plain_httpx(client)
        else:
            one = library(args.retry, http2=args.worker == "library-h2")
        # Warm-up: imports, lazy caches, the first pool: none of it is a per-stream cost.
        await one(scenario_base_url(root, Synthetic(3)), Outcome(()))
        outcomes = [Outcome(plan.sent) for plan in every]
        gc.collect()
        baseline = rss_bytes()
        exact = reset_peak_rss()
        tracer = HeapTracer(args.streams) if args.tracemalloc else None
        mid_run: list[int] = []

        async def count_sockets() -> None:
            # Once, halfway through the ideal duration: every stream is open by then.
            await anyio.sleep(args.deltas * args.pace_ms / 2000)
            mid_run.append(open_sockets_to(port))

        async def run_one(plan: Plan, out: Outcome) -> None:
            try:
                await one(scenario_base_url(root, plan.scenario), out)
            except Exception as exc:
                out.error = type(exc).__name__
            finally:
                out.done = True

        wall, cpu = time.perf_counter(), time.process_time()
        async with anyio.create_task_group() as streams:
            for plan, out in zip(every, outcomes, strict=True):
                streams.start_soon(run_one, plan, out)
            if tracer is not None:
                streams.start_soon(tracer.sample, outcomes)
            streams.start_soon(count_sockets)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = peak_rss_bytes() if exact else max(peak_rss_bytes(), rss_bytes())
    if args.worker != "httpx":
        await aclose_http_clients()
    gc.collect()
    await anyio.lowlevel.checkpoint()
    sockets = open_sockets_to(port)

    errors = Counter(out.error for out in outcomes if out.error)
    lost = duplicated = 0
    with_output = equal = 0
    for plan, out in zip(every, outcomes, strict=True):
        missing, extra = compare(out)
        lost += missing
        duplicated += extra
        if plan.kind != "ok" and out.received:
            with_output += 1
            equal += out.partial == "".join(plan.sent)
    received = sum(out.received for out in outcomes)
    return Figures(
        client=args.worker,
        backend=args.backend,
        streams=args.streams,
        deltas_sent=sum(len(plan.sent) for plan in every),
        deltas_received=received,
        wall_s=wall,
        ideal_s=args.deltas * args.pace_ms / 1000,
        cpu_s=cpu,
        cpu_us_per_delta=cpu / max(1, received) * 1e6,
        errors=dict(sorted(errors.items())),
        lost=lost,
        duplicated=duplicated,
        faulted_with_output=with_output,
        partials_equal=equal if args.worker != "httpx" else None,
        rss_baseline_mib=baseline / 2**20,
        rss_peak_mib=peak / 2**20,
        rss_kib_per_stream=(peak - baseline) / args.streams / 1024,
        peak_exact=exact,
        sockets_left_open=sockets,
        sockets_mid_run=mid_run[0] if mid_run else 0,
        heap_peak_kib_per_stream=tracer.peak_kib_per_stream() if tracer else None,
        heap_top=tracer.top() if tracer else [],
    )


class HeapTracer:
    """Python heap growth over the run: its peak, and a snapshot diff taken near the peak."""

    def __init__(self, streams: int) -> None:
        self.streams = streams
        tracemalloc.start(1)
        self.before = tracemalloc.take_snapshot()
        self.base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        self.best = 0
        self.at_best: tracemalloc.Snapshot | None = None

    async def sample(self, outcomes: list[Outcome]) -> None:
        """Until every stream is done, snapshot whenever the heap is 3% above the last one."""
        while not all(out.done for out in outcomes):
            await anyio.sleep(0.2)
            current = tracemalloc.get_traced_memory()[0]
            if current > self.best * 1.03:
                self.at_best = tracemalloc.take_snapshot()
                self.best = current

    def peak_kib_per_stream(self) -> float:
        peak = tracemalloc.get_traced_memory()[1]
        return (peak - self.base) / self.streams / 1024

    def top(self) -> list[str]:
        tracemalloc.stop()
        if self.at_best is None:
            return []
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        diff = self.at_best.filter_traces(ignore).compare_to(
            self.before.filter_traces(ignore), "lineno"
        )
        n = self.streams
        lines = [f"snapshot at {(self.best - self.base) / n / 1024:.1f} KiB per stream:"]
        for stat in sorted(diff, key=lambda s: -s.size_diff)[:30]:
            frame = stat.traceback[0]
            lines.append(
                f"{stat.size_diff / n:8.0f} B {stat.count_diff / n:6.1f} blocks per stream  "
                f"{_short(frame.filename)}:{frame.lineno}"
            )
        return lines


def _short(filename: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/", "/lib/python"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# ---------------------------------------------------------------- the run


def run_client(client: str, root: str, args: argparse.Namespace) -> Figures:
    command = [sys.executable, __file__, "--worker", client, "--root", root]
    command += ["--streams", str(args.streams), "--deltas", str(args.deltas)]
    command += ["--pace-ms", str(args.pace_ms), "--fault-share", str(args.fault_share)]
    command += ["--backend", args.backend]
    command += ["--retry"] * args.retry + ["--tracemalloc"] * args.tracemalloc
    if args.snapshot_at is not None:
        command += ["--snapshot-at", str(args.snapshot_at)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{client} worker failed:\n{done.stderr}")
    return Figures(**json.loads(done.stdout.strip().splitlines()[-1]))


def report(results: list[Figures], args: argparse.Namespace) -> None:
    first = results[0]
    print(
        f"{first.streams} concurrent streams x {args.deltas} deltas, {args.pace_ms:g} ms apart, "
        f"{args.fault_share:.0%} faulted (500 / reset mid-stream), retries "
        f"{'on' if args.retry else 'off'}, {first.backend}, server in another process, "
        f"{os.cpu_count()} cores"
    )
    for r in results:
        print(f"  {LABELS[r.client]}")
        print(
            f"    wall {r.wall_s:6.2f} s (ideal {r.ideal_s:.2f} s, {r.wall_s / r.ideal_s:.2f}x)"
            f"   CPU {r.cpu_s:6.2f} s   {r.cpu_us_per_delta:6.1f} µs per delta"
        )
        errors = ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "none"
        print(f"    errors: {errors}")
        partials = (
            f"{r.partials_equal}/{r.faulted_with_output} partial responses equal to what was sent"
            if r.partials_equal is not None
            else f"{r.faulted_with_output} faulted streams kept their own text"
        )
        print(
            f"    deltas received {r.deltas_received}/{r.deltas_sent}, lost {r.lost}, "
            f"duplicated {r.duplicated}; {partials}"
        )
        heap = ""
        if r.heap_peak_kib_per_stream is not None:
            heap = f", Python heap peak {r.heap_peak_kib_per_stream:.1f} KiB per stream"
        print(
            f"    RSS peak {r.rss_peak_mib:.1f} MiB (after warm-up {r.rss_baseline_mib:.1f}), "
            f"{r.rss_kib_per_stream:.1f} KiB per stream{heap}"
            f"{'' if r.peak_exact else ' (peak since start)'}"
        )
        print(
            f"    sockets to the server halfway: {r.sockets_mid_run}; "
            f"left open after close: {r.sockets_left_open}"
        )
        for line in r.heap_top[: args.top]:
            print(f"      {line}")
    by = {r.client: r for r in results}
    if "httpx" in by and "library" in by:
        a, b = by["httpx"], by["library"]
        heap = ""
        if a.heap_peak_kib_per_stream and b.heap_peak_kib_per_stream:
            heap = f", heap peak {b.heap_peak_kib_per_stream / a.heap_peak_kib_per_stream:.2f}x"
        print(
            f"  ratio (b)/(a): RSS per stream {b.rss_kib_per_stream / a.rss_kib_per_stream:.2f}x"
            f"{heap}, CPU per delta {b.cpu_us_per_delta / a.cpu_us_per_delta:.2f}x, "
            f"wall {b.wall_s / a.wall_s:.2f}x"
        )
    if "library" in by and "library-h2" in by:
        b, c = by["library"], by["library-h2"]
        print(
            f"  ratio (c)/(b): RSS per stream {c.rss_kib_per_stream / b.rss_kib_per_stream:.2f}x"
            f", CPU per delta {c.cpu_us_per_delta / b.cpu_us_per_delta:.2f}x, "
            f"wall {c.wall_s / b.wall_s:.2f}x, sockets {c.sockets_mid_run} vs {b.sockets_mid_run}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--deltas", type=int, default=200)
    parser.add_argument("--pace-ms", type=float, default=20.0)
    parser.add_argument("--fault-share", type=float, default=0.1)
    parser.add_argument("--backend", choices=("trio", "asyncio"), default="trio")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated")
    parser.add_argument("--retry", action="store_true", help="library retries the faults")
    parser.add_argument("--tracemalloc", action="store_true", help="heap per stream, by line")
    parser.add_argument("--snapshot-at", type=float, default=None, help="seconds into the run")
    parser.add_argument("--top", type=int, default=12, help="heap lines shown per client")
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
    with contextlib.ExitStack() as servers:
        http1 = servers.enter_context(spawn_server_process(backend=args.backend))
        # The HTTP/2 client's server, started only when it runs (h2c only, same scenarios).
        http2 = (
            servers.enter_context(spawn_server_process(backend=args.backend, http2=True))
            if "library-h2" in clients
            else http1
        )
        results = [
            run_client(client, http2 if client == "library-h2" else http1, args)
            for client in clients
        ]
    report(results, args)
    if args.json:
        print(json.dumps([asdict(r) for r in results]))


if __name__ == "__main__":
    main()
