"""The local provider server, spoken to over real loopback sockets with plain httpx."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import h11
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.testing import (
    DEMO_TEXT,
    LocalProviderServer,
    Replay,
    Scenario,
    ScenarioDecodeError,
    Synthetic,
    decode_scenario,
    default_fixtures_dir,
    encode_scenario,
    open_local_server,
    read_send_stamps,
    scenario_base_url,
    spawn_server_process,
)
from pipeline.testing import __all__ as server_all

from ._waiting import SAFETY_NET
from .conftest import on_virtual_clock

FIXTURES = default_fixtures_dir()
TEXT_SSE = "openai/oai-py__text_plain.sse"
JAPANESE_SSE = "gemini/louter__fc_turn2.sse"  # multi-byte UTF-8, served raw
STREAM = {"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
STREAM_USAGE = {**STREAM, "stream_options": {"include_usage": True}}


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
    assert running.errors == []


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


def url(server: LocalProviderServer, scenario: Scenario | None = None) -> str:
    return server.base_url(scenario) + "/chat/completions"


def payloads(body: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    text = body.decode().replace("\r\n", "\n")
    return [
        line[len("data: ") :]
        for event in text.split("\n\n")
        for line in event.split("\n")
        if line.startswith("data: ")
    ]


def chunks(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(p) for p in payloads(body) if p != "[DONE]"]


# Scenario URL encoding (pure).

ROUND_TRIP = [
    Synthetic(0),
    Synthetic(5000),
    Synthetic(7, pace_ms=2.5, first_token_delay_ms=100, text="Hi, there=% / ünïcode\n€ 100%,"),
    Synthetic(0, text=""),
    Synthetic(3, tool_calls=2, include_usage=False, stall_after=1, stall_seconds=None),
    Synthetic(3, status=429, headers=(("retry-after", "1"), ("x-a", "b:c,d")), fail_times=2),
    Synthetic(3, cut_after=0, cut_with_reset=True, malformed_after=2, slice_bytes=1, tag="t,1"),
    Synthetic(5, burst_bytes=65536),
    Synthetic(4, error_after=2),
    Synthetic(6, send_stamps=True, pace_ms=20),
    Replay(TEXT_SSE),
    Replay("openai/vercel__error-400-legacy-parameter.json", status=400, body="{}"),
    Replay(JAPANESE_SSE, slice_bytes=3, body_fixture="x/y.json", stall_after=2, stall_seconds=0.5),
]


@pytest.mark.parametrize("scenario", ROUND_TRIP, ids=encode_scenario)
def test_scenario_round_trip(scenario: Scenario) -> None:
    segment = encode_scenario(scenario)
    assert "/" not in segment
    assert "?" not in segment
    assert " " not in segment
    assert decode_scenario(segment) == scenario
    base = scenario_base_url("http://127.0.0.1:1/", scenario)
    assert base == f"http://127.0.0.1:1/_s/{segment}/v1"
    assert httpx.URL(base + "/chat/completions").raw_path.startswith(f"/_s/{segment}/".encode())


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=st.characters(codec="utf-8")),
    tag=st.text(alphabet=st.characters(codec="utf-8")),
    pace=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    headers=st.lists(
        st.tuples(
            st.text(
                alphabet=st.characters(blacklist_characters=":\n", codec="utf-8"),
                min_size=1,
            ),
            st.text(alphabet=st.characters(blacklist_characters="\n", codec="utf-8")),
        ),
        max_size=3,
    ),
)
def test_scenario_round_trip_random(
    text: str, tag: str, pace: float, headers: list[tuple[str, str]]
) -> None:
    scenario = Synthetic(
        1 if text.strip() else 0, text=text, tag=tag, pace_ms=pace, headers=tuple(headers)
    )
    assert decode_scenario(encode_scenario(scenario)) == scenario


def test_headers_given_as_dict_are_normalised() -> None:
    scenario = Synthetic(1, headers={"Retry-After": "1"})  # type: ignore[arg-type]
    assert scenario.headers == (("Retry-After", "1"),)
    assert hash(scenario)


@pytest.mark.parametrize(
    "segment",
    [
        "nope",
        "synthetic",
        "synthetic,deltas=x",
        "synthetic,deltas=1,bogus=2",
        "replay,fixture=a.txt",
        "synthetic,deltas=1,include_usage=yes",
        "synthetic,deltas=-1",
        "synthetic,deltas=1,status=99",
    ],
)
def test_bad_segments_are_rejected(segment: str) -> None:
    with pytest.raises(ScenarioDecodeError):
        decode_scenario(segment)


def test_unknown_provider_is_rejected() -> None:
    with pytest.raises(ValueError, match="mistral"):
        scenario_base_url("http://127.0.0.1:1", None, "mistral")


def test_all_is_complete() -> None:
    import pipeline.testing as package

    public = {name for name in vars(package) if not name.startswith("_")}
    assert public - {"annotations"} <= set(server_all)
    assert all(hasattr(package, name) for name in server_all)


# Synthetic scenarios.


@pytest.mark.anyio
async def test_synthetic_stream_has_the_real_chunk_shape(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(url(server, Synthetic(12)), json=STREAM_USAGE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    assert payloads(response.content)[-1] == "[DONE]"
    parsed = chunks(response.content)
    assert {c["object"] for c in parsed} == {"chat.completion.chunk"}
    assert {c["model"] for c in parsed} == {"gpt-test"}
    assert len({c["id"] for c in parsed}) == 1
    assert parsed[0]["choices"][0]["delta"]["role"] == "assistant"
    texts = [c["choices"][0]["delta"]["content"] for c in parsed[1:-2]]
    assert len(texts) == 12
    text = "".join(texts)
    assert text[0].isupper()
    assert text.endswith(".")
    assert parsed[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert parsed[-1]["choices"] == []
    assert parsed[-1]["usage"]["completion_tokens"] == 12


@pytest.mark.anyio
async def test_usage_chunk_only_when_asked_and_enabled(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    plain = await client.post(url(server, Synthetic(3)), json=STREAM)
    assert all("usage" not in c for c in chunks(plain.content))
    disabled = await client.post(url(server, Synthetic(3, include_usage=False)), json=STREAM_USAGE)
    assert all("usage" not in c for c in chunks(disabled.content))


@pytest.mark.anyio
async def test_synthetic_text_is_cycled_word_by_word(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(url(server, Synthetic(5, text="Héllo wörld.")), json=STREAM)
    texts = [c["choices"][0]["delta"].get("content") for c in chunks(response.content)[1:-1]]
    assert texts == ["Héllo", " wörld.", " Héllo", " wörld.", " Héllo"]


def delta_texts(body: bytes) -> list[str]:
    return [c["choices"][0]["delta"]["content"] for c in chunks(body)[1:-1]]


@pytest.mark.anyio
@pytest.mark.parametrize("burst", [None, 4096])
async def test_send_stamps_mark_when_each_delta_went_out(
    server: LocalProviderServer, client: httpx.AsyncClient, burst: int | None
) -> None:
    plain = await client.post(url(server, Synthetic(12, burst_bytes=burst)), json=STREAM)
    # CLOCK_MONOTONIC is the server's clock too, so its stamps fall inside our own reading.
    before = time.monotonic_ns()
    scenario = Synthetic(12, pace_ms=1, burst_bytes=burst, send_stamps=True)
    stamped = await client.post(url(server, scenario), json=STREAM)
    after = time.monotonic_ns()
    texts, plain_texts = delta_texts(stamped.content), delta_texts(plain.content)
    assert len(chunks(stamped.content)) == len(chunks(plain.content))
    assert len(texts) == 12
    stamps = []
    for text, word in zip(texts, plain_texts, strict=True):
        (stamp,) = read_send_stamps(text)
        stamps.append(stamp)
        # The same delta with "@" + 20 digits + " " after its leading space: a steady width.
        assert len(text) == len(word) + 22
        assert re.sub(r"@\d{20} ", "", text) == word
    assert before <= stamps[0]
    assert stamps == sorted(stamps)
    assert stamps[-1] <= after
    assert "@" not in plain.text  # the default stream carries no stamp


@pytest.mark.anyio
async def test_send_stamps_in_a_body_and_other_formats(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    scenario = Synthetic(3, send_stamps=True)
    body = await client.post(url(server, scenario), json={"model": "m", "messages": []})
    stamps = read_send_stamps(body.json()["choices"][0]["message"]["content"])
    assert len(stamps) == 3
    assert len(set(stamps)) == 1  # one write: one send time
    base = server.base_url(scenario, provider="anthropic")
    anthropic = await client.post(base + "/v1/messages", json={"stream": True})
    texts = [
        event["delta"]["text"]
        for event in map(json.loads, payloads(anthropic.content))
        if event["type"] == "content_block_delta"
    ]
    assert [len(read_send_stamps(text)) for text in texts] == [1, 1, 1]


@pytest.mark.anyio
async def test_synthetic_tool_calls_stream_in_fragments(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(url(server, Synthetic(2, tool_calls=2)), json=STREAM)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in chunks(response.content):
        choice = chunk["choices"][0]
        finish = choice["finish_reason"] or finish
        for fragment in choice["delta"].get("tool_calls", []):
            call = calls.setdefault(fragment["index"], {"arguments": ""})
            call.update({k: fragment[k] for k in ("id",) if k in fragment})
            call.update(
                {"name": fragment["function"]["name"]} if "name" in fragment["function"] else {}
            )
            call["arguments"] += fragment["function"]["arguments"]
    assert finish == "tool_calls"
    assert [calls[i]["id"] for i in (0, 1)] == ["call_local0000", "call_local0001"]
    assert json.loads(calls[1]["arguments"]) == {"location": "Tokyo", "unit": "celsius"}


@pytest.mark.anyio
async def test_non_streaming_synthetic_is_a_chat_completion(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    response = await client.post(
        url(server, Synthetic(4, text="One two. Three", tool_calls=1)), json=body
    )
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    completion = response.json()
    assert completion["object"] == "chat.completion"
    choice = completion["choices"][0]
    assert choice["message"]["content"] == "One two. Three One"
    assert choice["finish_reason"] == "tool_calls"
    assert (
        json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"])["location"]
        == "Paris"
    )
    assert completion["usage"]["total_tokens"] > 4


@pytest.mark.anyio
async def test_default_scenario_is_the_demo_reply(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(server.base_url() + "/chat/completions", json={"model": "m"})
    assert server.base_url() == server.root_url + "/v1"
    assert response.json()["choices"][0]["message"]["content"] == DEMO_TEXT
    assert "**" in DEMO_TEXT
    assert "\n- " in DEMO_TEXT
    assert DEMO_TEXT.count(". ") >= 2


@pytest.mark.anyio
@pytest.mark.autojump_clock
async def test_pacing_and_first_token_delay(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    scenario = Synthetic(4, pace_ms=40, first_token_delay_ms=120)
    arrivals: list[float] = []
    start = anyio.current_time()
    async with client.stream("POST", url(server, scenario), json=STREAM) as response:
        async for line in response.aiter_lines():
            if '"content":"' in line and '"content":""' not in line:
                arrivals.append(anyio.current_time() - start)
    assert len(arrivals) == 4
    # Lower bounds hold on any clock (a loaded machine only adds delay)...
    assert arrivals[0] >= 0.11
    assert arrivals[-1] >= 0.12 + 3 * 0.04 - 0.01
    if on_virtual_clock():  # ...and in virtual time the schedule is exact.
        assert arrivals == pytest.approx([0.12, 0.16, 0.20, 0.24], abs=0.005)


@pytest.mark.anyio
async def test_dashscope_base_url_speaks_openai(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    base = server.base_url(Synthetic(2), provider="alibaba")
    assert base.endswith("/compatible-mode/v1")
    response = await client.post(base + "/chat/completions", json=STREAM)
    assert len(chunks(response.content)) == 4
    assert server.requests[-1].provider == "openai"


# Replays.


@pytest.mark.anyio
@pytest.mark.parametrize("fixture", [TEXT_SSE, "openai/louter__count.sse", JAPANESE_SSE])
async def test_sse_replay_is_byte_identical(
    server: LocalProviderServer, client: httpx.AsyncClient, fixture: str
) -> None:
    response = await client.post(url(server, Replay(fixture)), json=STREAM)
    assert response.content == (FIXTURES / fixture).read_bytes()


@pytest.mark.anyio
@pytest.mark.parametrize("size", [1, 7])
async def test_slices_split_utf8_and_keep_bytes_identical(
    server: LocalProviderServer, client: httpx.AsyncClient, size: int
) -> None:
    expected = (FIXTURES / JAPANESE_SSE).read_bytes()
    pieces: list[bytes] = []
    async with client.stream(
        "POST", url(server, Replay(JAPANESE_SSE, slice_bytes=size)), json=STREAM
    ) as response:
        async for piece in response.aiter_raw():
            pieces.append(piece)
    assert b"".join(pieces) == expected
    if size == 1:
        # Loopback coalesces some writes, but not nearly all of them.
        assert len(pieces) > 1


@pytest.mark.anyio
async def test_a_burst_keeps_one_http_chunk_per_event(server: LocalProviderServer) -> None:
    events = (FIXTURES / JAPANESE_SSE).read_bytes().split(b"\n\n")[:-1]
    target = httpx.URL(url(server, Replay(JAPANESE_SSE, burst_bytes=4096)))
    body = json.dumps(STREAM).encode()
    connection = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="POST",
        target=target.raw_path,
        headers=[("host", "x"), ("content-length", str(len(body))), ("connection", "close")],
    )
    chunks: list[bytes] = []
    with anyio.fail_after(SAFETY_NET):
        async with await anyio.connect_tcp(target.host, target.port or 80) as stream:
            await stream.send(connection.send(request) + connection.send(h11.Data(data=body)))
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await stream.receive())
                elif isinstance(event, h11.Data):
                    assert event.chunk_start  # whole chunks, as framed
                    assert event.chunk_end
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
    assert chunks == [event + b"\n\n" for event in events]


def test_burst_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="burst_bytes"):
        Replay(JAPANESE_SSE, burst_bytes=0)


@pytest.mark.anyio
async def test_chunks_txt_replay_is_wrapped_the_openai_way(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    fixture = "dashscope/vercel__qwen-text.chunks.txt"
    lines = [line for line in (FIXTURES / fixture).read_bytes().splitlines() if line.strip()]
    response = await client.post(url(server, Replay(fixture)), json=STREAM)
    expected = b"".join(b"data: " + line + b"\n\n" for line in lines) + b"data: [DONE]\n\n"
    assert response.content == expected


@pytest.mark.anyio
async def test_json_replay_is_a_plain_body_with_its_status(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    ok = await client.post(url(server, Replay("openai/vercel__openai-text.json")), json={})
    assert ok.status_code == 200
    assert ok.content == (FIXTURES / "openai/vercel__openai-text.json").read_bytes()
    error_fixture = "openai/vercel__error-400-legacy-parameter.json"
    bad = await client.post(url(server, Replay(error_fixture, status=400)), json={})
    assert bad.status_code == 400
    assert bad.content == (FIXTURES / error_fixture).read_bytes()
    assert int(bad.headers["content-length"]) == len(bad.content)


@pytest.mark.anyio
async def test_missing_fixture_is_a_404_and_a_server_error() -> None:
    async with open_local_server() as server, httpx.AsyncClient() as client:
        response = await client.post(url(server, Replay("openai/missing.sse")), json=STREAM)
        assert response.status_code == 404
        assert "missing.sse" in response.json()["error"]["message"]
        assert len(server.errors) == 1
        escape = await client.post(url(server, Replay("../../etc/passwd.json")), json=STREAM)
        assert escape.status_code == 404


# Faults.


@pytest.mark.anyio
async def test_status_fault_with_retry_after(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    scenario = Synthetic(3, status=429, headers=(("retry-after", "1"),))
    response = await client.post(url(server, scenario), json=STREAM)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    fixture = "openai/vercel__error-400-legacy-parameter.json"
    with_body = await client.post(
        url(server, Synthetic(3, status=500, body_fixture=fixture)), json=STREAM
    )
    assert with_body.status_code == 500
    assert with_body.content == (FIXTURES / fixture).read_bytes()
    literal = await client.post(url(server, Synthetic(3, status=529, body='{"x":1}')), json=STREAM)
    assert (literal.status_code, literal.content, literal.reason_phrase) == (
        529,
        b'{"x":1}',
        "Overloaded",
    )


@pytest.mark.anyio
async def test_fail_times_counts_per_scenario_url(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    scenario = Synthetic(2, status=503, fail_times=2)
    statuses = [
        (await client.post(url(server, scenario), json=STREAM)).status_code for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    fresh = Synthetic(2, status=503, fail_times=2, tag="other test")
    assert (await client.post(url(server, fresh), json=STREAM)).status_code == 503
    cut_once = Synthetic(5, cut_after=1, fail_times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(url(server, cut_once), json=STREAM)
    assert len(chunks((await client.post(url(server, cut_once), json=STREAM)).content)) == 7


@pytest.mark.anyio
async def test_cut_after_aborts_mid_stream(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        async with client.stream(
            "POST", url(server, Synthetic(10, cut_after=3)), json=STREAM
        ) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line:
                    received.append(line)
    assert len(received) == 3
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until(lambda: server.streams_cut == 1)
    assert (server.streams_started, server.streams_completed, server.streams_aborted) == (1, 0, 0)


@pytest.mark.anyio
async def test_cut_with_reset_is_a_read_error(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    scenario = Synthetic(10, cut_after=2, cut_with_reset=True, stall_after=2, stall_seconds=0.05)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        async with client.stream("POST", url(server, scenario), json=STREAM) as response:
            async for _ in response.aiter_raw():
                pass


@pytest.mark.anyio
async def test_malformed_after_sends_one_broken_event(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(url(server, Synthetic(3, malformed_after=2)), json=STREAM)
    data = payloads(response.content)
    json.loads(data[0]), json.loads(data[1])
    with pytest.raises(json.JSONDecodeError):
        json.loads(data[2])
    assert data[-1] == "[DONE]"
    assert len(data) == 3 + 3 + 1


@pytest.mark.anyio
async def test_error_after_sends_the_providers_error_event_and_ends(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(url(server, Synthetic(3, error_after=2)), json=STREAM)
    data = payloads(response.content)
    assert len(data) == 3
    assert json.loads(data[-1])["error"]["type"] == "server_error"
    assert "[DONE]" not in data


@pytest.mark.anyio
@pytest.mark.autojump_clock
async def test_stall_then_resume(server: LocalProviderServer, client: httpx.AsyncClient) -> None:
    scenario = Synthetic(4, stall_after=2, stall_seconds=0.3)
    arrivals: list[float] = []
    start = anyio.current_time()
    async with client.stream("POST", url(server, scenario), json=STREAM) as response:
        async for line in response.aiter_lines():
            if line:
                arrivals.append(anyio.current_time() - start)
    assert len(arrivals) == 7
    assert arrivals[2] >= 0.29  # the stall comes before the third event, on any clock
    if on_virtual_clock():  # in virtual time: the first two at once, the rest after the stall
        assert arrivals[1] < 0.01
        assert arrivals[2] == pytest.approx(0.3, abs=0.005)


@pytest.mark.anyio
async def test_stall_forever_until_the_client_times_out(server: LocalProviderServer) -> None:
    scenario = Synthetic(4, stall_after=1)
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.2)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url(server, scenario), json=STREAM)
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until_idle()
    assert (server.streams_aborted, server.open_connections) == (1, 0)


@pytest.mark.anyio
async def test_non_streaming_faults(server: LocalProviderServer, client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(url(server, Synthetic(3, cut_after=0)), json={})
    broken = await client.post(url(server, Synthetic(3, malformed_after=0)), json={})
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)


# Connections and recording.


@pytest.mark.anyio
async def test_closing_the_response_early_aborts_the_stream(server: LocalProviderServer) -> None:
    async with httpx.AsyncClient() as client:
        async with client.stream(
            "POST", url(server, Synthetic(2000, pace_ms=2)), json=STREAM
        ) as response:
            # Leave by cancellation, not ``break``: httpx's nested async generators would be
            # abandoned half-way and trio warns about each (encode/httpx#3686); a cancellation
            # propagates through all of them and finishes them.
            with anyio.CancelScope() as reading:
                async for line in response.aiter_lines():
                    if '"content":"' in line:
                        reading.cancel()
        with anyio.fail_after(SAFETY_NET):
            await server.wait_until(lambda: server.streams_aborted == 1)
            await server.wait_until_idle()
    assert server.open_connections == 0
    assert (server.streams_started, server.streams_completed) == (1, 0)


@pytest.mark.anyio
async def test_keep_alive_reuses_one_connection(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        assert (await client.post(url(server, Synthetic(3)), json=STREAM)).status_code == 200
    # The client can read the last byte before the server task records the end.
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until(lambda: server.streams_completed == 3)
    assert (server.connections_accepted, server.open_connections) == (1, 1)


@pytest.mark.anyio
async def test_requests_are_recorded(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    scenario = Synthetic(1, tag="rec")
    await client.post(
        url(server, scenario) + "?api-version=1",
        json=STREAM,
        headers={"Authorization": "Bearer sk-test", "X-Custom": "yes"},
    )
    [request] = server.requests
    assert request.method == "POST"
    assert request.path.endswith("/v1/chat/completions")
    assert request.query == "api-version=1"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["x-custom"] == "yes"
    assert request.json == STREAM
    assert json.loads(request.body) == STREAM
    assert (request.scenario, request.provider) == (scenario, "openai")


@pytest.mark.anyio
async def test_chunked_request_body(server: LocalProviderServer, client: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"stream": true, '
        yield b'"model": "chunky"}'

    response = await client.post(url(server, Synthetic(1)), content=body())
    assert response.status_code == 200
    assert server.requests[0].headers["transfer-encoding"] == "chunked"
    assert server.requests[0].json == {"stream": True, "model": "chunky"}


@pytest.mark.anyio
async def test_http_errors(server: LocalProviderServer, client: httpx.AsyncClient) -> None:
    unknown = await client.post(server.root_url + "/v1/embeddings", json={})
    assert unknown.status_code == 404
    assert "embeddings" in unknown.json()["error"]["message"]
    bad_scenario = await client.post(server.root_url + "/_s/synthetic,deltas=x/v1/chat/completions")
    assert bad_scenario.status_code == 400
    not_json = await client.post(url(server), content=b"{nope")
    assert not_json.status_code == 400
    assert (await client.get(url(server))).status_code == 405
    health = await client.get(server.root_url + "/_health")
    assert health.json() == {"status": "ok"}


@pytest.mark.anyio
async def test_malformed_http_gets_400(server: LocalProviderServer) -> None:
    async with await anyio.connect_tcp(server.host, server.port) as stream:
        await stream.send(b"NOT HTTP AT ALL\r\n\r\n")
        reply = b""
        with anyio.fail_after(SAFETY_NET):
            while True:
                try:
                    reply += await stream.receive()
                except anyio.EndOfStream:
                    break
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert "Malformed" in json.loads(body)["error"]["message"]
    with anyio.fail_after(SAFETY_NET):
        await server.wait_until_idle()


@pytest.mark.anyio
async def test_leaving_the_server_closes_live_streams() -> None:
    async with httpx.AsyncClient() as client:
        async with open_local_server() as server:
            request = client.build_request(
                "POST", url(server, Synthetic(3, stall_after=1)), json=STREAM
            )
            response = await client.send(request, stream=True)
        with pytest.raises(httpx.RemoteProtocolError):
            await response.aread()
        await response.aclose()
    assert (server.streams_aborted, server.open_connections) == (1, 0)


# Other providers' wire formats.


def sse_events(body: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) per SSE event; CRLF or LF framing."""
    out: list[tuple[str | None, Any]] = []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        name = next((ln[7:] for ln in block.split("\n") if ln.startswith("event: ")), None)
        data = [ln[6:] for ln in block.split("\n") if ln.startswith("data: ")]
        if data:
            out.append((name, json.loads("\n".join(data))))
    return out


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/v1/messages",
        "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-x@1:streamRawPredict",
    ],
)
async def test_anthropic_synthetic_stream(
    server: LocalProviderServer, client: httpx.AsyncClient, path: str
) -> None:
    provider = "anthropic" if path == "/v1/messages" else "anthropic_vertex"
    base = server.base_url(Synthetic(3, tool_calls=1), provider=provider)
    target = base + path.removeprefix("/v1" if provider == "anthropic_vertex" else "")
    body = {"model": "claude-x@1", "max_tokens": 10, "stream": True, "messages": []}
    response = await client.post(target, json=body)
    events = sse_events(response.content)
    assert all(name == data["type"] for name, data in events)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0][1]["message"]["model"] == "claude-x@1"
    text = "".join(d["delta"]["text"] for _, d in events if d.get("delta", {}).get("text"))
    assert text == "The voice agent."
    arguments = "".join(
        d["delta"]["partial_json"] for _, d in events if "partial_json" in d.get("delta", {})
    )
    assert json.loads(arguments) == {"location": "Paris", "unit": "celsius"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert server.requests[-1].provider == "anthropic"


@pytest.mark.anyio
async def test_anthropic_non_streaming_error_and_replay(
    server: LocalProviderServer, client: httpx.AsyncClient
) -> None:
    base = server.base_url(Synthetic(2), provider="anthropic")
    message = (await client.post(base + "/v1/messages", json={"model": "c"})).json()
    assert message["content"] == [{"type": "text", "text": "The voice."}]
    assert message["stop_reason"] == "end_turn"
    overloaded = server.base_url(Synthetic(2, status=529), provider="anthropic")
    error = await client.post(overloaded + "/v1/messages", json={"stream": True})
    assert error.json()["error"]["type"] == "overloaded_error"
    fixture = "anthropic/vercel__anthropic-text.chunks.txt"
    replay = server.base_url(Replay(fixture), provider="anthropic")
    lines = [ln for ln in (FIXTURES / fixture).read_bytes().splitlines() if ln.strip()]
    body = (await client.post(replay + "/v1/messages", json={"stream": True})).content
    expected = b"".join(
        b"event: " + json.loads(ln)["type"].encode() + b"\ndata: " + ln + b"\n\n" for ln in lines
    )
    assert body == expected


@pytest.mark.anyio
async def test_gemini_formats(server: LocalProviderServer, client: httpx.AsyncClient) -> None:
    base = server.base_url(Synthetic(3, tool_calls=1), provider="google")
    models = base + "/v1beta/models/gemini-x"
    request = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    sse = await client.post(models + ":streamGenerateContent?alt=sse", json=request)
    assert sse.headers["content-type"].startswith("text/event-stream")
    assert sse.content.count(b"\r\n\r\n") == 5
    assert b'{"candidates": [{"content": {"parts": [{"text": "The"}]' in sse.content
    chunks_ = [data for _, data in sse_events(sse.content)]
    parts = [p for c in chunks_ for p in c["candidates"][0]["content"]["parts"]]
    assert "".join(p.get("text", "") for p in parts) == "The voice agent."
    assert parts[3]["functionCall"]["args"] == {"location": "Paris", "unit": "celsius"}
    assert chunks_[-1]["candidates"][0]["finishReason"] == "STOP"
    array = await client.post(models + ":streamGenerateContent", json=request)
    assert array.json() == chunks_
    whole = (await client.post(models + ":generateContent", json=request)).json()
    assert whole["candidates"][0]["content"]["parts"][0] == {"text": "The voice agent."}
    limited = server.base_url(Synthetic(1, status=429), provider="google")
    error = await client.post(limited + "/v1beta/models/g:generateContent", json=request)
    assert error.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    fixture = "gemini/vercel__google-text-gemini3.chunks.txt"
    replay = server.base_url(Replay(fixture), provider="google")
    body = (await client.post(replay + "/v1beta/models/g:streamGenerateContent?alt=sse")).content
    lines = [ln for ln in (FIXTURES / fixture).read_bytes().splitlines() if ln.strip()]
    assert body == b"".join(b"data: " + ln + b"\r\n\r\n" for ln in lines)


# Another process.


def test_spawned_server_process_serves() -> None:
    with spawn_server_process() as root:
        assert root.startswith("http://127.0.0.1:")
        base = scenario_base_url(root, Synthetic(3))
        response = httpx.post(base + "/chat/completions", json=STREAM, timeout=5)
        assert len(chunks(response.content)) == 5


def test_module_entry_point_prints_ready_and_exits_cleanly() -> None:
    package_root = str(Path(__file__).resolve().parents[1])
    with subprocess.Popen(
        [sys.executable, "-m", "pipeline.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=package_root,
    ) as child:
        assert child.stdout is not None
        word, url_text = child.stdout.readline().split()
        assert word == "READY"
        response = httpx.post(url_text + "/v1/chat/completions", json={"model": "m"}, timeout=5)
        assert response.json()["choices"][0]["message"]["content"] == DEMO_TEXT
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=5) == 0
