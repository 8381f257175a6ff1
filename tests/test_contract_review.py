"""Contract review: edge cases of validation, serialization, redaction and the error types."""

from __future__ import annotations

import copy
import json
import math
import pickle
from typing import Any

import pytest

from pipeline._errors import (
    AllAttemptsFailedError,
    ConfigurationError,
    ProtocolError,
    ProviderConnectionError,
    RateLimitError,
    RequestValidationError,
    ToolCallArgumentsError,
)
from pipeline._secrets import looks_like_secret, scrub
from pipeline._serialization import deserialize_conversation, serialize_conversation
from pipeline._types import (
    AssistantMessage,
    ChatCompletionRequest,
    CompletionsProvider,
    FallbackRequest,
    FunctionCall,
    Message,
    ReasoningBlock,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from pipeline._validation import to_request

from ._requests import minimal_request as base

API_KEY = "sk-proj-SECRETSECRETSECRET1234"
GOOGLE_KEY = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv"
PROVIDERS = "openai, anthropic, google, anthropic_vertex, alibaba"
ROLES = "system, user, assistant, tool"


def problems(data: Any) -> list[str]:
    with pytest.raises(RequestValidationError) as info:
        to_request(data)
    for secret in (API_KEY, GOOGLE_KEY, "SECRETSECRET"):
        assert secret not in str(info.value)
    return list(info.value.problems)


def call(id: str = "c1", name: str = "f") -> dict[str, Any]:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": {}}}


def tool(name: str = "f") -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": "d", "parameters": {}}}


# ---------------------------------------------------------------- a key in the wrong place


def test_key_pasted_into_provider_is_redacted_in_repr_and_error() -> None:
    # api_key and provider swapped positionally: an easy mistake that must not leak the key.
    typed = ChatCompletionRequest(API_KEY, "openai", "m", [UserMessage("x")])  # type: ignore[arg-type]
    assert API_KEY not in repr(typed)
    assert "provider='sk-…1234'" in repr(typed)
    assert problems(typed) == [f"provider: 'sk-…1234' is not one of {PROVIDERS}"]


def test_key_pasted_into_model_is_redacted_in_repr() -> None:
    typed = ChatCompletionRequest(CompletionsProvider.GOOGLE, "gemini", GOOGLE_KEY, [])
    assert GOOGLE_KEY not in repr(typed)
    assert "model='AIz…StUv'" in repr(typed)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"tool_choice": API_KEY},
            "tool_choice: 'sk-…1234' is neither auto, none, required nor the name of a defined "
            "tool",
        ),
        ({API_KEY: "x"}, "'sk-…1234': unknown field"),
        ({"provider_kwargs": {API_KEY: {}}}, "provider_kwargs.'sk-…1234': unknown provider"),
        (
            {"provider_kwargs": {"openai": API_KEY}},
            "provider_kwargs.openai: expected dict, got 'sk-…1234'",
        ),
        (
            {"provider_kwargs": {"openai": {"service_tier": GOOGLE_KEY}}},
            "provider_kwargs.openai.service_tier: 'AIz…StUv' is not one of auto, default, flex, "
            "scale, priority",
        ),
        (
            {"messages": [{"role": API_KEY, "content": "x"}]},
            f"messages[0].role: 'sk-…1234' is not one of {ROLES}",
        ),
        (
            {"messages": [{"role": "user", "content": "x", GOOGLE_KEY: 1}]},
            "messages[0].'AIz…StUv': unknown field",
        ),
        (
            {"fallbacks": [{"provider": API_KEY}]},
            f"fallbacks[0].provider: 'sk-…1234' is not one of {PROVIDERS}",
        ),
    ],
)
def test_a_key_in_the_wrong_field_is_never_echoed(changes: dict[str, Any], expected: str) -> None:
    assert problems(base(**changes)) == [expected]


def test_ordinary_names_are_not_mistaken_for_secrets() -> None:
    name = "get_weather_forecast_for_city_v2"
    for text in (name, "gpt-4o-mini-2024-07-18", "123e4567-e89b-12d3-a456-426614174000", "call_1"):
        assert not looks_like_secret(text)
    assert problems(base(tool_choice=name)) == [
        f"tool_choice: {name!r} is neither auto, none, required nor the name of a defined tool"
    ]


