"""Bootstrap and task runner: needs nothing but Python 3.11 and pip.

``python dev.py demo``   create ``.venv`` with the runtime dependencies only, then stream a reply
                         from the embedded server.
``python dev.py test``   install the project with its test and bench extras into ``.venv``, then
                         run the whole suite.
``python dev.py lint``   ruff and mypy --strict on the three packages (same install).
``python dev.py bench``  run every benchmark and print its figures (same install).

The demo needs only the libraries the package imports: it runs the package from this checkout,
so its first run costs one ``pip install`` of those dependencies and nothing else (no build of
the project, no pip upgrade). The other tasks install the project editable with its ``test``
extra and its ``bench`` extra (the latency harness, which the suite runs too).
``.venv/.installed`` records what was installed and for which ``pyproject.toml``, so either task
can come first, and a changed ``pyproject.toml`` reinstalls.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed"

RUNTIME = "runtime"
TEST = "test+bench"  # the extras installed; a stamp of another set reinstalls
COVERS = {RUNTIME: {RUNTIME}, TEST: {RUNTIME, TEST}}
"""What each installation provides: the test install includes the runtime dependencies."""


def _read_stamp() -> dict[str, str]:
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}  # missing, or the one-line format of older checkouts: reinstall
    return stamp if isinstance(stamp, dict) else {}


def _pip(*args: str) -> None:
    command = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # pip's build chatter goes to a log, shown only if the install fails.
    done = subprocess.run([*command, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"dev.py: pip install {' '.join(args)} failed")


def _ensure_venv(need: str) -> None:
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    wanted = hashlib.sha256(pyproject).hexdigest()
    stamp = _read_stamp()
    installed = stamp.get("installed", "")
    if PYTHON.exists() and stamp.get("pyproject") == wanted and need in COVERS.get(installed, ()):
        return
    if not PYTHON.exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    if need == RUNTIME:
        dependencies = tomllib.loads(pyproject.decode())["project"]["dependencies"]
        print("dev.py: installing the runtime dependencies into .venv", file=sys.stderr)
        _pip(*dependencies)
    else:
        print("dev.py: installing the project and its test extras into .venv", file=sys.stderr)
        _pip("--upgrade", "pip")
        _pip("-e", f"{ROOT}[test,bench]")
    STAMP.write_text(json.dumps({"pyproject": wanted, "installed": need}))


def _run(*args: str) -> int:
    # From the checkout's root, so ``-m pipeline`` finds the package without an install.
    return subprocess.run([str(PYTHON), *args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("demo", [])
    if task not in ("demo", "test", "lint", "bench"):
        print(__doc__, file=sys.stderr)
        return 2
    _ensure_venv(RUNTIME if task == "demo" else TEST)
    if task == "demo":
        return _run("-m", "pipeline", "demo", *rest)
    if task == "test":
        # Branch coverage of the three packages, reported briefly after the results.
        return _run("-m", "pytest", "--cov", "--cov-report=term:skip-covered", *rest)
    if task == "lint":
        ruff = _run("-m", "ruff", "check", "pipeline", "stages", "providers", "tests", "benchmarks")
        mypy = _run("-m", "mypy", "--strict", "pipeline", "stages", "providers")
        return ruff or mypy
    status = 0
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        status = _run(str(script), *rest) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
