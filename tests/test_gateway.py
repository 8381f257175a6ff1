"""The WebSocket gateway over real loopback sockets, driven by an independent client library.

The gateway runs on trio (``serve`` requires it) in a background thread with a local provider
server; the tests speak to it with ``websockets``' own client and check what the provider
server saw: streams aborted, streams still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from pipeline._gateway import GatewayConfig, Policy
from pipeline.testing import DEMO_TEXT, Synthetic, scenario_base_url, spawn_server_process
from tests._gateway_harness import GatewayThread
from tests._waiting import SAFETY_NET

TOKEN = "gateway-test-token-5f1c2a"
SECRET = "sk-gateway-server-secret-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayThread]:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("DASHSCOPE_API_KEY", SECRET)
    thread = GatewayThread(GatewayConfig(token=TOKEN, output_queue=8)).start()
    yield thread
    thread.stop()


def use(monkeypatch: pytest.MonkeyPatch, gateway: GatewayThread, scenario: Synthetic,
        variable: str = "OPENAI_BASE_URL", provider: str = "openai") -> None:  # fmt: skip
    """Point the gateway's environment at the local provider server for ``scenario``."""
    monkeypatch.setenv(variable, gateway.provider.base_url(scenario, provider=provider))


def request(provider: str = "openai", **extra: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hello"}],
        **extra,
    }


def open_client(gateway: GatewayThread, **kwargs: Any) -> ClientConnection:
    return connect(
        gateway.url, additional_headers=AUTH, proxy=None, open_timeout=SAFETY_NET, **kwargs
    )


def receive(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=SAFETY_NET))
    assert isinstance(message, dict)
    return message


def until_end(ws: ClientConnection, id_: Any) -> list[dict[str, Any]]:
    """Messages for ``id_`` up to and including its ``done`` or ``error``."""
    seen = []
    while True:
        message = receive(ws)
        if message["id"] == id_:
            seen.append(message)
            if message["type"] in ("done", "error"):
                return seen


def test_streams_sentences_then_the_final_response_then_done(
    gateway: GatewayThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, gateway, Synthetic(60, text=DEMO_TEXT))
    with open_client(gateway) as ws:
        ws.send(json.dumps({
            "type": "generate", "id": "turn-1", "request": request(),
            "stream_options": {"stream_sentences": True},
        }))  # fmt: skip
        messages = until_end(ws, "turn-1")
    assert messages[-1] == {"type": "done", "id": "turn-1"}
    chunks = [m["chunk"] for m in messages[:-1]]
    assert all(m["type"] == "chunk" for m in messages[:-1])
    sentences = [c["sentence"] for c in chunks if c["type"] == "content_sentence"]
    assert sentences[0] == "Hi there!"
    assert "**" not in " ".join(sentences)
    final = chunks[-1]
    assert final["type"] == "response"
    assert final["response"]["message"]["role"] == "assistant"
    assert final["response"]["finish_reason"] == "stop"
    assert final["response"]["message"]["content"].startswith("Hi there!")
    assert SECRET not in json.dumps(messages)
    # The key came from the gateway's environment, not from the client.
    assert gateway.provider.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_cancel_mid_stream_closes_the_upstream_socket(
    gateway: GatewayThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, gateway, Synthetic(5000, pace_ms=10))
    with open_client(gateway) as ws:
        ws.send(json.dumps({"type": "generate", "id": 7, "request": request()}))
        first = receive(ws)
        assert first["type"] == "chunk"
        assert gateway.provider.active_streams == 1
        ws.send(json.dumps({"type": "cancel", "id": 7}))
        messages = until_end(ws, 7)
        assert messages[-1] == {"type": "done", "id": 7, "cancelled": True}
        gateway.wait_until(lambda: gateway.provider.streams_aborted == 1)
        assert gateway.provider.active_streams == 0
        assert gateway.provider.streams_completed == 0
        # The connection is still usable after a barge-in.
        ws.send(json.dumps({"type": "cancel", "id": 7}))
        assert "no generation" in receive(ws)["error"]["message"]


