"""Secrets a request carries are hidden by value wherever a provider echoes them.

A key too short to look like one (``sk-short-12``) is found by its value, not its look: once
an error is redacted with the call's :class:`KnownSecrets`, the key is absent from ``str``,
``repr``, ``provider_message``, a pickle, a traceback (causes included) and the log.
"""

from __future__ import annotations

import json
import logging
import pickle
import traceback
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import (
    AllAttemptsFailedError,
    AuthenticationError,
    CompletionsProvider,
    ProviderConnectionError,
    ProviderError,
    aclose_http_clients,
    generate_chat_completion,
    generate_chat_completion_stream,
)
from pipeline._errors import ProtocolError
from pipeline._secrets import KnownSecrets, header_secrets, redact_known, request_secrets
from pipeline._types import ChatCompletionRequest, FallbackRequest, UserMessage
from pipeline._validation import to_request
from pipeline.testing import LocalProviderServer, Synthetic, open_local_server
from providers import codec_for
from providers._base import status_error

SHORT_KEY = "sk-short-12"
FALLBACK_KEY = "sk-short-34"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n"


def openai_401(key: str) -> str:
    message = f"Incorrect API key provided: {key}. You can find your API key at https://x."
    return json.dumps({"error": {"message": message, "type": "invalid_request_error"}})


def anthropic_401(key: str) -> str:
    error = {"type": "authentication_error", "message": f"invalid x-api-key: {key}"}
    return json.dumps({"type": "error", "error": error})


def exposures(error: BaseException) -> dict[str, str]:
    """Every form in which an error reaches a person or a file."""
    return {
        "str": str(error),
        "repr": repr(error),
        "args": repr(error.args),
        "provider_message": str(getattr(error, "provider_message", "")),
        "traceback": "".join(traceback.format_exception(error)),
        "pickle": repr(pickle.dumps(error)),
        "unpickled": repr(pickle.loads(pickle.dumps(error))),
    }


def library_log(caplog: pytest.LogCaptureFixture) -> str:
    # Only the library's own logger: the scenario (this key in its body) is spelled in the
    # local server's URL, which httpx logs as any URL.
    return "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith("pipeline")
    )


def assert_hidden(error: BaseException, *secrets: str) -> None:
    for form, text in exposures(error).items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} shows in {form}: {text}"


# ---------------------------------------------------------------- the secrets of a call


def vertex_request() -> ChatCompletionRequest:
    # Built as dataclasses: the set is taken from whatever a request holds, even options a
    # provider's validation would refuse (a header dict, a token).
    credentials: dict[str, Any] = {
        "client_email": "bot@my-project.iam.gserviceaccount.com",
        "private_key": PRIVATE_KEY,
        "private_key_id": "abc123",
    }
    return ChatCompletionRequest(
        provider=CompletionsProvider.OPENAI,
        api_key=SHORT_KEY,
        model="m",
        messages=[UserMessage("hi")],
        provider_kwargs={  # type: ignore[arg-type]
            "anthropic_vertex": {
                "project_id": "my-project",
                "service_account_credentials": credentials,
            },
            "openai": {"headers": {"Authorization": "Bearer tok-9"}, "access_token": ["at-1"]},
        },
        fallbacks=[FallbackRequest(provider=CompletionsProvider.ANTHROPIC, api_key=FALLBACK_KEY)],
    )


def test_a_call_knows_every_key_token_and_private_key_it_carries() -> None:
    secrets = request_secrets(vertex_request())
    for secret in (SHORT_KEY, FALLBACK_KEY, PRIVATE_KEY, "tok-9", "Bearer tok-9", "at-1"):
        assert secret in secrets
    # An identity, an id and a project are not secrets: hiding them would only garble errors.
    for shown in ("bot@my-project.iam.gserviceaccount.com", "abc123", "my-project", "m"):
        assert shown not in secrets


