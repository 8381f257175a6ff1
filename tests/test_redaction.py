"""Secrets (API keys, service-account credentials) never show in reprs, errors or output."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline._converter import problems_of
from pipeline._errors import RequestValidationError
from pipeline._serialization import serialize_conversation
from pipeline._types import (
    ChatCompletionRequest,
    CompletionsProvider,
    FallbackRequest,
    UserMessage,
)
from pipeline._validation import to_request

from ._requests import minimal_request as base

API_KEY = "sk-proj-SECRETSECRETSECRET1234"
FALLBACK_KEY = "sk-ant-OTHERSECRETOTHERSECRET5678"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBg"
CREDENTIALS = {"type": "service_account", "private_key": PRIVATE_KEY, "client_email": "a@b.c"}
SECRETS = (API_KEY, FALLBACK_KEY, PRIVATE_KEY, "SECRETSECRET", "OTHERSECRET", "MIIEvQ")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def vertex_kwargs(credentials: Any = CREDENTIALS) -> Any:
    return {"anthropic_vertex": {"project_id": "p", "service_account_credentials": credentials}}


def full_request() -> ChatCompletionRequest:
    return ChatCompletionRequest(
        provider=CompletionsProvider.OPENAI,
        api_key=API_KEY,
        model="gpt",
        messages=[UserMessage("hi")],
        fallbacks=[
            FallbackRequest(
                provider=CompletionsProvider.ANTHROPIC_VERTEX,
                api_key=FALLBACK_KEY,
                provider_kwargs=vertex_kwargs(),
            )
        ],
        provider_kwargs=vertex_kwargs(),
    )


# ---------------------------------------------------------------- reprs


def test_request_repr_and_str_show_only_a_redacted_key() -> None:
    request = full_request()
    for text in (repr(request), str(request)):
        assert_no_secret(text)
        assert "api_key='sk-…1234'" in text
        assert "api_key='sk-…5678'" in text
        assert "'service_account_credentials': <redacted>" in text
        assert "model='gpt'" in text


def test_fallback_repr_and_str_show_only_a_redacted_key() -> None:
    fallback = FallbackRequest(api_key=FALLBACK_KEY, provider_kwargs=vertex_kwargs())
    for text in (repr(fallback), str(fallback)):
        assert_no_secret(text)
        assert "api_key='sk-…5678'" in text
        assert "<redacted>" in text


def test_short_key_is_not_shown_at_all() -> None:
    text = repr(FallbackRequest(api_key="sk-short"))
    assert "sk-short" not in text
    assert "api_key='…'" in text


def test_validated_request_keeps_its_redacted_repr() -> None:
    request = to_request(full_request())
    assert request.api_key == API_KEY
    assert_no_secret(repr(request))
    assert_no_secret(repr(request.fallbacks))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=60))
def test_no_key_appears_in_any_repr(body: str) -> None:
    key = "sk-" + body
    request = ChatCompletionRequest(
        CompletionsProvider.OPENAI,
        key,
        "m",
        [UserMessage("x")],
        fallbacks=[FallbackRequest(api_key=key)],
    )
    text = repr(request)
    assert key not in text
    assert body[:-4] not in text
    # At most the prefix and the last four characters, never more.
    shown = re.findall(r"api_key='([^']*)'", text)
    assert shown == [f"sk-…{key[-4:]}"] * 2


# ---------------------------------------------------------------- validation errors


def problems(data: Any) -> tuple[str, ...]:
    with pytest.raises(RequestValidationError) as info:
        to_request(data)
    assert_no_secret(str(info.value))
    assert_no_secret(repr(info.value))
    return info.value.problems


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"api_key": 12345}, "api_key: expected str, got int"),
        ({"api_key": [API_KEY]}, "api_key: expected str, got list"),
        ({"api_key": API_KEY.encode()}, "api_key: expected str, got bytes"),
        ({"fallbacks": [{"api_key": 98765}]}, "fallbacks[0].api_key: expected str, got int"),
        (
            {"provider_kwargs": vertex_kwargs(PRIVATE_KEY)},
            "provider_kwargs.anthropic_vertex.service_account_credentials: expected dict, got str",
        ),
        (
            {"fallbacks": [{"provider_kwargs": vertex_kwargs(PRIVATE_KEY)}]},
            "fallbacks[0].provider_kwargs.anthropic_vertex.service_account_credentials: "
            "expected dict, got str",
        ),
    ],
)
def test_type_errors_on_secrets_name_the_type_only(changes: dict[str, Any], expected: str) -> None:
    assert problems(base(**changes)) == (expected,)


def test_int_key_value_is_not_echoed() -> None:
    found = problems(base(api_key=987654321987))
    assert "987654321987" not in " ".join(found)


def test_errors_beside_a_valid_key_do_not_show_it() -> None:
    found = problems(
        base(
            api_key=API_KEY,
            provider="openia",
            temperature="hot",
            provider_kwargs=vertex_kwargs() | {"openai": {"service_tier": "x"}},
            fallbacks=[{"api_key": FALLBACK_KEY, "timeout": 0}],
        )
    )
    assert len(found) == 4
    assert "fallbacks[0].timeout: must be positive" in found


def test_typed_request_errors_do_not_show_the_key() -> None:
    request = full_request()
    request.max_tokens = 0
    assert problems(request) == ("max_tokens: must be a positive integer",)


def test_unexpected_hook_failures_hide_secret_values_too() -> None:
    failure = ValueError(f"could not use {API_KEY}")
    assert problems_of(failure, "fallbacks[0].api_key") == [
        "fallbacks[0].api_key: invalid (ValueError)"
    ]
    # Elsewhere the detail is shown, but a key-like token in it is still redacted.
    assert problems_of(failure, "model") == ["model: invalid (could not use sk-…1234)"]
    assert problems_of(ValueError("bad thing"), "model") == ["model: invalid (bad thing)"]


def test_validation_error_is_not_chained_to_exceptions_holding_values() -> None:
    with pytest.raises(RequestValidationError) as info:
        to_request(base(api_key=12345, temperature="hot"))
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


# ---------------------------------------------------------------- serialized output


def test_serialized_conversation_of_a_request_carries_no_secret() -> None:
    request = to_request(full_request())
    output = json.dumps(serialize_conversation(request.messages))
    assert_no_secret(output)
    assert output == '[{"role": "user", "content": "hi"}]'
