"""The README's complete Python examples run clean: exit 0, no ResourceWarning, on both loops.

A snippet is complete when it starts its own event loop (``trio.run(main)``); the others are
fragments of a request and are only checked to parse. Each complete snippet runs in a fresh
interpreter under ``python -X dev -W error::ResourceWarning``, against a local provider server
in another process: the OpenAI base URL variable points at it, so a snippet written for the
real API is answered by ``pipeline.testing``. Its asyncio variant swaps ``trio.run(main)`` for
``asyncio.run(main())``, as the snippet's own comment says.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.testing import Replay, scenario_base_url, spawn_server_process

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
TRIO_RUN = "trio.run(main)"
RECORDED = "openai/oai-py__text_plain.sse"


def python_snippets() -> list[str]:
    return [textwrap.dedent(s) for s in re.findall(r"```python\n(.*?)```", README, re.DOTALL)]


def complete_snippets() -> list[str]:
    return [snippet for snippet in python_snippets() if TRIO_RUN in snippet]


def on_asyncio(snippet: str) -> str:
    """The same program on asyncio: the README offers ``asyncio.run(main())`` beside it."""
    assert snippet.count(TRIO_RUN) == 1
    return "import asyncio\n" + snippet.replace(TRIO_RUN, "asyncio.run(main())")


@pytest.fixture(scope="module")
def server_root() -> Iterator[str]:
    with spawn_server_process() as root:
        yield root


def test_the_readme_has_the_documented_complete_examples() -> None:
    complete = complete_snippets()
    # The quick "Use" example (real API) and the pipeline.testing example.
    assert len(complete) >= 2
    assert any("generate_chat_completion_stream" in s and "OPENAI_API_KEY" in s for s in complete)
    assert any("open_local_server" in s for s in complete)
    for snippet in complete:
        assert "aclose_http_clients()" in snippet  # each shows the shutdown it needs


@pytest.mark.parametrize("index", range(len(python_snippets())))
def test_every_python_snippet_parses(index: int) -> None:
    snippet = python_snippets()[index]
    try:
        ast.parse(snippet)
    except SyntaxError:
        # A fragment of a request dict (``"provider_kwargs": {...}``) parses as a dict entry.
        ast.parse("{" + snippet + "}")


@pytest.mark.parametrize("loop", ["trio", "asyncio"])
@pytest.mark.parametrize("index", range(len(complete_snippets())))
def test_complete_snippet_runs_clean_under_dev_mode(
    index: int, loop: str, server_root: str, tmp_path: Path
) -> None:
    snippet = complete_snippets()[index]
    program = snippet if loop == "trio" else on_asyncio(snippet)
    script = tmp_path / "snippet.py"
    script.write_text(program, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env |= {
        "OPENAI_API_KEY": "sk-readme-test",
        # A recorded reply, unpaced (the default scenario is paced like a live model).
        "OPENAI_BASE_URL": scenario_base_url(server_root, Replay(RECORDED)),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ResourceWarning" not in done.stderr, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    assert done.stdout.strip(), "the snippet printed nothing"
    if "OPENAI_API_KEY" in snippet:  # the real-API example, answered with the recording
        assert "San Francisco" in done.stdout
        assert "stop" in done.stdout
    if "hedge_after" in snippet:  # the stalled primary loses the race to the hedge
        assert done.stdout.splitlines() == ["openai cancelled False", "alibaba succeeded True"]
    elif "open_local_server" in snippet:  # the replay, the 429 and its retry
        assert done.stdout.splitlines()[-1] == "3 requests"