def test_a_random_token_without_a_known_prefix_is_still_a_secret() -> None:
    token = "Zx81kLq0Pw7TnV2bYc5Mr9Ud3Fh6Jg4Ae1Ws"
    assert looks_like_secret(token)
    assert problems(base(provider=token)) == [f"provider: 'Zx8…e1Ws' is not one of {PROVIDERS}"]


# ---------------------------------------------------------------- keys that would break HTTP


@pytest.mark.parametrize("key", [API_KEY + "\n", " " + API_KEY, "sk-proj SECRET", "sk-é1234"])
def test_key_with_whitespace_or_non_ascii_is_rejected_without_echo(key: str) -> None:
    # h11 would reject the header later with a message quoting the whole value: the key.
    assert problems(base(api_key=key)) == [
        "api_key: must hold only printable ASCII, no spaces or line breaks"
    ]
    assert problems(base(fallbacks=[{"api_key": key}])) == [
        "fallbacks[0].api_key: must hold only printable ASCII, no spaces or line breaks"
    ]


def test_error_messages_redact_a_quoted_header_value() -> None:
    detail = f"Illegal header value b'Bearer {API_KEY}\\n'"
    error = ProviderConnectionError(f"connection to openai failed: {detail}", provider="openai")
    assert API_KEY not in str(error)
    assert "sk-…1234" in str(error)
    assert API_KEY not in str(AllAttemptsFailedError([error]))
    status = RateLimitError("HTTP 429", provider="openai", provider_message="Slow down")
    assert status.provider_message == "Slow down"


def test_configuration_error_redacts_a_key_in_its_message() -> None:
    error = ConfigurationError(f"key {GOOGLE_KEY} is not allowed for anthropic")
    assert GOOGLE_KEY not in str(error)
    assert str(error) == "key AIz…StUv is not allowed for anthropic"
    assert scrub("no key for openai: set OPENAI_API_KEY") == "no key for openai: set OPENAI_API_KEY"


# ---------------------------------------------------------------- reprs


def test_a_key_nested_anywhere_in_provider_kwargs_is_hidden() -> None:
    kwargs: Any = {
        "openai": {"extra_headers": {"Authorization": f"Bearer {API_KEY}"}, "api_key": API_KEY},
        "anthropic_vertex": {"service_account_credentials": {"private_key": "x"}, "region": "eu"},
    }
    request = ChatCompletionRequest(
        CompletionsProvider.OPENAI,
        None,
        "m",
        [UserMessage("x")],
        fallbacks=[FallbackRequest(api_key=GOOGLE_KEY, provider_kwargs=kwargs)],
        provider_kwargs=kwargs,
    )
    text = repr(request)
    assert API_KEY not in text
    assert GOOGLE_KEY not in text
    assert text.count("'Authorization': <redacted>") == 2
    assert text.count("'service_account_credentials': <redacted>") == 2
    assert "'region': 'eu'" in text


def test_options_that_are_not_a_dict_are_redacted_too() -> None:
    request = ChatCompletionRequest(
        CompletionsProvider.OPENAI,
        None,
        "m",
        [UserMessage("x")],
        provider_kwargs={"anthropic_vertex": API_KEY},  # type: ignore[typeddict-item]
    )
    assert API_KEY not in repr(request)


@pytest.mark.parametrize("key", [12345678901234567890, API_KEY.encode(), [API_KEY]])
def test_repr_of_a_mistyped_key_neither_fails_nor_shows_it(key: Any) -> None:
    text = repr(FallbackRequest(api_key=key))
    assert "1234567890" not in text
    assert "SECRET" not in text
    assert f"api_key=<{type(key).__name__}>" in text


