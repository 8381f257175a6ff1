"""OpenAI request mapping, error bodies, key and base-URL resolution."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline import (
    AssistantMessage,
    AuthenticationError,
    ChatCompletionRequest,
    CompletionsProvider,
    ConfigurationError,
    FunctionCall,
    FunctionDefinition,
    ProviderStatusError,
    RateLimitError,
    ServerError,
    SystemMessage,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)
from providers import codec_for
from providers.alibaba import alibaba_codec
from providers.openai import OpenAICodec, is_reasoning_model

from .conftest import FIXTURES

WEATHER = ToolDefinition(
    type="function",
    function=FunctionDefinition(
        name="get_weather",
        description="Weather for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
        strict=True,
    ),
)


def request(**changes: Any) -> ChatCompletionRequest:
    base: dict[str, Any] = {
        "provider": CompletionsProvider.OPENAI,
        "api_key": "sk-test-0123456789abcdef",
        "model": "gpt-4o",
        "messages": [UserMessage("Hi")],
    }
    base.update(changes)
    return ChatCompletionRequest(**base)


def body(req: ChatCompletionRequest, *, stream: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(OpenAICodec().build_body(req, stream=stream))
    return result


def test_every_message_kind() -> None:
    messages = [
        SystemMessage("Be brief."),
        UserMessage("Weather in Paris?"),
        AssistantMessage(
            content=None,
            tool_calls=[
                ToolCall("call_1", "function", FunctionCall({"city": "Paris"}, "get_weather"))
            ],
        ),
        ToolResultMessage("call_1", {"temp_c": 18}, name="get_weather"),
        AssistantMessage(content="It is 18 °C."),
    ]
    assert body(request(messages=messages))["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'},
        {"role": "assistant", "content": "It is 18 °C."},
    ]


def test_streaming_asks_for_usage_and_plain_calls_do_not() -> None:
    assert body(request())["stream"] is True
    assert body(request())["stream_options"] == {"include_usage": True}
    assert "stream" not in body(request(), stream=False)
    assert "stream_options" not in body(request(), stream=False)


def test_tools_and_strict_flag() -> None:
    sent = body(request(tools=[WEATHER]))
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": True,
            },
        }
    ]


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_every_tool_choice_form(choice: str, wire: Any) -> None:
    assert body(request(tools=[WEATHER], tool_choice=choice))["tool_choice"] == wire


def test_temperature_zero_is_sent_and_none_is_omitted() -> None:
    assert body(request(temperature=0.0))["temperature"] == 0.0
    assert "temperature" not in body(request())


def test_max_tokens_for_chat_models_and_max_completion_tokens_for_reasoning_models() -> None:
    assert body(request(max_tokens=50))["max_tokens"] == 50
    sent = body(request(model="o3-mini", max_tokens=50, temperature=0.2))
    assert sent["max_completion_tokens"] == 50
    assert "max_tokens" not in sent
    assert "temperature" not in sent  # reasoning models reject it


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("o1", True),
        ("o3-mini", True),
        ("o4-mini", True),
        ("gpt-5", True),
        ("gpt-5-chat-latest", False),
        ("gpt-4o", False),
        ("gpt-4.1-nano", False),
    ],
)
def test_reasoning_model_detection(model: str, reasoning: bool) -> None:
    assert is_reasoning_model(model) is reasoning


def test_response_schema_becomes_json_schema_response_format() -> None:
    schema = {"title": "Weather report", "type": "object", "properties": {}}
    assert body(request(response_schema=schema))["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Weather_report", "schema": schema},
    }


def test_service_tier_and_reasoning_effort_from_provider_kwargs() -> None:
    sent = body(
        request(provider_kwargs={"openai": {"service_tier": "flex", "reasoning_effort": "low"}})
    )
    assert sent["service_tier"] == "flex"
    assert sent["reasoning_effort"] == "low"


def test_headers_url_and_redacted_repr() -> None:
    spec = OpenAICodec().build_request(request(), stream=True)
    assert spec.url == "https://api.openai.com/v1/chat/completions"
    assert spec.headers["authorization"] == "Bearer sk-test-0123456789abcdef"
    assert "sk-test" not in repr(spec)


def test_base_url_from_kwargs_then_environment_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    codec = OpenAICodec()
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.example/v1/")
    assert codec.base_url(request()) == "http://env.example/v1"
    kwargs = {"openai": {"base_url": "http://kw.example/v1"}}
    assert codec.base_url(request(provider_kwargs=kwargs)) == "http://kw.example/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert codec.base_url(request()) == "https://api.openai.com/v1"


def test_key_from_environment_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-0123456789abcdef")
    spec = OpenAICodec().build_request(request(api_key=None), stream=True)
    assert spec.headers["authorization"] == "Bearer sk-env-0123456789abcdef"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAICodec().build_request(request(api_key=None), stream=True)


def test_real_error_body_becomes_a_typed_error() -> None:
    raw = (FIXTURES / "openai/vercel__error-400-legacy-parameter.json").read_bytes()
    error = OpenAICodec().decode_error(400, {"x-request-id": "req_1"}, raw)
    assert type(error) is ProviderStatusError
    assert error.status_code == 400
    assert not error.retryable
    assert error.error_code == "unsupported_parameter"
    assert error.request_id == "req_1"
    assert error.provider_message is not None
    assert error.provider_message.startswith("Unsupported parameter: 'max_tokens'")


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retryable", "retry_after"),
    [
        (401, {}, AuthenticationError, False, None),
        (429, {"retry-after": "2"}, RateLimitError, True, 2.0),
        (429, {"retry-after-ms": "1500", "retry-after": "9"}, RateLimitError, True, 1.5),
        (500, {}, ServerError, True, None),
        (529, {}, ServerError, True, None),
        (409, {}, ProviderStatusError, True, None),
        (500, {"x-should-retry": "false"}, ServerError, False, None),
    ],
)
def test_status_mapping(
    status: int, headers: dict[str, str], kind: type, retryable: bool, retry_after: float | None
) -> None:
    error = OpenAICodec().decode_error(status, headers, b'{"error": {"message": "nope"}}')
    assert type(error) is kind
    assert error.retryable is retryable
    assert error.retry_after == retry_after
    assert "nope" in str(error)


def test_insufficient_quota_is_not_retried() -> None:
    raw = b'{"error": {"message": "quota", "code": "insufficient_quota"}}'
    assert not OpenAICodec().decode_error(429, {}, raw).retryable


def test_non_json_error_body_keeps_its_text() -> None:
    error = OpenAICodec().decode_error(502, {}, b"<html>Bad gateway</html>")
    assert error.provider_message == "<html>Bad gateway</html>"


def test_dashscope_settings() -> None:
    req = request(
        provider=CompletionsProvider.ALIBABA,
        model="qwen3-max",
        provider_kwargs={"alibaba": {"enable_search": True}},
    )
    spec = alibaba_codec().build_request(req, stream=True)
    assert spec.url == "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/chat/completions"
    assert json.loads(spec.body)["enable_search"] is True
    assert codec_for("alibaba").provider is CompletionsProvider.ALIBABA


def test_every_provider_has_a_codec() -> None:
    for provider in CompletionsProvider:
        assert codec_for(provider).provider is provider


def test_a_key_from_the_environment_with_a_line_break_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-0123456789abcdef\n")
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY holds whitespace") as info:
        OpenAICodec().build_request(request(api_key=None), stream=True)
    assert "0123456789abcdef" not in str(info.value)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        (
            {
                "retry-after": "Wed, 21 Oct 2026 07:28:30 GMT",
                "date": "Wed, 21 Oct 2026 07:28:00 GMT",
            },
            30.0,
        ),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:30 GMT"}, None),  # no server clock to measure by
        (
            {
                "retry-after": "Wed, 21 Oct 2026 07:27:00 GMT",
                "date": "Wed, 21 Oct 2026 07:28:00 GMT",
            },
            None,
        ),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "-5", "retry-after": "3"}, 3.0),
    ],
)
def test_retry_after_forms(headers: dict[str, str], seconds: float | None) -> None:
    assert OpenAICodec().decode_error(429, headers, b"{}").retry_after == seconds
