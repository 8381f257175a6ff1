"""The built package stands alone: fixtures and license texts ship, a replay works installed.

One non-editable install of the repository into a temporary folder (``pip install --no-deps
--target``, through the real build backend), shared by the tests of this module. A fresh
interpreter then imports it from that folder only, in a working directory outside the
repository, so nothing can come from the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ._expected import expected
from .conftest import FIXTURES

REPO = Path(__file__).resolve().parents[1]

REPLAY = """\
import sys

import trio

import pipeline
from pipeline import aclose_http_clients, generate_chat_completion_stream
from pipeline.testing import Replay, default_fixtures_dir, open_local_server


async def main() -> None:
    async with open_local_server() as server:
        request = {
            "provider": "openai",
            "api_key": "sk-packaging-test",
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "Hi"}],
            "provider_kwargs": {
                "openai": {"base_url": server.base_url(Replay("openai/oai-py__text_plain.sse"))}
            },
        }
        stream = await generate_chat_completion_stream(request)
        async with stream:
            text = "".join([c.content async for c in stream if c.type == "content_delta"])
        await aclose_http_clients()
    print(pipeline.__file__)
    print(default_fixtures_dir())
    print(repr(text))


trio.run(main)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository installed (not editable) into a temporary folder."""
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile"),
            *("--disable-pip-version-check", "--target", str(target), str(REPO)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # A build that needs attention (a package-data directory setuptools would drop) warns here.
    assert "warning" not in done.stderr.lower(), done.stderr
    return target


def shipped_fixtures(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_every_fixture_file_and_license_text_is_installed(installed: Path) -> None:
    in_repo = shipped_fixtures(FIXTURES)
    assert "SOURCES.md" in in_repo
    assert "EXPECTED.json" in in_repo
    licenses = {name for name in in_repo if name.startswith("LICENSES/")}
    assert licenses >= {
        "LICENSES/Apache-2.0.txt",
        "LICENSES/vercel-ai.NOTICE.txt",
        "LICENSES/openai-python.NOTICE.txt",
        "LICENSES/anthropic-sdk-python.MIT.txt",
        "LICENSES/louter.MIT.txt",
    }
    assert shipped_fixtures(installed / "pipeline" / "testing" / "fixtures") == in_repo
    for package in ("pipeline", "stages", "providers"):
        assert (installed / package / "py.typed").is_file(), package


def test_every_license_named_in_sources_has_its_text() -> None:
    sources = (FIXTURES / "SOURCES.md").read_text(encoding="utf-8")
    for name in sorted(p.name for p in (FIXTURES / "LICENSES").iterdir()):
        assert f"`{name}`" in sources, f"SOURCES.md does not name LICENSES/{name}"
    # The licenses the files table names: each MIT repository has its own notice.
    assert "| MIT |" in sources
    assert "| Apache-2.0 |" in sources
    gold = REPO / "tests" / "gold"
    readme = (gold / "README.md").read_text(encoding="utf-8")
    for path in sorted((gold / "LICENSES").iterdir()):
        assert f"`{path.name}`" in readme, f"the gold README does not name LICENSES/{path.name}"
        assert "Copyright" in path.read_text(encoding="utf-8") or path.name == "Apache-2.0.txt"


def test_a_replay_runs_from_the_installed_package_outside_the_repository(
    installed: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OPENAI_BASE_URL")}
    env["PYTHONPATH"] = str(installed)  # the dependencies come from this interpreter's venv
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", REPLAY],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    module, fixtures, text = done.stdout.splitlines()
    assert Path(module).is_relative_to(installed)
    assert Path(fixtures).is_relative_to(installed)
    assert not Path(module).is_relative_to(REPO)
    [choice] = expected()["openai/oai-py__text_plain.sse"]["assembled"]["choices"]
    assert text == repr(choice["content"])