def test_the_keys_a_codec_put_in_the_headers_are_known_too() -> None:
    # A key from the environment never sits in the request: the built headers carry it.
    secrets = header_secrets({"Authorization": "Bearer env-key-1", "x-api-key": "ant-2"})
    assert "env-key-1" in secrets
    assert "ant-2" in secrets
    assert "Bearer" not in secrets
    both = request_secrets(vertex_request(), headers=[{"x-goog-api-key": "goog-3"}])
    assert "goog-3" in both
    assert SHORT_KEY in both


def test_the_set_itself_never_shows_or_serializes() -> None:
    secrets = request_secrets(vertex_request())
    assert SHORT_KEY not in repr(secrets)
    assert SHORT_KEY not in str(secrets)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secrets)
    assert not KnownSecrets(["", None])  # type: ignore[list-item]
    assert KnownSecrets(["a"]) | KnownSecrets(["b"]) == KnownSecrets(["a", "b"])


def test_text_keeps_all_but_the_secrets() -> None:
    secrets = KnownSecrets([SHORT_KEY, "sk-proj-LONGSECRETLONGSECRET9876"])
    text = f"key {SHORT_KEY}, then sk-proj-LONGSECRETLONGSECRET9876 and {SHORT_KEY}x"
    assert secrets.redact_text(text) == "key …, then sk-…9876 and …x"


def test_a_secret_inside_another_is_hidden_with_it() -> None:
    secrets = KnownSecrets(["tok-9", "Bearer tok-9"])
    assert secrets.redact_text("sent Bearer tok-9") == "sent …"


@given(
    st.lists(st.text(alphabet="ab-12", min_size=1, max_size=6), min_size=1, max_size=4),
    st.text(alphabet="ab-12 x", max_size=40),
)
def test_no_secret_survives_and_redacting_twice_changes_nothing(
    values: list[str], text: str
) -> None:
    secrets = KnownSecrets(values)
    once = secrets.redact_text(text)
    assert not any(value in once for value in values)
    assert secrets.redact_text(once) == once


# ---------------------------------------------------------------- redacting an error


def echoed_error(key: str = SHORT_KEY) -> ProviderError:
    message = f"Incorrect API key provided: {key}"
    return status_error(
        provider="openai",
        status_code=401,
        headers={"x-request-id": "req_1"},
        message=message,
        error_type="invalid_request_error",
    )


def test_an_echoed_short_key_shows_until_the_error_is_redacted() -> None:
    error = echoed_error()
    assert SHORT_KEY in str(error)  # too short to look like a key: only its value finds it
    error.redact(KnownSecrets([SHORT_KEY]))
    assert_hidden(error, SHORT_KEY)
    assert error.provider_message == "Incorrect API key provided: …"
    assert str(error) == (
        "openai returned HTTP 401: Incorrect API key provided: … "
        "(provider=openai, status=401, type=invalid_request_error, request_id=req_1)"
    )
    assert isinstance(error, AuthenticationError)
    assert error.status_code == 401
    assert error.retryable is False


def test_redacting_is_idempotent_and_keeps_the_other_attributes() -> None:
    error = echoed_error()
    error.partial_response = None
    secrets = KnownSecrets([SHORT_KEY])
    error.redact(secrets)
    before = dict(error.__dict__), error.args
    error.redact(secrets)
    assert (dict(error.__dict__), error.args) == before
    restored = pickle.loads(pickle.dumps(error))
    assert str(restored) == str(error)
    assert restored.request_id == "req_1"


def test_causes_notes_and_every_attempt_are_redacted() -> None:
    first, second = echoed_error(SHORT_KEY), echoed_error(FALLBACK_KEY)
    transport = httpx.ConnectError(f"refused while sending {FALLBACK_KEY}")
    connection = ProviderConnectionError("could not connect", provider="anthropic")
    connection.__cause__ = transport
    transport.add_note(f"note quoting {SHORT_KEY}")
    final = AllAttemptsFailedError([first, second, connection])
    assert SHORT_KEY in str(final)
    redact_known(final, KnownSecrets([SHORT_KEY, FALLBACK_KEY]))
    assert_hidden(final, SHORT_KEY, FALLBACK_KEY)
    for error in final.errors:
        assert_hidden(error, SHORT_KEY, FALLBACK_KEY)
    assert "attempt 2: AuthenticationError: openai returned HTTP 401" in str(final)
    assert "refused while sending …" in "".join(traceback.format_exception(connection))


