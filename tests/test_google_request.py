"""Gemini request mapping, signatures sent back, error bodies, key and base-URL resolution."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from pipeline import (
    AssistantMessage,
    ChatCompletionRequest,
    CompletionsProvider,
    ConfigurationError,
    FunctionCall,
    FunctionDefinition,
    ProviderError,
    RateLimitError,
    ReasoningBlock,
    RequestValidationError,
    ServerError,
    SystemMessage,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)
from pipeline._validation import to_request
from providers import codec_for
from providers.google import GoogleCodec

from .conftest import FIXTURES

KEY = "AIza-test-key-0123456789"
SIGNATURE = base64.b64decode("EqIGCp8GARFNMg8N2affgT3NQZP0TWZ1djxZ")
MESSAGE_SIGNATURE = base64.b64encode(b"\x01\x02message").decode()
ID = {"id": "0yhdfgfy"}
WEATHER = ToolDefinition(
    type="function",
    function=FunctionDefinition(
        name="get_weather",
        description="Weather for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    ),
)


def request(**changes: Any) -> ChatCompletionRequest:
    base: dict[str, Any] = {
        "provider": "google",
        "api_key": KEY,
        "model": "gemini-2.5-flash",
        "messages": [UserMessage("Hi")],
    }
    return ChatCompletionRequest(**(base | changes))


def body(req: ChatCompletionRequest, *, stream: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(GoogleCodec().build_request(req, stream=stream).body)
    return result


def call(call_id: str, name: str, signature: bytes | None = None, **args: Any) -> ToolCall:
    return ToolCall(call_id, "function", FunctionCall(args, name), thought_signature=signature)


def test_codec_is_registered() -> None:
    assert isinstance(codec_for("google"), GoogleCodec)


def test_url_and_headers_keep_the_key_out_of_the_url() -> None:
    spec = GoogleCodec().build_request(request(), stream=True)
    assert spec.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
        ":streamGenerateContent?alt=sse"
    )
    assert spec.headers["x-goog-api-key"] == KEY
    assert KEY not in spec.url
    assert KEY not in repr(spec)
    whole = GoogleCodec().build_request(request(model="models/gemini-2.5-pro"), stream=False)
    assert whole.url.endswith("/v1beta/models/gemini-2.5-pro:generateContent")


def test_key_from_gemini_then_google_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        GoogleCodec().build_request(request(api_key=None), stream=True)
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    spec = GoogleCodec().build_request(request(api_key=None), stream=True)
    assert spec.headers["x-goog-api-key"] == "google-key"
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    spec = GoogleCodec().build_request(request(api_key=None), stream=True)
    assert spec.headers["x-goog-api-key"] == "gemini-key"
    monkeypatch.setenv("GEMINI_API_KEY", "bad key")
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY holds whitespace") as caught:
        GoogleCodec().build_request(request(api_key=None), stream=True)
    assert "bad key" not in str(caught.value)


def test_base_url_from_kwargs_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://env.example/")
    assert (
        GoogleCodec()
        .build_request(request(), stream=True)
        .url.startswith("http://env.example/v1beta/models/")
    )
    kwargs = {"google": {"base_url": "http://kw.example"}}
    spec = GoogleCodec().build_request(request(provider_kwargs=kwargs), stream=True)
    assert spec.url.startswith("http://kw.example/v1beta/models/")


def test_generation_config_maps_every_sampling_field() -> None:
    sent = body(
        request(
            temperature=0,
            top_p=0.9,
            max_tokens=64,
            stop=["END", "STOP"],
            seed=7,
            provider_kwargs={
                "google": {
                    "thinking_config": {"thinking_budget": 128, "includeThoughts": True},
                    "extra_body": {"generationConfig": {"topK": 40}, "cachedContent": "c/1"},
                }
            },
        )
    )
    assert sent["generationConfig"] == {
        "temperature": 0,
        "topP": 0.9,
        "maxOutputTokens": 64,
        "stopSequences": ["END", "STOP"],
        "seed": 7,
        "thinkingConfig": {"thinkingBudget": 128, "includeThoughts": True},
        "topK": 40,
    }
    assert sent["cachedContent"] == "c/1"
    assert "generationConfig" not in body(request())


def test_thinking_level_in_either_case() -> None:
    for given in ({"thinking_level": "LOW"}, {"thinkingLevel": "LOW"}):
        kwargs = {"google": {"thinking_config": given}}
        sent = body(request(provider_kwargs=kwargs))
        assert sent["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "LOW"}


def test_validation_accepts_the_google_kwargs() -> None:
    typed = to_request(
        {
            "provider": "google",
            "api_key": KEY,
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": "Hi"}],
            "provider_kwargs": {
                "google": {"thinking_config": {"thinkingBudget": 0}, "base_url": "http://x"}
            },
        }
    )
    assert body(typed)["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("get_weather", {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
def test_tools_and_tool_choice(choice: str, config: dict[str, Any]) -> None:
    other = ToolDefinition("function", FunctionDefinition("noop", "", {}))
    sent = body(request(tools=[WEATHER, other], tool_choice=choice))
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parametersJsonSchema": WEATHER.function.parameters,
                },
                {"name": "noop"},
            ]
        }
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": config}


def test_system_messages_and_roles() -> None:
    sent = body(
        request(
            messages=[
                SystemMessage("Be brief."),
                SystemMessage("Speak French."),
                UserMessage("Hi"),
                AssistantMessage("Salut", provider="openai"),
                UserMessage("Again"),
            ]
        )
    )
    assert sent["systemInstruction"] == {
        "parts": [{"text": "Be brief."}, {"text": "Speak French."}]
    }
    assert sent["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Salut"}]},
        {"role": "user", "parts": [{"text": "Again"}]},
    ]


def test_response_schema_is_sent_as_given() -> None:
    schema = {
        "$defs": {"city": {"type": "object", "additionalProperties": False}},
        "type": "object",
        "properties": {"where": {"anyOf": [{"$ref": "#/$defs/city"}, {"type": "null"}]}},
    }
    config = body(request(response_schema=schema))["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}


def test_gemini_signatures_go_back_on_the_parts_they_came_on() -> None:
    turn = AssistantMessage(
        content="Let me check.",
        tool_calls=[
            call("0yhdfgfy", "get_weather", SIGNATURE, city="Paris"),
            call("gemini_call_r1_0_1", "get_weather", None, city="Rome"),
        ],
        thought_signature=b"\x01\x02message",
        reasoning=[
            ReasoningBlock("unsigned thought", provider="google"),
            ReasoningBlock("signed thought", signature="AAEC", provider="google"),
        ],
        provider="google",
    )
    paris = {"name": "get_weather", "args": {"city": "Paris"}, "id": "0yhdfgfy"}
    sent = body(
        request(
            messages=[
                UserMessage("Weather in Paris and Rome?"),
                turn,
                ToolResultMessage("0yhdfgfy", {"temp": 20}),
                ToolResultMessage("gemini_call_r1_0_1", {"temp": 25}, name="get_weather"),
            ]
        )
    )
    assert sent["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"text": "signed thought", "thought": True, "thoughtSignature": "AAEC"},
                {"text": "Let me check.", "thoughtSignature": MESSAGE_SIGNATURE},
                {
                    "functionCall": paris,
                    "thoughtSignature": base64.b64encode(SIGNATURE).decode(),
                },
                # A generated id is the library's own: Gemini never sees it.
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 20}, **ID}},
                {"functionResponse": {"name": "get_weather", "response": {"temp": 25}}},
            ],
        },
    ]


def test_a_message_signature_without_text_goes_on_an_empty_part_after_the_calls() -> None:
    turn = AssistantMessage(
        tool_calls=[call("c1", "get_weather", None, city="Paris")],
        thought_signature=SIGNATURE,
        provider="google",
    )
    parts = body(request(messages=[UserMessage("?"), turn]))["contents"][1]["parts"]
    assert parts[-1] == {"text": "", "thoughtSignature": base64.b64encode(SIGNATURE).decode()}
    assert "thoughtSignature" not in parts[0]


def test_a_foreign_turn_sends_no_signature_but_the_documented_sentinel() -> None:
    # Moved from another provider: its signatures (if any) are not Gemini's to read.
    turn = AssistantMessage(
        content=None,
        tool_calls=[
            call("call_a", "get_weather", SIGNATURE, city="Paris"),
            call("call_b", "get_weather", None, city="Rome"),
        ],
        thought_signature=SIGNATURE,
        reasoning=[ReasoningBlock("thinking", signature="c2ln", provider="anthropic")],
        provider="anthropic",
    )
    sent = body(
        request(
            messages=[
                UserMessage("?"),
                turn,
                ToolResultMessage("call_a", {"t": 1}),
                ToolResultMessage("call_b", {"t": 2}),
            ]
        )
    )
    model, results = sent["contents"][1], sent["contents"][2]
    assert model == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": "skip_thought_signature_validator",
            },
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
        ],
    }
    assert [p["functionResponse"]["name"] for p in results["parts"]] == ["get_weather"] * 2
    assert base64.b64encode(SIGNATURE).decode() not in json.dumps(sent)


def test_a_tool_result_with_no_known_function_name_is_refused() -> None:
    req = request(messages=[UserMessage("?"), ToolResultMessage("nope", {"x": 1})])
    with pytest.raises(RequestValidationError, match=r"messages\[1\]\.name"):
        GoogleCodec().build_request(req, stream=True)


@pytest.mark.parametrize("provider", ["openai", "alibaba", "anthropic"])
def test_other_providers_never_receive_gemini_signatures(provider: str) -> None:
    signature = base64.b64encode(SIGNATURE).decode()
    turn = AssistantMessage(
        content="Let me check.",
        tool_calls=[call("0yhdfgfy", "get_weather", SIGNATURE, city="Paris")],
        thought_signature=SIGNATURE,
        reasoning=[ReasoningBlock("t", signature=signature, provider="google")],
        provider="google",
    )
    req = ChatCompletionRequest(
        provider=CompletionsProvider(provider),
        api_key="sk-test-0123456789",
        model="m",
        messages=[UserMessage("?"), turn, ToolResultMessage("0yhdfgfy", {"t": 1})],
    )
    sent = codec_for(provider).build_request(req, stream=True).body.decode()
    assert signature not in sent
    assert "thought" not in sent.lower()
    assert "get_weather" in sent


def test_error_bodies() -> None:
    codec = GoogleCodec()
    limited = codec.decode_error(
        429, {}, (FIXTURES / "gemini/vercel__error-429-retryinfo.json").read_bytes()
    )
    assert isinstance(limited, RateLimitError)
    assert limited.retry_after == pytest.approx(34.4)
    assert limited.retryable
    assert limited.error_type == "RESOURCE_EXHAUSTED"
    assert limited.provider_message == "You exceeded your current quota, please check your plan."
    header_wins = codec.decode_error(
        429,
        {"retry-after": "2"},
        (FIXTURES / "gemini/vercel__error-429-retryinfo.json").read_bytes(),
    )
    assert header_wins.retry_after == 2
    invalid = codec.decode_error(
        400, {}, (FIXTURES / "gemini/vercel__error-400-invalid-argument.json").read_bytes()
    )
    assert type(invalid).__name__ == "ProviderStatusError"
    assert not invalid.retryable
    assert "Penalty is not enabled" in str(invalid)
    wrapped = codec.decode_error(
        503, {}, b'[{"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}]'
    )
    assert isinstance(wrapped, ServerError)
    assert wrapped.provider_message == "busy"
    html = codec.decode_error(502, {}, b"<html>Bad gateway</html>")
    assert isinstance(html, ProviderError)
    assert "Bad gateway" in str(html)
