"""The command line, run as a subprocess: every command, and each error path's exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from pipeline.testing import (
    DEMO_TEXT,
    Synthetic,
    open_local_server,
    scenario_base_url,
    spawn_server_process,
)
from tests._waiting import SAFETY_NET

ROOT = Path(__file__).resolve().parents[1]
KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "DASHSCOPE_API_KEY",
    "DASHSCOPE_BASE_URL",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "PIPELINE_GATEWAY_TOKEN",
)
SECRET = "sk-cli-test-secret-0123456789abcdef"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env.update(extra)
    return env


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env=env if env is not None else clean_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=SAFETY_NET,
    )


@pytest.fixture(scope="module")
def server_root() -> Iterator[str]:
    with spawn_server_process() as root:
        yield root


def test_no_arguments_prints_help() -> None:
    done = cli()
    assert done.returncode == 0
    for command in ("chat", "demo", "serve", "bench", "providers"):
        assert command in done.stdout
    assert "Exit codes" in done.stdout


def test_help_and_version() -> None:
    helped = cli("--help")
    assert helped.returncode == 0
    assert "usage: python -m pipeline" in helped.stdout
    version = cli("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == "voxstream 0.1.0"
    listed = cli("version").stdout.splitlines()
    assert listed[0] == "voxstream 0.1.0"
    assert listed[1] == "providers: openai, anthropic, google, anthropic_vertex, alibaba"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("voxstream")
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=SAFETY_NET
    )
    assert done.returncode == 0
    assert done.stdout.strip() == "voxstream 0.1.0"


def test_providers_lists_every_provider_and_its_variables_never_a_key() -> None:
    done = cli("providers", env=clean_env(OPENAI_API_KEY=SECRET))
    assert done.returncode == 0
    for name in ("openai", "anthropic", "google", "anthropic_vertex", "alibaba"):
        assert f"{name}  (" in done.stdout
    for variable in (
        "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
        "GEMINI_API_KEY or GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "DASHSCOPE_API_KEY",
        "DASHSCOPE_BASE_URL", "ANTHROPIC_VERTEX_PROJECT_ID", "CLOUD_ML_REGION",
    ):  # fmt: skip
        assert variable in done.stdout
    assert "OPENAI_API_KEY  [set]" in done.stdout
    assert "ANTHROPIC_API_KEY  [not set]" in done.stdout
    assert SECRET not in done.stdout
    rows = [json.loads(line) for line in cli("providers", "--json").stdout.splitlines()]
    assert [row["provider"] for row in rows] == [
        "openai", "anthropic", "google", "anthropic_vertex", "alibaba",
    ]  # fmt: skip
    assert rows[2]["key_variables"] == ["GEMINI_API_KEY", "GOOGLE_API_KEY"]


def test_chat_streams_one_reply(server_root: str) -> None:
    url = scenario_base_url(server_root, Synthetic(12, text=DEMO_TEXT))
    done = cli("chat", "--base-url", url, "Hello", env=clean_env(OPENAI_API_KEY=SECRET))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == " ".join(DEMO_TEXT.split()[:12])


def test_chat_json_prints_one_chunk_per_line(server_root: str) -> None:
    url = scenario_base_url(server_root, Synthetic(5, tool_calls=1))
    done = cli(
        "chat", "--json", "--base-url", url, "Hi", "--backend", "asyncio",
        env=clean_env(OPENAI_API_KEY=SECRET),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    chunks = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [c["type"] for c in chunks]
    assert kinds.count("content_delta") == 5
    assert "tool_call" in kinds
    assert kinds[-1] == "response"
    final = chunks[-1]["response"]
    assert final["message"]["role"] == "assistant"
    assert final["message"]["tool_calls"][0]["function"]["name"]
    assert SECRET not in done.stdout


def test_chat_clean_sentences(server_root: str) -> None:
    url = scenario_base_url(server_root, Synthetic(60, text=DEMO_TEXT))
    done = cli("chat", "--clean", "--base-url", url, "Hi", env=clean_env(OPENAI_API_KEY=SECRET))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Hi there!"
    assert len(lines) > 2
    assert "**" not in done.stdout


def test_chat_without_a_key_exits_3() -> None:
    done = cli("chat", "Hello")
    assert done.returncode == 3
    assert "error (missing key)" in done.stderr
    assert "OPENAI_API_KEY" in done.stderr


def test_chat_unknown_provider_exits_4() -> None:
    done = cli("chat", "--provider", "nope", "Hello")
    assert done.returncode == 4
    assert "unknown provider" in done.stderr
    assert "anthropic_vertex" in done.stderr


def test_chat_unreachable_server_exits_5() -> None:
    with spawn_server_process() as root:
        pass  # its port is free again: nothing listens there now
    done = cli(
        "chat", "--retries", "0", "--base-url", root + "/v1", "Hello",
        env=clean_env(OPENAI_API_KEY=SECRET),
    )  # fmt: skip
    assert done.returncode == 5
    assert "error (provider unreachable)" in done.stderr
    assert SECRET not in done.stderr


def test_chat_provider_error_exits_6(server_root: str) -> None:
    url = scenario_base_url(server_root, Synthetic(3, status=401))
    done = cli("chat", "--base-url", url, "Hello", env=clean_env(OPENAI_API_KEY=SECRET))
    assert done.returncode == 6
    assert "error (provider error)" in done.stderr
    assert "AuthenticationError" in done.stderr or "status=401" in done.stderr
    assert SECRET not in done.stderr


def test_chat_first_token_timeout_fails_a_silent_provider_with_exit_6(server_root: str) -> None:
    url = scenario_base_url(server_root, Synthetic(3, stall_after=0, keepalive_ms=50))
    done = cli(
        "chat", "--base-url", url, "--first-token-timeout", "0.5", "--retries", "0", "Hello",
        env=clean_env(OPENAI_API_KEY=SECRET),
    )  # fmt: skip
    assert done.returncode == 6
    assert "first token" in done.stderr


def test_chat_invalid_request_exits_2(server_root: str) -> None:
    done = cli(
        "chat", "--max-tokens", "-4", "--base-url", server_root + "/v1", "Hello",
        env=clean_env(OPENAI_API_KEY=SECRET),
    )  # fmt: skip
    assert done.returncode == 2
    assert "max_tokens" in done.stderr


@pytest.mark.anyio
async def test_interactive_chat_keeps_the_history() -> None:
    async with open_local_server() as server:
        url = server.base_url(Synthetic(4))
        done = await anyio.run_process(
            [sys.executable, "-m", "pipeline", "chat", "--system", "Be brief.", "--base-url", url],
            input=b"first question\n\nsecond question\n",
            cwd=ROOT,
            env=clean_env(OPENAI_API_KEY=SECRET),
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert len(server.requests) == 2
        second = server.requests[1].json["messages"]
        assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
        assert second[1]["content"] == "first question"
        assert second[2]["content"] == done.stdout.decode().splitlines()[0].strip()
        assert second[3]["content"] == "second question"


async def _read_until(stream: anyio.abc.ByteReceiveStream, marker: bytes) -> bytes:
    seen = b""
    with anyio.fail_after(SAFETY_NET):
        while marker not in seen:
            seen += await stream.receive()
    return seen


@pytest.mark.anyio
async def test_ctrl_c_stops_the_generation_at_once_and_closes_upstream() -> None:
    async with open_local_server() as server:
        # Slow enough that the reply is still streaming when Ctrl-C arrives.
        url = server.base_url(Synthetic(2000, pace_ms=20))
        command = [sys.executable, "-m", "pipeline", "chat", "--base-url", url, "Hello"]
        env = clean_env(OPENAI_API_KEY=SECRET)
        async with await anyio.open_process(command, cwd=ROOT, env=env) as process:
            assert process.stdout is not None
            await _read_until(process.stdout, b" ")  # streaming has started
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(SAFETY_NET):
                rest = b"".join([chunk async for chunk in process.stdout])
                code = await process.wait()
        assert code == 130
        assert b"[stopped]" in rest
        with anyio.fail_after(SAFETY_NET):
            await server.wait_until(lambda: server.streams_aborted == 1)
        assert server.streams_completed == 0


@pytest.mark.anyio
async def test_interactive_ctrl_c_stops_then_a_second_one_exits() -> None:
    async with open_local_server() as server:
        url = server.base_url(Synthetic(2000, pace_ms=20))
        command = [sys.executable, "-m", "pipeline", "chat", "--base-url", url]
        env = clean_env(OPENAI_API_KEY=SECRET)
        async with await anyio.open_process(command, cwd=ROOT, env=env) as process:
            assert process.stdin is not None
            assert process.stdout is not None
            await process.stdin.send(b"tell me a long story\n")
            await _read_until(process.stdout, b" ")
            process.send_signal(signal.SIGINT)
            await _read_until(process.stdout, b"[stopped]")
            with anyio.fail_after(SAFETY_NET):
                await server.wait_until(lambda: server.streams_aborted == 1)
            assert process.returncode is None  # still running, back at the prompt
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(SAFETY_NET):
                code = await process.wait()
        assert code == 130


def test_demo_uses_the_embedded_server_without_a_key() -> None:
    done = cli("demo", "--fast")
    assert done.returncode == 0, done.stderr
    assert "Streaming from embedded local server at http://127.0.0.1:" in done.stdout
    assert "finish: stop" in done.stdout


def test_demo_names_the_base_url_it_really_uses(server_root: str) -> None:
    url = scenario_base_url(server_root, Synthetic(6))
    env = clean_env(OPENAI_API_KEY=SECRET, OPENAI_BASE_URL=url)
    done = cli("demo", "--deltas", env=env)
    assert done.returncode == 0, done.stderr
    assert f"Streaming from {url} (from OPENAI_BASE_URL)" in done.stdout
    assert "real" not in done.stdout
    assert "finish: stop" in done.stdout


def test_serve_requires_a_token_or_explicit_no_auth() -> None:
    done = cli("serve", "--port", "0")
    assert done.returncode == 3
    assert "PIPELINE_GATEWAY_TOKEN" in done.stderr


def test_serve_refuses_no_auth_off_loopback() -> None:
    done = cli("serve", "--no-auth", "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2
    assert "loopback" in done.stderr


def test_unknown_command_is_a_usage_error() -> None:
    done = cli("frobnicate")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
