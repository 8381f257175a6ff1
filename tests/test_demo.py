"""The demo command, in process on both event loops."""

from __future__ import annotations

import pytest

from pipeline._demo import main
from pipeline.testing import DEMO_TEXT


@pytest.fixture(autouse=True)
def no_real_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_demo_streams_sentences_from_the_embedded_server(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--fast", "--backend", backend]) == 0
    out = capsys.readouterr().out
    assert "embedded local server at http://127.0.0.1:" in out
    assert "] Hi there!" in out
    assert "local demo model" in out
    assert "**" not in out  # sentences are cleaned for speech
    assert "finish: stop" in out
    assert "first sentence after" in out


def test_demo_prints_raw_deltas_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fast", "--deltas", "--provider", "alibaba"]) == 0
    out = capsys.readouterr().out
    assert DEMO_TEXT in out  # raw text, markdown included, streamed delta by delta
    assert "model qwen-plus" in out
    assert "first token after" in out
