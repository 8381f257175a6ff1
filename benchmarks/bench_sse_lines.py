"""CPU cost of the SSE decoder on one very long line against the same bytes in short lines.

A tool call's arguments or a base64 image can arrive as one event-stream line of megabytes,
read from the socket in slices of 64 KiB. A decoder that re-joins or re-scans the open line on
every read is quadratic in the line's length; ours must cost about what the same bytes cost
as many short lines. Baseline, in the same run: the same number of bytes as 100-byte events.

Printed: CPU seconds of each case (best of ``--rounds``), the long/short ratio for each size
(linear: close to 1; the old decoder was 13x at 8 MB), and the 16 MB / 8 MB ratio of the long
line (linear: close to 2; quadratic: close to 4).

Run: ``.venv/bin/python benchmarks/bench_sse_lines.py [--rounds 3] [--read 65536]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.sse import SSEDecoder

MB = 1024 * 1024


def one_line(size: int) -> bytes:
    return b"data: " + b"x" * size + b"\n\n"


def short_lines(size: int) -> bytes:
    event = b"data: " + b"x" * 92 + b"\n\n"  # 100 bytes
    return event * (size // len(event))


def cpu_seconds(body: bytes, read: int, rounds: int) -> tuple[float, int]:
    best = float("inf")
    count = 0
    pieces = [body[i : i + read] for i in range(0, len(body), read)]
    for _ in range(rounds):
        decoder = SSEDecoder(max_line_bytes=len(body))
        started = time.process_time()
        count = 0
        for piece in pieces:
            count += len(decoder.feed(piece))
        count += len(decoder.flush())
        best = min(best, time.process_time() - started)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--read", type=int, default=64 * 1024, help="bytes per socket read")
    args = parser.parse_args()
    long_cost: dict[int, float] = {}
    print(f"SSE decoder, reads of {args.read} bytes, best of {args.rounds} rounds (CPU time)")
    for size in (8 * MB, 16 * MB):
        short, short_events = cpu_seconds(short_lines(size), args.read, args.rounds)
        long, long_events = cpu_seconds(one_line(size), args.read, args.rounds)
        assert long_events == 1
        assert short_events == size // 100
        long_cost[size] = long
        print(
            f"  {size // MB:>2} MB  one line {long * 1000:7.1f} ms   "
            f"{short_events} short lines {short * 1000:7.1f} ms   "
            f"one line / short lines = {long / short:5.2f}x"
        )
    ratio = long_cost[16 * MB] / long_cost[8 * MB]
    print(f"  one line, 16 MB / 8 MB = {ratio:.2f}x (linear ~2, quadratic ~4)")


if __name__ == "__main__":
    main()