def test_two_generations_interleave_on_one_connection(
    gateway: GatewayThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, gateway, Synthetic(30, pace_ms=5, tag="a"))
    use(monkeypatch, gateway, Synthetic(30, pace_ms=5, tag="b"), "DASHSCOPE_BASE_URL", "alibaba")
    with open_client(gateway) as ws:
        ws.send(json.dumps({"type": "generate", "id": "a", "request": request()}))
        ws.send(json.dumps({"type": "generate", "id": "b", "request": request("alibaba")}))
        order: list[str] = []
        ended: set[str] = set()
        deltas: dict[str, int] = {"a": 0, "b": 0}
        while ended != {"a", "b"}:
            message = receive(ws)
            order.append(message["id"])
            if message["type"] == "done":
                ended.add(message["id"])
            elif message["chunk"]["type"] == "content_delta":
                deltas[message["id"]] += 1
    assert deltas == {"a": 30, "b": 30}
    # Neither waited for the other: b's first message came before a's done.
    assert order.index("b") < len(order) - 1 - order[::-1].index("a")
    assert gateway.provider.streams_completed == 2


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_a_missing_or_wrong_token_is_refused_at_the_handshake(
    gateway: GatewayThread, headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.url, additional_headers=headers, proxy=None, open_timeout=SAFETY_NET)
    assert refused.value.response.status_code == 401
    assert gateway.stats.connections_rejected == 1
    assert gateway.stats.generations_started == 0


def test_malformed_messages_get_an_error_and_the_connection_stays_open(
    gateway: GatewayThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, gateway, Synthetic(3))
    bad = [
        ("{not json", None, "not valid JSON"),
        ("[1, 2]", None, "must be a JSON object"),
        (json.dumps({"type": "generate", "request": request()}), None, "id: missing"),
        (json.dumps({"type": "speak", "id": 1}), 1, "type: expected 'generate' or 'cancel'"),
        (json.dumps({"type": "generate", "id": 2, "request": []}), 2, "request: expected"),
        (json.dumps({"type": "generate", "id": 3, "request": request(api_key="sk-mine")}), 3,
         "request.api_key: clients may not send credentials"),
        (json.dumps({"type": "generate", "id": 4, "request": request(
            provider_kwargs={"openai": {"base_url": "http://evil.example"}})}), 4,
         "request.provider_kwargs.openai.base_url: clients may not choose"),
        (json.dumps({"type": "generate", "id": 5, "request": request(
            fallbacks=[{"provider": "alibaba", "api_key": "sk-x"}])}), 5,
         "request.fallbacks[0].api_key"),
    ]  # fmt: skip
    with open_client(gateway) as ws:
        for text, id_, problem in bad:
            ws.send(text)
            answer = receive(ws)
            assert answer["type"] == "error"
            assert answer["id"] == id_
            assert problem in answer["error"]["message"]
            assert answer["error"]["retryable"] is False
        # An invalid request is the library's own validation error, with its field path.
        ws.send(json.dumps({"type": "generate", "id": 6, "request": request(max_tokens=-1)}))
        invalid = until_end(ws, 6)[-1]
        assert invalid["error"]["type"] == "RequestValidationError"
        assert "max_tokens" in invalid["error"]["message"]
        ws.send(json.dumps({"type": "generate", "id": 8, "request": request()}))
        assert until_end(ws, 8)[-1] == {"type": "done", "id": 8}
    assert len(gateway.provider.requests) == 1  # nothing refused reached the provider


def test_client_keys_and_base_urls_are_accepted_when_the_server_allows_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    policy = Policy(allow_client_keys=True, allow_client_base_url=True)
    thread = GatewayThread(GatewayConfig(token=None, policy=policy)).start()
    try:
        url = thread.provider.base_url(Synthetic(3))
        with connect(thread.url, proxy=None, open_timeout=SAFETY_NET) as ws:
            body = request(
                api_key="sk-client-own-key", provider_kwargs={"openai": {"base_url": url}}
            )
            ws.send(json.dumps({"type": "generate", "id": 1, "request": body}))
            messages = until_end(ws, 1)
        assert messages[-1]["type"] == "done"
        assert "sk-client-own-key" not in json.dumps(messages)
    finally:
        thread.stop()


def test_a_disconnecting_client_cancels_its_generations_and_their_sockets(
    gateway: GatewayThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, gateway, Synthetic(5000, pace_ms=10))
    with open_client(gateway) as ws:
        for id_ in (1, 2):
            ws.send(json.dumps({"type": "generate", "id": id_, "request": request()}))
        gateway.wait_until(lambda: gateway.provider.streams_started == 2)
        receive(ws)
    gateway.wait_until(lambda: gateway.provider.streams_aborted == 2)
    assert gateway.provider.active_streams == 0
    gateway.poll_until(lambda: gateway.stats.connections_open == 0)