def test_copies_and_pickles_keep_the_redacted_repr() -> None:
    request = ChatCompletionRequest(
        CompletionsProvider.OPENAI,
        API_KEY,
        "m",
        [UserMessage("x")],
        fallbacks=[FallbackRequest(api_key=API_KEY)],
    )
    for clone in (copy.copy(request), copy.deepcopy(request), pickle.loads(pickle.dumps(request))):
        assert clone == request
        assert API_KEY not in repr(clone)
        assert API_KEY not in str(clone.fallbacks)


# ---------------------------------------------------------------- errors survive pickle / copy


def test_request_validation_error_pickles_with_its_problems() -> None:
    with pytest.raises(RequestValidationError) as info:
        to_request(base(max_tokens=0, timeout=0))
    error = info.value
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(clone) is RequestValidationError
        assert clone.problems == error.problems
        assert str(clone) == str(error)


def test_provider_errors_pickle_with_every_attribute() -> None:
    error = RateLimitError(
        "rate limited",
        provider="openai",
        status_code=429,
        retryable=True,
        retry_after=2.5,
        provider_message="slow down",
        request_id="req_1",
    )
    protocol = ProtocolError("bad json", provider="openai", offset=17)
    arguments = ToolCallArgumentsError("bad args", tool_name="f", raw_arguments="{")
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is RateLimitError
    assert (clone.provider, clone.status_code, clone.retryable, clone.retry_after) == (
        "openai",
        429,
        True,
        2.5,
    )
    assert clone.provider_message == "slow down"
    assert str(clone) == str(error)
    protocol_clone = pickle.loads(pickle.dumps(protocol))
    assert protocol_clone.offset == 17
    assert str(protocol_clone) == str(protocol)  # "(at byte 17)" not appended twice
    assert copy.copy(arguments).raw_arguments == "{"
    group = pickle.loads(pickle.dumps(AllAttemptsFailedError([error, protocol])))
    assert [type(e) for e in group.errors] == [RateLimitError, ProtocolError]
    assert str(group) == str(AllAttemptsFailedError([error, protocol]))


# ---------------------------------------------------------------- edge types


def test_huge_numbers_become_problems_not_crashes() -> None:
    assert problems(base(temperature=10**400)) == [
        "temperature: an int of ~401 digits is too large for a float"
    ]
    # repr() of an int over 4300 digits raises: the message must not call it.
    assert problems(base(model=10**5000)) == ["model: expected str, got an int of ~5001 digits"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_temperature_is_rejected(value: float) -> None:
    assert problems(base(temperature=value)) == [
        f"temperature: {value!r} is out of range for openai (0.0 to 2.0)"
    ]


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        ({"retry_delay": math.inf}, "retry.retry_delay: must be finite"),
        ({"retry_delay": math.nan}, "retry.retry_delay: must be >= 0"),
        ({"backoff_multiplier": math.inf}, "retry.backoff_multiplier: must be finite"),
        ({"max_retries": True}, "retry.max_retries: expected int, got True"),
        ({"max_retries": 2.0}, "retry.max_retries: expected int, got 2.0"),
    ],
)
def test_retry_edge_values(retry: dict[str, Any], expected: str) -> None:
    assert problems(base(retry=retry)) == [expected]


def test_bool_is_not_an_int_nor_an_int_a_bool_in_nested_fields() -> None:
    bad_call = {**call(), "index": True}
    bad_tool = tool()
    bad_tool["function"]["strict"] = 1
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [bad_call]}]
    assert problems(base(messages=messages, tools=[bad_tool])) == [
        "messages[1].tool_calls[0].index: expected int, got True",
        "tools[0].function.strict: expected bool, got 1",
    ]


def test_tuples_are_accepted_as_lists_and_come_out_as_lists() -> None:
    request = to_request(
        base(messages=({"role": "user", "content": "x"},), tools=(tool(),), fallbacks=({},))
    )
    assert isinstance(request.messages, list)
    assert isinstance(request.tools, list)
    assert request.fallbacks == [FallbackRequest()]


def test_enum_and_string_provider_give_the_same_request() -> None:
    as_enum = to_request(base(provider=CompletionsProvider.ANTHROPIC))
    as_text = to_request(base(provider="anthropic"))
    assert as_enum == as_text
    assert as_text.provider is CompletionsProvider.ANTHROPIC


