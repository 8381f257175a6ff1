"""Bootstrap and task runner: needs nothing but Python 3.11 and pip.

``python dev.py demo``   create ``.venv`` if needed, then stream a reply from the embedded server.
``python dev.py test``   create ``.venv`` with the test extras if needed, then run the whole suite.
``python dev.py lint``   ruff and mypy --strict on the three packages.
``python dev.py bench``  run every benchmark and print its figures.

The virtual environment is rebuilt whenever ``pyproject.toml`` changes, so a fresh clone and a
stale checkout behave the same.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed"


def _ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("dev.py: installing the project and its test extras into .venv", file=sys.stderr)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for args in (["--upgrade", "pip"], ["-e", f"{ROOT}[test]"]):
        # pip's build chatter goes to a log, shown only if the install fails.
        done = subprocess.run([*pip, *args], capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(f"dev.py: pip install {' '.join(args)} failed")
    STAMP.write_text(wanted)


def _run(*args: str) -> int:
    return subprocess.run([str(PYTHON), *args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("demo", [])
    _ensure_venv()
    if task == "demo":
        return _run("-m", "pipeline", "demo", *rest)
    if task == "test":
        # Branch coverage of the three packages, reported briefly after the results.
        return _run("-m", "pytest", "--cov", "--cov-report=term:skip-covered", *rest)
    if task == "lint":
        ruff = _run("-m", "ruff", "check", "pipeline", "stages", "providers", "tests", "benchmarks")
        mypy = _run("-m", "mypy", "--strict", "pipeline", "stages", "providers")
        return ruff or mypy
    if task == "bench":
        status = 0
        for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            print(f"== {script.name}", flush=True)
            status = _run(str(script), *rest) or status
        return status
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