def test_a_client_that_never_reads_does_not_grow_the_servers_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    gateway = GatewayThread(GatewayConfig(token=TOKEN, output_queue=8, stall_timeout=1.0))
    with contextlib.closing(gateway.start()):
        never_reading_client(gateway, monkeypatch)


def never_reading_client(gateway: GatewayThread, monkeypatch: pytest.MonkeyPatch) -> None:
    deltas = 200_000
    use(monkeypatch, gateway, Synthetic(deltas))
    # A small receive window and a one-message queue: the client reads (almost) nothing.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gateway.port))
    with open_client(gateway, sock=sock, max_queue=1, ping_interval=None, close_timeout=0.2) as ws:
        ws.send(json.dumps({"type": "generate", "id": 1, "request": request()}))
        # The queue fills up, then the generation waits instead of pulling the upstream.
        gateway.poll_until(lambda: gateway.stats.backpressure_waits >= 1)
        pulled = gateway.stats.chunks_pulled
        assert gateway.stats.max_queued <= gateway.config.output_queue
        assert pulled < deltas
        # It stays paused, and once the client counts as stalled it is dropped: the upstream
        # stream is cancelled before it completes.
        gateway.wait_until(lambda: gateway.provider.streams_aborted == 1)
        assert gateway.stats.stalled_clients == 1
        assert gateway.provider.streams_completed == 0
        assert gateway.stats.max_queued <= gateway.config.output_queue
        assert gateway.stats.chunks_pulled < deltas


def test_many_concurrent_clients(gateway: GatewayThread, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, gateway, Synthetic(20, pace_ms=2))
    clients = 25

    async def one(n: int) -> int:
        async with aconnect(gateway.url, additional_headers=AUTH, proxy=None) as ws:
            await ws.send(json.dumps({"type": "generate", "id": n, "request": request()}))
            count = 0
            async for text in ws:
                message = json.loads(text)
                if message["type"] == "done":
                    return count
                count += message["chunk"]["type"] == "content_delta"
        raise AssertionError("closed before done")

    async def all_clients() -> list[int]:
        async with asyncio.timeout(SAFETY_NET):
            return list(await asyncio.gather(*(one(n) for n in range(clients))))

    assert asyncio.run(all_clients()) == [20] * clients
    assert gateway.provider.streams_completed == clients


def test_python_m_pipeline_serve_end_to_end() -> None:
    root = Path(__file__).resolve().parents[1]
    with spawn_server_process() as provider_root:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update(
            PIPELINE_GATEWAY_TOKEN=TOKEN,
            OPENAI_API_KEY=SECRET,
            OPENAI_BASE_URL=scenario_base_url(provider_root, Synthetic(5)),
        )
        command = [sys.executable, "-m", "pipeline", "serve", "--port", "0"]
        with subprocess.Popen(
            command, cwd=root, env=env, stdout=subprocess.PIPE, text=True
        ) as child:
            try:
                assert child.stdout is not None
                ready = child.stdout.readline().split()
                assert ready[0] == "READY"
                url = ready[1]
                with connect(
                    url, additional_headers=AUTH, proxy=None, open_timeout=SAFETY_NET
                ) as ws:
                    ws.send(json.dumps({"type": "generate", "id": "x", "request": request()}))
                    messages = until_end(ws, "x")
                assert messages[-1] == {"type": "done", "id": "x"}
                assert sum(m["chunk"]["type"] == "content_delta" for m in messages[:-1]) == 5
                with pytest.raises(InvalidStatus):
                    connect(url, proxy=None, open_timeout=SAFETY_NET)
            finally:
                child.terminate()
                child.wait(SAFETY_NET)


def test_an_oversized_message_closes_that_connection_only(gateway: GatewayThread) -> None:
    with open_client(gateway, max_size=None) as ws:
        ws.send("x" * (gateway.config.max_message_size + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=SAFETY_NET)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009  # message too big
    with open_client(gateway) as ws:
        ws.send(json.dumps({"type": "cancel", "id": 1}))
        assert receive(ws)["type"] == "error"  # the server itself is unharmed


def test_a_provider_error_reaches_the_client_typed_and_without_the_key(
    gateway: GatewayThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, gateway, Synthetic(3, status=401))
    with open_client(gateway) as ws:
        ws.send(json.dumps({"type": "generate", "id": "e", "request": request()}))
        messages = until_end(ws, "e")
    error = messages[-1]
    assert error["type"] == "error"
    assert error["error"]["type"] == "AuthenticationError"
    assert "401" in error["error"]["message"]
    assert error["error"]["retryable"] is False
    assert SECRET not in json.dumps(messages)
