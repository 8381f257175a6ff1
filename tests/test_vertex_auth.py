"""Claude on Vertex AI end to end: the service-account JWT verifies at a token endpoint on
loopback, one token serves concurrent requests, an expired token is never sent, and token
endpoint failures are typed errors that hold neither the private key nor a token."""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pipeline import (
    AuthenticationError,
    ConfigurationError,
    FinalResponseChunk,
    RateLimitError,
    aclose_http_clients,
    generate_chat_completion,
    generate_chat_completion_stream,
)
from pipeline._validation import to_request
from pipeline.testing import (
    LocalProviderServer,
    Replay,
    Synthetic,
    decode_scenario,
    encode_scenario,
    open_local_server,
)
from pipeline.testing._token_endpoint import TokenEndpoint
from providers import codec_for

from ._expected_anthropic import assert_matches_anthropic
from ._service_account import EMAIL, credentials, private_pem, public_pem

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server(trusted_service_accounts={EMAIL: public_pem()}) as running:
        yield running
        await aclose_http_clients()
        assert running.errors == []


def request(server: LocalProviderServer, scenario: Any = None, **token: Any) -> dict[str, Any]:
    creds = credentials(token_uri=server.token_uri(**token))
    return {
        "provider": "anthropic_vertex",
        "model": "claude-sonnet-4-5@20250929",
        "messages": [{"role": "user", "content": "Hello"}],
        "provider_kwargs": {
            "anthropic_vertex": {
                "service_account_credentials": creds,
                "region": "us-east5",
                "base_url": server.base_url(scenario or Synthetic(4), "anthropic_vertex"),
            }
        },
    }


async def final(req: dict[str, Any]) -> Any:
    stream = await generate_chat_completion_stream(req)
    async with stream:
        chunks = [chunk async for chunk in stream]
    last = chunks[-1]
    assert isinstance(last, FinalResponseChunk)
    return last.response


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vertex_requests(server: LocalProviderServer) -> list[Any]:
    return [r for r in server.requests if "/publishers/anthropic/" in r.path]


