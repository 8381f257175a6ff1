"""Anthropic and Vertex request mapping (pure: the codec's HTTP request), and what is refused
before any I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline import ConfigurationError, RequestValidationError, generate_chat_completion_stream
from pipeline._validation import to_request
from providers import codec_for
from providers.anthropic_vertex import vertex_base_url

from ._service_account import credentials

KEY = "sk-ant-request-test-0123456789"


def body_of(provider: str = "anthropic", stream: bool = True, **changes: Any) -> dict[str, Any]:
    spec = build(provider, stream=stream, **changes)
    result: dict[str, Any] = json.loads(spec.body)
    return result


def build(provider: str = "anthropic", *, stream: bool = True, **changes: Any) -> Any:
    request = to_request(
        {
            "provider": provider,
            "api_key": KEY,
            "model": "claude-sonnet-4-5",
            "messages": [{"role": "user", "content": "Hi"}],
            **changes,
        }
    )
    return codec_for(provider).build_request(request, stream=stream)


CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief.", "cache_breakpoint": {"ttl": "1h"}},
    {"role": "user", "content": "Weather in Paris and Tokyo?"},
    {
        "role": "assistant",
        "content": "Checking.",
        "provider": "anthropic",
        "reasoning": [
            {"text": "Two cities.", "signature": "c2lnMQ==", "provider": "anthropic"},
            {"redacted_data": "EmwKAhgB", "provider": "anthropic"},
            {"text": "Gemini thought", "signature": "Z2VtaW5p", "provider": "google"},
            {"text": "unsigned", "provider": "anthropic"},
        ],
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "w", "arguments": {"c": "P"}}},
            {"id": "t2", "type": "function", "function": {"name": "w", "arguments": {"c": "T"}}},
        ],
    },
    {"role": "tool", "tool_call_id": "t1", "content": {"temp": 20}},
    {
        "role": "tool",
        "tool_call_id": "t2",
        "content": {"temp": 25},
        "cache_breakpoint": {"ttl": "5m"},
    },
    {"role": "system", "content": "Answer in French."},
]


def test_conversation_mapping() -> None:
    tool = {
        "type": "function",
        "function": {"name": "w", "description": "d", "parameters": {"type": "object"}},
        "cache_breakpoint": {"ttl": "5m"},
    }
    body = body_of(messages=CONVERSATION, tools=[tool])
    assert body["system"] == [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "Answer in French."},
    ]
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Tokyo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Two cities.", "signature": "c2lnMQ=="},
                {"type": "redacted_thinking", "data": "EmwKAhgB"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "w", "input": {"c": "P"}},
                {"type": "tool_use", "id": "t2", "name": "w", "input": {"c": "T"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": '{"temp": 20}'},
                {
                    "type": "tool_result",
                    "tool_use_id": "t2",
                    "content": '{"temp": 25}',
                    "cache_control": {"type": "ephemeral", "ttl": "5m"},
                },
            ],
        },
    ]
    assert body["tools"] == [
        {
            "name": "w",
            "input_schema": {"type": "object"},
            "description": "d",
            "cache_control": {"type": "ephemeral", "ttl": "5m"},
        }
    ]


def test_user_and_assistant_breakpoints_mark_their_last_block() -> None:
    messages = [
        {"role": "user", "content": "a", "cache_breakpoint": {"ttl": "5m"}},
        {"role": "assistant", "content": "b", "cache_breakpoint": {"ttl": "1h"}},
        {"role": "user", "content": "c"},
    ]
    turns = body_of(messages=messages)["messages"]
    assert turns[0]["content"] == [
        {"type": "text", "text": "a", "cache_control": {"type": "ephemeral", "ttl": "5m"}}
    ]
    assert turns[1]["content"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert turns[2] == {"role": "user", "content": "c"}


def test_more_than_four_breakpoints_are_refused() -> None:
    messages = [
        {"role": "user", "content": str(i), "cache_breakpoint": {"ttl": "5m"}} for i in range(5)
    ]
    with pytest.raises(RequestValidationError, match="5 set, at most 4"):
        build(messages=messages)


def test_reasoning_of_another_provider_is_never_sent() -> None:
    message = dict(CONVERSATION[2], provider="google")
    for block in message["reasoning"]:
        block.pop("provider", None)
    body = body_of(messages=[CONVERSATION[1], message, *CONVERSATION[3:5]])
    assert [b["type"] for b in body["messages"][1]["content"]] == ["text", "tool_use", "tool_use"]


def test_vertex_sends_back_anthropic_signatures() -> None:
    body = body_of("anthropic_vertex", messages=CONVERSATION, provider_kwargs=vertex_kwargs())
    assert [b["type"] for b in body["messages"][1]["content"][:2]] == [
        "thinking",
        "redacted_thinking",
    ]


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ("w", {"type": "tool", "name": "w"}),
    ],
)
def test_tool_choice(choice: str, wire: dict[str, Any]) -> None:
    tool = {"type": "function", "function": {"name": "w", "description": "", "parameters": {}}}
    body = body_of(tools=[tool], tool_choice=choice)
    assert body["tool_choice"] == wire
    assert "description" not in body["tools"][0]


def test_thinking_passes_through_and_drops_temperature() -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024, "display": "omitted"}
    body = body_of(
        temperature=1, max_tokens=3000, provider_kwargs={"anthropic": {"thinking": thinking}}
    )
    assert body["thinking"] == thinking
    assert "temperature" not in body
    assert body["max_tokens"] == 3000
    adaptive = body_of(provider_kwargs={"anthropic": {"thinking": {"type": "adaptive"}}})
    assert adaptive["thinking"] == {"type": "adaptive"}
    assert adaptive["max_tokens"] == 4096


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"temperature": 0.2},
            "temperature: 0.2 conflicts with provider_kwargs.anthropic.thinking",
        ),
        ({"top_p": 0.5}, "top_p: 0.5 conflicts with provider_kwargs.anthropic.thinking"),
        (
            {"max_tokens": 1024},
            "max_tokens: 1024 must exceed provider_kwargs.anthropic.thinking.budget_tokens",
        ),
        (
            {
                "tool_choice": "required",
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "w", "description": "", "parameters": {}},
                    }
                ],
            },
            "tool_choice: 'required' conflicts with provider_kwargs.anthropic.thinking",
        ),
    ],
)
def test_values_that_conflict_with_thinking_are_refused(
    changes: dict[str, Any], message: str
) -> None:
    thinking = {"anthropic": {"thinking": {"type": "enabled", "budget_tokens": 1024}}}
    with pytest.raises(RequestValidationError) as info:
        build(provider_kwargs=thinking, **changes)
    assert info.value.problems[0].startswith(message)


def test_extra_body_top_k_and_betas() -> None:
    kwargs = {
        "anthropic": {
            "extra_body": {"metadata": {"user_id": "u"}, "max_tokens": 9},
            "top_k": 5,
            "betas": ["a-1", "b-2"],
        }
    }
    spec = build(provider_kwargs=kwargs)
    body = json.loads(spec.body)
    assert body["metadata"] == {"user_id": "u"}
    assert body["max_tokens"] == 9
    assert body["top_k"] == 5
    assert spec.headers["anthropic-beta"] == "a-1,b-2"


def test_structured_output_method_per_model() -> None:
    schema = {"type": "object"}
    assert "output_config" in body_of(response_schema=schema)
    old = body_of(model="claude-3-5-sonnet-20241022", response_schema=schema)
    assert old["tool_choice"] == {"type": "tool", "name": "json"}
    thinking = {
        "anthropic": {
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "structured_output": "tool",
        }
    }
    unforced = body_of(response_schema=schema, provider_kwargs=thinking)
    assert unforced["tools"][-1]["name"] == "json"
    assert "tool_choice" not in unforced


def test_no_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    request = to_request(
        {"provider": "anthropic", "model": "m", "messages": [{"role": "user", "content": "x"}]}
    )
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        codec_for("anthropic").build_request(request, stream=True)


# ---------------------------------------------------------------- Vertex


def vertex_kwargs(**extra: Any) -> dict[str, Any]:
    return {"anthropic_vertex": {"service_account_credentials": credentials(), **extra}}


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("global", "https://aiplatform.googleapis.com/v1"),
        ("us-east5", "https://us-east5-aiplatform.googleapis.com/v1"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com/v1"),
    ],
)
def test_vertex_hosts(region: str, host: str) -> None:
    assert vertex_base_url(region) == host


def test_vertex_url_body_and_headers() -> None:
    kwargs = vertex_kwargs(region="us-east5", project_id="proj")
    spec = build("anthropic_vertex", model="claude-sonnet-4-5@20250929", provider_kwargs=kwargs)
    assert spec.url == (
        "https://us-east5-aiplatform.googleapis.com/v1/projects/proj/locations/us-east5/"
        "publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
    )
    body = json.loads(spec.body)
    assert "model" not in body
    assert body["anthropic_version"] == "vertex-2023-10-16"
    assert "x-api-key" not in spec.headers
    assert "authorization" not in spec.headers  # added by the authorizer just before sending
    assert spec.authorizer is not None
    whole = build("anthropic_vertex", stream=False, provider_kwargs=vertex_kwargs())
    assert whole.url.startswith(
        "https://aiplatform.googleapis.com/v1/projects/test-project/locations/global/"
    )
    assert whole.url.endswith(":rawPredict")


def test_vertex_without_credentials_or_with_a_bad_key() -> None:
    with pytest.raises(ConfigurationError, match="service_account_credentials"):
        build("anthropic_vertex", provider_kwargs={"anthropic_vertex": {"project_id": "p"}})
    bad = dict(
        credentials(),
        private_key="-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    with pytest.raises(ConfigurationError, match="private_key: not a PEM-encoded RSA") as info:
        build(
            "anthropic_vertex",
            provider_kwargs={"anthropic_vertex": {"service_account_credentials": bad}},
        )
    assert "not a key" not in str(info.value)


@pytest.mark.anyio
async def test_a_fallback_conflict_is_refused_before_io_and_names_the_fallback() -> None:
    thinking = {"anthropic": {"thinking": {"type": "enabled", "budget_tokens": 1024}}}
    request = {
        "provider": "openai",
        "api_key": "sk-openai-request-test-0123456789",
        "model": "gpt-4o",
        "temperature": 0.5,
        "messages": [{"role": "user", "content": "Hi"}],
        "fallbacks": [
            {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "api_key": KEY,
                "provider_kwargs": thinking,
            }
        ],
    }
    with pytest.raises(RequestValidationError) as info:
        await generate_chat_completion_stream(request)
    assert info.value.problems[0].startswith(
        "fallbacks[0].temperature: 0.5 conflicts with provider_kwargs.anthropic.thinking"
    )