def test_an_error_quoting_no_secret_is_left_as_it_was() -> None:
    error = ProtocolError("bad JSON", provider="openai", offset=7)
    redact_known(error, KnownSecrets([SHORT_KEY]))
    assert str(error) == "bad JSON (at byte 7) (provider=openai)"
    assert error.offset == 7


# ---------------------------------------------------------------- over a socket


@pytest.fixture
async def server() -> AsyncIterator[LocalProviderServer]:
    async with open_local_server() as running:
        yield running
        await aclose_http_clients()


def request(base_url: str, key: str = SHORT_KEY, provider: str = "openai", **extra: Any) -> Any:
    return {
        "provider": provider,
        "api_key": key,
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "provider_kwargs": {provider: {"base_url": base_url}},
        "retry": {"enabled": False},
        **extra,
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("provider", "body"), [("openai", openai_401), ("anthropic", anthropic_401)]
)
async def test_the_codec_error_of_a_real_401_is_redacted_by_the_call_secrets(
    server: LocalProviderServer, provider: str, body: Any
) -> None:
    # The seam the attempt path uses: the codec's typed error for a 401 whose body (sent by a
    # server over a socket) echoes the key, then the call's secrets applied to it.
    url = server.base_url(Synthetic(deltas=1, status=401, body=body(SHORT_KEY)), provider=provider)
    typed = to_request(request(url, provider=provider))
    codec = codec_for(CompletionsProvider(provider))
    spec = codec.build_request(typed, stream=True)
    async with httpx.AsyncClient() as client:
        response = await client.request(
            spec.method, spec.url, headers=dict(spec.headers), content=spec.body
        )
    error = codec.decode_error(response.status_code, response.headers, response.content)
    assert SHORT_KEY in str(error)
    assert SHORT_KEY in (error.provider_message or "")
    error.redact(request_secrets(typed, headers=[spec.headers]))
    assert isinstance(error, AuthenticationError)
    assert_hidden(error, SHORT_KEY)


# Strict: once the attempt path calls ``error.redact(request_secrets(...))`` on every error
# leaving an attempt, these pass, and the marker must go.
@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [True, False])
async def test_an_echoed_short_key_never_reaches_the_caller(
    server: LocalProviderServer, streaming: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pipeline")
    url = server.base_url(Synthetic(deltas=1, status=401, body=openai_401(SHORT_KEY)))
    with pytest.raises(AuthenticationError) as info:
        if streaming:
            stream = await generate_chat_completion_stream(request(url))
            async with stream:
                _ = [chunk async for chunk in stream]
        else:
            await generate_chat_completion(request(url))
    assert info.value.status_code == 401
    assert_hidden(info.value, SHORT_KEY)
    assert SHORT_KEY not in library_log(caplog)


@pytest.mark.anyio
async def test_no_key_of_any_attempt_reaches_the_caller_or_the_log(
    server: LocalProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pipeline")
    first = server.base_url(Synthetic(deltas=1, status=401, body=openai_401(SHORT_KEY)))
    second = server.base_url(
        Synthetic(deltas=1, status=401, body=anthropic_401(FALLBACK_KEY)), provider="anthropic"
    )
    fallback = {
        "provider": "anthropic",
        "api_key": FALLBACK_KEY,
        "provider_kwargs": {"anthropic": {"base_url": second}},
    }
    stream = await generate_chat_completion_stream(request(first, fallbacks=[fallback]))
    with pytest.raises(AllAttemptsFailedError) as info:
        async with stream:
            _ = [chunk async for chunk in stream]
    assert [type(e) for e in info.value.errors] == [AuthenticationError, AuthenticationError]
    assert_hidden(info.value, SHORT_KEY, FALLBACK_KEY)
    for error in info.value.errors:
        assert_hidden(error, SHORT_KEY, FALLBACK_KEY)
    assert SHORT_KEY not in library_log(caplog)
    assert FALLBACK_KEY not in library_log(caplog)
