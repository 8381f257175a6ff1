"""The server in its own process, for benchmarks that must not share a CPU with it.

``python -m pipeline.testing --port 0`` prints one line ``READY http://127.0.0.1:PORT`` and serves
until it gets SIGTERM or SIGINT. :func:`spawn_server_process` does all of that from a test or a
benchmark and hands back the root URL; build scenario URLs with
:func:`~._urls.scenario_base_url`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import anyio

from ._h2_server import open_local_http2_server
from ._server_core import open_local_server

__all__ = ("main", "spawn_server_process")

READY = "READY"


@contextmanager
def spawn_server_process(
    *,
    port: int = 0,
    fixtures_dir: str | Path | None = None,
    backend: str = "trio",
    startup_timeout: float = 15.0,
    http2: bool = False,
) -> Iterator[str]:
    """Start the server in a child process (this interpreter) and yield its root URL.

    Args:
        port: Port for the child to bind; 0 picks a free one.
        fixtures_dir: Passed on to the child (default: its own default).
        backend: ``"trio"`` or ``"asyncio"`` event loop in the child.
        startup_timeout: Seconds to wait for the ``READY`` line.
        http2: Serve HTTP/2 with prior knowledge (h2c) only, instead of HTTP/1.1.

    Yields:
        ``http://127.0.0.1:PORT``.

    Raises:
        RuntimeError: the child exited or stayed silent before printing ``READY``.

    On exit the child gets SIGTERM (then SIGKILL if it lingers) and is reaped.
    """
    command = [sys.executable, "-m", "pipeline.testing", "--port", str(port)]
    command += ["--backend", backend] + ["--http2"] * http2
    if fixtures_dir is not None:
        command += ["--fixtures-dir", str(fixtures_dir)]
    env = dict(os.environ)
    # The child must import this very package, even when it is not installed.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    # stdout is read only up to READY and the child writes nothing after it, so the pipe can
    # never fill up; stderr is inherited so a crash is visible.
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True) as child:
        try:
            yield _await_ready(child, startup_timeout)
        finally:
            child.terminate()
            try:
                child.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _await_ready(child: subprocess.Popen[str], timeout: float) -> str:
    assert child.stdout is not None
    # readline() cannot time out by itself: a timer kills a silent child, which ends the read.
    timer = threading.Timer(timeout, child.kill)
    timer.start()
    try:
        line = child.stdout.readline()
    finally:
        timer.cancel()
    word, _, url = line.strip().partition(" ")
    if word != READY or not url:
        child.kill()
        child.wait()
        raise RuntimeError(
            f"local server process did not start (exit code {child.returncode}, said {line!r})"
        )
    return url


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point: serve until SIGTERM or SIGINT, then exit 0."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fixtures-dir", default=None)
    parser.add_argument("--backend", choices=("trio", "asyncio"), default="trio")
    parser.add_argument("--http2", action="store_true", help="HTTP/2 (h2c) only")
    args = parser.parse_args(argv)
    anyio.run(_serve, args.host, args.port, args.fixtures_dir, args.http2, backend=args.backend)
    return 0


async def _serve(host: str, port: int, fixtures_dir: str | None, http2: bool) -> None:
    opener = open_local_http2_server if http2 else open_local_server
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with opener(host=host, port=port, fixtures_dir=fixtures_dir) as server:
            print(f"{READY} {server.root_url}", flush=True)
            async for _ in signals:
                break