def test_typed_request_whose_messages_hold_dicts_and_typed_parts() -> None:
    typed = ChatCompletionRequest(
        CompletionsProvider.OPENAI,
        None,
        "m",
        [
            {"role": "user", "content": "x"},  # type: ignore[list-item]
            AssistantMessage(tool_calls=[call()]),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": "c1", "content": {"ok": 1}},  # type: ignore[list-item]
        ],
        fallbacks=[{"model": "m2"}],  # type: ignore[list-item]
    )
    request = to_request(typed)
    assert request.messages == [
        UserMessage("x"),
        AssistantMessage(tool_calls=[ToolCall("c1", "function", FunctionCall({}, "f"))]),
        ToolResultMessage("c1", {"ok": 1}),
    ]
    assert request.fallbacks == [FallbackRequest(model="m2")]


def test_mixed_type_extra_keys_are_all_reported() -> None:
    message = {"role": "user", "content": "x", 1: "a", "b": 2}
    assert problems(base(messages=[message])) == [
        "messages[0].1: unknown field",
        "messages[0].b: unknown field",
    ]


def test_extra_keys_on_every_message_kind() -> None:
    messages = [
        {"role": "system", "content": "s", "name": "x"},
        {"role": "assistant", "content": "a", "function_call": {}},
        {"role": "user", "content": "u", "role_": 1},
    ]
    assert problems(base(messages=messages)) == [
        "messages[0].name: unknown field",
        "messages[1].function_call: unknown field",
        "messages[2].role_: unknown field",
    ]


# ---------------------------------------------------------------- conversation rules


def test_assistant_message_with_nothing_in_it_is_rejected() -> None:
    messages = [{"role": "user", "content": "x"}, {"role": "assistant"}]
    assert problems(base(messages=messages)) == [
        "messages[1]: assistant message has neither content nor tool calls"
    ]
    only_reasoning = {"role": "assistant", "reasoning": [{"text": "hm"}], "tool_calls": []}
    assert problems(base(messages=[messages[0], only_reasoning])) == [
        "messages[1]: assistant message has neither content nor tool calls"
    ]


@pytest.mark.parametrize(
    "message",
    [{"content": ""}, {"refusal": "no"}, {"tool_calls": [call()]}, {"content": "hi"}],
)
def test_assistant_message_with_something_is_accepted(message: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", **message}]
    assert len(to_request(base(messages=messages)).messages) == 2


def test_empty_assistant_message_is_still_stored_faithfully() -> None:
    # Storage is not sending: what the model returned is kept exactly.
    conversation: list[Message] = [AssistantMessage()]
    assert deserialize_conversation(serialize_conversation(conversation)) == conversation


def test_duplicate_and_empty_tool_call_ids_are_rejected() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [call("a"), call("a"), call("")]},
    ]
    assert problems(base(messages=messages)) == [
        "messages[1].tool_calls[1].id: 'a' is used twice",
        "messages[1].tool_calls[2].id: must not be empty",
    ]


@pytest.mark.parametrize(
    ("content", "shown"), [([1], "list"), ("ok", "'ok'"), (None, "None"), (3, "3")]
)
def test_tool_result_content_must_be_a_dict(content: Any, shown: str) -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [call()]},
        {"role": "tool", "tool_call_id": "c1", "content": content},
    ]
    assert problems(base(messages=messages)) == [f"messages[2].content: expected dict, got {shown}"]


def test_tool_result_must_answer_a_call_in_the_conversation() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [call("c1")]},
        {"role": "tool", "tool_call_id": "c2", "content": {}},
    ]
    assert problems(base(messages=messages)) == [
        "messages[2].tool_call_id: 'c2' answers no earlier tool call"
    ]


def test_tool_choice_naming_a_tool_without_tools() -> None:
    assert problems(base(tool_choice="f")) == [
        "tool_choice: 'f' is neither auto, none, required nor the name of a defined tool"
    ]
    assert problems(base(tool_choice="f", tools=[])) == [
        "tool_choice: 'f' is neither auto, none, required nor the name of a defined tool",
    ]