async def test_the_assertion_verifies_and_the_token_is_sent(server: LocalProviderServer) -> None:
    response = await final(request(server))
    assert response.finish_reason == "stop"
    assert response.provider == "anthropic_vertex"
    assert server.token_requests == 1
    token_request = next(r for r in server.requests if r.path.endswith("/token"))
    form = {k: v[0] for k, v in parse_qs(token_request.body.decode()).items()}
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    head, claims, signature = form["assertion"].split(".")
    public = rsa_public()
    public.verify(
        unb64(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    header = json.loads(unb64(head))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": credentials()["private_key_id"]}
    payload = json.loads(unb64(claims))
    assert payload["iss"] == EMAIL
    assert payload["aud"] == server.token_uri()
    assert payload["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert payload["exp"] - payload["iat"] == 3600
    (sent,) = vertex_requests(server)
    assert sent.path.endswith(
        "/projects/test-project/locations/us-east5/publishers/anthropic/models/"
        "claude-sonnet-4-5@20250929:streamRawPredict"
    )
    assert sent.headers["authorization"] == f"Bearer {server.token_endpoint.issued[0]}"
    assert sent.json["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in sent.json


def rsa_public() -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(public_pem())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


async def test_fifty_concurrent_requests_share_one_token(server: LocalProviderServer) -> None:
    req = request(server)
    results: list[str] = []

    async def one() -> None:
        results.append((await final(req)).finish_reason)

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(one)
    assert results == ["stop"] * 50
    assert server.token_requests == 1
    tokens = {r.headers["authorization"] for r in vertex_requests(server)}
    assert len(vertex_requests(server)) == 50
    assert tokens == {f"Bearer {server.token_endpoint.issued[0]}"}
    # Non-streaming requests use the same cached token.
    await generate_chat_completion(req)
    assert server.token_requests == 1


@pytest.mark.autojump_clock
async def test_an_expired_token_is_refreshed_and_never_sent(server: LocalProviderServer) -> None:
    # Four-second tokens, renewed half-way; the server refuses any token past its expiry (401).
    # Virtual time on trio; on asyncio a first request delayed 4 s would be needed to fail it.
    req = request(server, expires_in=4)
    await final(req)
    await anyio.sleep(4.5)  # past its expiry: sending it would get a 401
    await final(req)
    assert server.token_requests == 2
    first, second = (r.headers["authorization"] for r in vertex_requests(server))
    issued = server.token_endpoint.issued
    assert (first, second) == (f"Bearer {issued[0]}", f"Bearer {issued[1]}")


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (401, False), (503, True)])
async def test_a_token_endpoint_error_is_an_authentication_error_without_secrets(
    server: LocalProviderServer, status: int, retryable: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    req = request(server, fail=status)
    req["retry"] = {"enabled": False}
    with pytest.raises(AuthenticationError) as info:
        await final(req)
    error = info.value
    assert error.provider == "anthropic_vertex"
    assert error.status_code == status
    assert error.retryable is retryable
    assert EMAIL in str(error)
    assert vertex_requests(server) == []
    key_body = private_pem().splitlines()[5]
    for text in (str(error), repr(error), repr(error.args), caplog.text, repr(to_request(req))):
        assert key_body not in text
        assert "ya29." not in text
        assert "eyJ" not in text  # no JWT assertion either


async def test_concurrent_requests_share_one_failed_fetch(server: LocalProviderServer) -> None:
    req = request(server, fail=401)
    req["retry"] = {"enabled": False}
    failures: list[BaseException] = []

    async def one() -> None:
        try:
            await final(req)
        except AuthenticationError as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(one)
    assert len(failures) == 10
    assert all(f.status_code == 401 for f in failures)  # type: ignore[attr-defined]
    assert server.token_requests == 1
    with pytest.raises(AuthenticationError):  # a failure is not cached: a later request asks
        await final(req)
    assert server.token_requests == 2


async def test_an_untrusted_key_is_refused_by_the_token_endpoint() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    async with open_local_server(trusted_service_accounts={EMAIL: other}) as server:
        req = request(server)
        with pytest.raises(AuthenticationError, match="Invalid JWT Signature"):
            await final(req)
        assert server.token_requests == 1
        assert server.token_endpoint.issued == []
        await aclose_http_clients()


async def test_vertex_errors_wrapped_in_an_array_are_understood(
    server: LocalProviderServer,
) -> None:
    body = json.dumps(
        [
            {
                "error": {
                    "code": 429,
                    "message": "Quota exceeded for aiplatform.googleapis.com/online_prediction",
                    "status": "RESOURCE_EXHAUSTED",
                }
            }
        ]
    )
    req = request(server, Synthetic(3, status=429, body=body))
    req["retry"] = {"enabled": False}
    with pytest.raises(RateLimitError) as info:
        await final(req)
    assert info.value.provider_message.startswith("Quota exceeded")
    assert info.value.error_type == "RESOURCE_EXHAUSTED"
    assert info.value.error_code == "429"


async def test_the_server_refuses_requests_without_a_token_it_issued(
    server: LocalProviderServer,
) -> None:
    # The check the refresh test relies on: a made-up bearer token gets Google's 401.
    url = server.base_url(Synthetic(3), "anthropic_vertex")
    path = "/projects/p/locations/global/publishers/anthropic/models/m:streamRawPredict"
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url + path, json={}, headers={"authorization": "Bearer ya29.x"}
        )
    assert response.status_code == 401
    assert response.json()[0]["error"]["status"] == "UNAUTHENTICATED"


def test_reprs_of_the_request_spec_and_authorizer_hide_the_key() -> None:
    req = to_request(
        {
            "provider": "anthropic_vertex",
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "provider_kwargs": {"anthropic_vertex": {"service_account_credentials": credentials()}},
        }
    )
    spec = codec_for("anthropic_vertex").build_request(req, stream=True)
    assertion = spec.authorizer.assertion(1_700_000_000)  # type: ignore[union-attr]
    key_body = private_pem().splitlines()[5]
    for text in (repr(spec), repr(spec.authorizer), repr(req)):
        assert key_body not in text
        assert assertion not in text
    assert "<redacted>" in repr(spec.authorizer)


@pytest.mark.parametrize(
    "name",
    [
        "anthropic/vercel__anthropic-thinking.chunks.txt",
        "anthropic/vercel__anthropic-parallel-tools-3.chunks.txt",
        "anthropic/vercel__anthropic-cache-write.chunks.txt",
    ],
)
async def test_recorded_streams_replay_over_vertex(server: LocalProviderServer, name: str) -> None:
    response = await final(request(server, Replay(fixture=name, slice_bytes=7)))
    assert_matches_anthropic(response, name)
    assert response.provider == "anthropic_vertex"
    assert all(block.provider == "anthropic_vertex" for block in response.message.reasoning or ())


def test_the_token_endpoint_checks_grant_and_claims() -> None:
    endpoint = TokenEndpoint({EMAIL: public_pem()})
    req = to_request(
        {
            "provider": "anthropic_vertex",
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "provider_kwargs": {
                "anthropic_vertex": {
                    "service_account_credentials": credentials(
                        token_uri=TokenEndpoint.uri("http://127.0.0.1:1")
                    )
                }
            },
        }
    )
    authorizer = codec_for("anthropic_vertex").build_request(req, stream=True).authorizer
    assert authorizer is not None
    good = authorizer.token_request(1_700_000_000)
    answer = endpoint.answer("", good.body, now=10.0)
    assert answer.status == 200
    token = json.loads(answer.body)["access_token"]
    assert endpoint.accepts(f"Bearer {token}", now=10.0 + 3598)
    assert not endpoint.accepts(f"Bearer {token}", now=10.0 + 3599)
    assert not endpoint.accepts("Bearer ya29.unknown", now=10.0)
    wrong_grant = good.body.replace(b"jwt-bearer", b"password")
    assert (
        json.loads(endpoint.answer("", wrong_grant, now=0).body)["error"]
        == "unsupported_grant_type"
    )
    tampered = good.body[:-8] + b"AAAAAAAA"
    assert json.loads(endpoint.answer("", tampered, now=0).body)["error"] == "invalid_grant"
    assert endpoint.token_requests == 3
    grant = authorizer.read_token_response(200, answer.body)
    assert grant.headers == {"authorization": f"Bearer {token}"}
    assert token not in repr(grant)


def test_synthetic_thinking_fields_survive_the_url() -> None:
    spec = Synthetic(3, thoughts=2, redacted_thinking=1, tool_calls=1)
    assert "redacted_thinking=1" in encode_scenario(spec)
    assert decode_scenario(encode_scenario(spec)) == spec


# ---------------------------------------------------------------- GOOGLE_APPLICATION_CREDENTIALS


def without_credentials(req: dict[str, Any]) -> dict[str, Any]:
    del req["provider_kwargs"]["anthropic_vertex"]["service_account_credentials"]
    return req


def key_file_in_environment(
    server: LocalProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(credentials(token_uri=server.token_uri())))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    return key_file


async def test_the_key_file_named_by_the_environment_is_used(
    server: LocalProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file_in_environment(server, tmp_path, monkeypatch)
    response = await final(without_credentials(request(server)))
    assert response.finish_reason == "stop"
    assert server.token_requests == 1
    (sent,) = vertex_requests(server)
    assert "/projects/test-project/" in sent.path  # the key file's project_id
    assert sent.headers["authorization"] == f"Bearer {server.token_endpoint.issued[0]}"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot be read"),
        ('{"type": "service_account", "private_key": "-----BEGIN', "is not a JSON key file"),
        ('{"type": "authorized_user", "refresh_token": "1//secret"}', "'authorized_user'"),
        ("[1, 2]", "of type None"),
    ],
)
async def test_a_bad_key_file_is_a_configuration_error_without_its_content(
    server: LocalProviderServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str | None,
    expected: str,
) -> None:
    key_file = tmp_path / "key.json"
    if content is not None:
        key_file.write_text(content)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    with pytest.raises(ConfigurationError) as info:
        await generate_chat_completion_stream(without_credentials(request(server)))
    message = str(info.value)
    assert expected in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message
    assert str(key_file) in message
    assert "BEGIN" not in message
    assert "secret" not in message
    assert vertex_requests(server) == []


async def test_a_replaced_key_file_is_read_again(
    server: LocalProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = key_file_in_environment(server, tmp_path, monkeypatch)
    await final(without_credentials(request(server)))
    key_file.write_text(json.dumps({"type": "authorized_user"}))
    os.utime(key_file, ns=(1, 1))  # another version, whatever the clock's resolution
    with pytest.raises(ConfigurationError, match="authorized_user"):
        await generate_chat_completion_stream(without_credentials(request(server)))


async def test_given_credentials_win_over_the_environment(
    server: LocalProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    response = await final(request(server))
    assert response.finish_reason == "stop"


async def test_no_credentials_at_all_names_both_ways(
    server: LocalProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(ConfigurationError) as info:
        await generate_chat_completion_stream(without_credentials(request(server)))
    assert "service_account_credentials" in str(info.value)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(info.value)
