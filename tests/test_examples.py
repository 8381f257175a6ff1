"""Every script in ``examples/`` runs, as a user would run it, and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests._waiting import SAFETY_NET

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXPECTED = {
    "trio_sentences.py": ["speak: Hi there!", "finish: stop"],
    "asyncio_deltas.py": ["deltas: 6", "same text: True"],
    "tool_calls.py": [
        "tool call: get_weather",
        "finish: tool_calls",
        "second request roles: ['user', 'assistant', 'tool', 'tool']",
    ],
    "fallbacks.py": [
        "answered by: alibaba qwen-plus",
        "requests: ['completions', 'completions', 'completions']",
    ],
    "stage_graph.py": ["clip: HI THERE!"],
    "gateway_client.py": [
        "sentence: ",
        "turn-1: done",
        "turn-2 first: content_delta",
        "turn-2: {'type': 'done', 'id': 'turn-2', 'cancelled': True}",
    ],
}


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "dev", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=SAFETY_NET * 2,
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, done.stderr
    for line in EXPECTED[name]:
        assert line in done.stdout
    # -X dev shows every unclosed socket or un-awaited coroutine as a warning on stderr.
    assert "Warning" not in done.stderr, done.stderr