def test_tool_choice_required_needs_a_tool() -> None:
    assert problems(base(tool_choice="required")) == [
        "tool_choice: 'required' needs at least one tool"
    ]
    assert problems(base(tools=[tool()], tool_choice="required", fallbacks=[{"tools": []}])) == [
        "fallbacks[0].tool_choice: 'required' (inherited) needs at least one tool"
    ]
    for choice in ("auto", "none"):
        assert to_request(base(tool_choice=choice)).tool_choice == choice
    assert to_request(base(tools=[tool()], tool_choice="required")).tool_choice == "required"


# ---------------------------------------------------------------- provider kwargs


@pytest.mark.parametrize("provider", [p.value for p in CompletionsProvider])
def test_every_provider_accepts_a_base_url(provider: str) -> None:
    kwargs = {provider: {"base_url": "http://127.0.0.1:8080/v1"}}
    assert to_request(base(provider_kwargs=kwargs)).provider_kwargs == kwargs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("api.openai.com/v1", "'api.openai.com/v1' is not an http(s) URL"),
        ("ftp://host/v1", "'ftp://host/v1' is not an http(s) URL"),
        ("https://", "'https://' is not an http(s) URL"),
        ("http://[::1", "'http://[::1' is not an http(s) URL"),
        (8080, "expected str, got 8080"),
    ],
)
def test_base_url_must_be_an_http_url(url: Any, expected: str) -> None:
    assert problems(base(provider_kwargs={"google": {"base_url": url}})) == [
        f"provider_kwargs.google.base_url: {expected}"
    ]


def test_credentials_as_a_json_string_are_rejected_without_echo() -> None:
    text = json.dumps({"private_key": "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBg"})
    found = problems(
        base(provider_kwargs={"anthropic_vertex": {"service_account_credentials": text}})
    )
    assert found == [
        "provider_kwargs.anthropic_vertex.service_account_credentials: expected dict, got str"
    ]


# ---------------------------------------------------------------- serialization


def test_serialize_rejects_typed_messages_it_could_not_read_back() -> None:
    conversation: Any = [
        UserMessage(5),  # type: ignore[arg-type]
        ToolResultMessage("c", "ok"),  # type: ignore[arg-type]
        AssistantMessage(tool_calls=[ToolCall("c", "function", FunctionCall("{}", "f"))]),  # type: ignore[arg-type]
        SystemMessage("fine"),
    ]
    with pytest.raises(RequestValidationError) as info:
        serialize_conversation(conversation)
    assert info.value.problems == (
        "[0].content: expected str, got 5",
        "[1].content: expected dict, got 'ok'",
        "[2].tool_calls[0].function.arguments: expected dict, got '{}'",
    )


def test_reasoning_and_signatures_round_trip_through_json_exactly() -> None:
    conversation: list[Message] = [
        UserMessage("q"),
        AssistantMessage(
            content="a",
            tool_calls=[
                ToolCall("c1", "function", FunctionCall({"x": [1, {"y": None}]}, "f"), 0, b"\x00")
            ],
            thought_signature=bytes(range(256)),
            reasoning=[ReasoningBlock("", "sig", None), ReasoningBlock("t", None, "red")],
        ),
        ToolResultMessage("c1", {}, "f"),
    ]
    stored = json.loads(json.dumps(serialize_conversation(conversation)))
    assert stored[1]["reasoning"] == [{"signature": "sig"}, {"text": "t", "redacted_data": "red"}]
    assert isinstance(stored[1]["thought_signature"], str)
    assert deserialize_conversation(stored) == conversation
    assert to_request(base(messages=stored)).messages == conversation


def test_deserialize_reports_a_secret_named_key_without_its_value() -> None:
    with pytest.raises(RequestValidationError) as info:
        deserialize_conversation([{"role": "user", "content": "x", "api_key": API_KEY}])
    assert info.value.problems == ("[0].api_key: unknown field",)
    assert API_KEY not in str(info.value)
