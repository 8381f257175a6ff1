"""Request and stream-options validation: every rule with its exact message."""

from __future__ import annotations

import copy
from typing import Any, get_type_hints

import pytest

from pipeline._errors import RequestValidationError
from pipeline._serialization import deserialize_conversation
from pipeline._types import (
    AssistantMessage,
    CacheBreakpoint,
    ChatCompletionRequest,
    CompletionsProvider,
    FallbackRequest,
    FunctionCall,
    FunctionDefinition,
    ProviderKwargs,
    ReasoningBlock,
    RetryConfiguration,
    StreamOptions,
    SystemMessage,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)
from pipeline._validation import to_request, to_stream_options

PROVIDERS = "openai, anthropic, google, anthropic_vertex, alibaba"


def tool_dict(name: str = "get_weather", *, cache: bool = False) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "type": "function",
        "function": {"name": name, "description": "d", "parameters": {"type": "object"}},
    }
    if cache:
        tool["cache_breakpoint"] = {"ttl": "5m"}
    return tool


def base(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
        ],
    }
    request.update(changes)
    return request


def problems(data: Any) -> list[str]:
    with pytest.raises(RequestValidationError) as info:
        to_request(data)
    return list(info.value.problems)


def stream_problems(data: Any) -> list[str]:
    with pytest.raises(RequestValidationError) as info:
        to_stream_options(data)
    return list(info.value.problems)


TOOL_EXCHANGE: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                "thought_signature": "c2lnbmF0dXJl",
            }
        ],
        "reasoning": [{"text": "Look it up.", "signature": "sig"}],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": {"temp_c": 21}, "name": "get_weather"},
]


# ---------------------------------------------------------------- accepted input


def test_minimal_dict_becomes_typed_request_with_api_key_none() -> None:
    request = to_request(base())
    assert request.provider is CompletionsProvider.OPENAI
    assert request.api_key is None
    assert request.messages == [SystemMessage("Be brief."), UserMessage("Weather in Paris?")]


def test_full_dict_is_structured_into_every_type() -> None:
    request = to_request(
        base(
            api_key="sk-test",
            provider=CompletionsProvider.ANTHROPIC,
            messages=TOOL_EXCHANGE,
            temperature=1,
            tools=[tool_dict(cache=True)],
            tool_choice="get_weather",
            timeout=30,
            max_tokens=100,
            response_schema={"type": "object"},
            retry={"max_retries": 0, "retry_delay": 0.5},
            fallbacks=[{"provider": "openai", "model": "gpt-4o"}],
            provider_kwargs={"anthropic": {"thinking": {"type": "enabled", "budget_tokens": 1024}}},
        )
    )
    assert request.temperature == 1.0
    assert isinstance(request.temperature, float)
    assert request.timeout == 30.0
    assert request.tools == [
        ToolDefinition(
            "function",
            FunctionDefinition("get_weather", "d", {"type": "object"}),
            CacheBreakpoint("5m"),
        )
    ]
    assert request.messages[1] == AssistantMessage(
        tool_calls=[
            ToolCall(
                "call_1",
                "function",
                FunctionCall({"city": "Paris"}, "get_weather"),
                thought_signature=b"signature",
            )
        ],
        reasoning=[ReasoningBlock("Look it up.", "sig")],
    )
    assert request.messages[2] == ToolResultMessage("call_1", {"temp_c": 21}, "get_weather")
    assert request.retry == RetryConfiguration(max_retries=0, retry_delay=0.5)
    assert request.fallbacks == [
        FallbackRequest(provider=CompletionsProvider.OPENAI, model="gpt-4o")
    ]
    assert request.provider_kwargs == {
        "anthropic": {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    }
    assert type(request.provider_kwargs) is dict


def test_dict_and_typed_input_give_equal_results() -> None:
    data = base(
        api_key="sk-test",
        messages=TOOL_EXCHANGE,
        tools=[tool_dict()],
        fallbacks=[{"provider": "google", "temperature": 2}],
    )
    from_dict = to_request(data)
    assert to_request(from_dict) == from_dict
    assert to_request(copy.deepcopy(from_dict)) == from_dict


def test_typed_objects_inside_a_dict_are_accepted() -> None:
    request = to_request(
        base(
            messages=[UserMessage("hi")],
            retry=RetryConfiguration(max_retries=1),
            fallbacks=[FallbackRequest(model="other")],
        )
    )
    assert request.messages == [UserMessage("hi")]
    assert request.retry == RetryConfiguration(max_retries=1)
    assert request.fallbacks == [FallbackRequest(model="other")]


def test_typed_request_is_validated_by_the_same_rules() -> None:
    typed = ChatCompletionRequest(
        provider="anthropic",  # type: ignore[arg-type]
        api_key=None,
        model="claude",
        messages=[UserMessage("hi")],
        temperature=1.5,
    )
    assert problems(typed) == ["temperature: 1.5 is out of range for anthropic (0.0 to 1.0)"]
    assert problems(typed) == problems(base(provider="anthropic", model="claude", temperature=1.5))


def test_typed_request_with_string_provider_is_normalized() -> None:
    typed = ChatCompletionRequest("google", None, "gemini", [UserMessage("hi")])  # type: ignore[arg-type]
    assert to_request(typed).provider is CompletionsProvider.GOOGLE


def test_result_does_not_share_lists_with_the_input() -> None:
    data = base()
    request = to_request(data)
    request.messages.append(UserMessage("more"))
    assert len(data["messages"]) == 2


def test_thought_signature_accepts_bytes_and_base64_text() -> None:
    message = {"role": "assistant", "content": "ok", "thought_signature": "AAEC"}
    as_text = to_request(base(messages=[message]))
    as_bytes = to_request(base(messages=[{**message, "thought_signature": b"\x00\x01\x02"}]))
    assert as_text.messages[0] == as_bytes.messages[0]
    assert as_text.messages == [AssistantMessage(content="ok", thought_signature=b"\x00\x01\x02")]


@pytest.mark.parametrize("choice", ["auto", "none", "required", "get_weather"])
def test_tool_choice_keywords_and_tool_names_are_accepted(choice: str) -> None:
    assert to_request(base(tools=[tool_dict()], tool_choice=choice)).tool_choice == choice


def test_four_cache_breakpoints_are_allowed() -> None:
    messages = [{"role": "user", "content": "x", "cache_breakpoint": {"ttl": "1h"}}] * 3
    request = to_request(base(messages=messages, tools=[tool_dict(cache=True)]))
    assert len(request.messages) == 3


@pytest.mark.parametrize(
    ("provider", "highest"),
    [("openai", 2), ("google", 2), ("alibaba", 2), ("anthropic", 1), ("anthropic_vertex", 1)],
)
def test_temperature_range_per_provider(provider: str, highest: int) -> None:
    assert to_request(base(provider=provider, temperature=highest)).temperature == highest
    assert to_request(base(provider=provider, temperature=0)).temperature == 0.0
    assert problems(base(provider=provider, temperature=highest + 0.5)) == [
        f"temperature: {highest + 0.5} is out of range for {provider} (0.0 to {highest:.1f})"
    ]
    assert problems(base(provider=provider, temperature=-0.1)) == [
        f"temperature: -0.1 is out of range for {provider} (0.0 to {highest:.1f})"
    ]


def test_known_provider_kwargs_options_are_kept_as_given() -> None:
    kwargs = {
        "openai": {"service_tier": "flex", "parallel_tool_calls": False, "extra_body": {"n": 2}},
        "alibaba": {"enable_thinking": True, "thinking_budget": 512, "enable_search": False},
    }
    assert to_request(base(provider_kwargs=kwargs)).provider_kwargs == kwargs


def test_nested_option_dicts_keep_keys_we_do_not_model() -> None:
    # Their codecs send them as given, so the provider judges such a key: nothing is dropped.
    kwargs = {"anthropic": {"thinking": {"type": "enabled", "budget_tokens": 1024, "new": 1}}}
    assert to_request(base(provider_kwargs=kwargs)).provider_kwargs == kwargs


@pytest.mark.parametrize("provider", [p.value for p in CompletionsProvider])
def test_the_known_options_are_the_keys_of_the_providers_typed_dict(provider: str) -> None:
    # Derived, not listed: a key added to a provider's TypedDict is known at once.
    options = sorted(get_type_hints(get_type_hints(ProviderKwargs)[provider]))
    assert problems(base(provider_kwargs={provider: {"zzzz": 1}})) == [
        f"provider_kwargs.{provider}.zzzz: unknown option; the options are " + ", ".join(options)
    ]
    assert problems(base(provider_kwargs={provider: {"base_uri": "x"}})) == [
        f"provider_kwargs.{provider}.base_uri: unknown option; did you mean 'base_url'?"
    ]


def test_every_unknown_option_is_reported_and_a_secret_looking_key_is_hidden() -> None:
    found = problems(
        base(
            provider_kwargs={
                "openai": {"service_teir": "flex", 7: 1, "sk-proj-0123456789abcdef": 1}
            }
        )
    )
    assert found == [
        "provider_kwargs.openai.service_teir: unknown option; did you mean 'service_tier'?",
        "provider_kwargs.openai.7: unknown option; the options are base_url, extra_body, "
        "parallel_tool_calls, reasoning_effort, service_tier",
        "provider_kwargs.openai.'sk-…cdef': unknown option; the options are base_url, "
        "extra_body, parallel_tool_calls, reasoning_effort, service_tier",
    ]


def test_unknown_options_are_refused_in_a_typed_request_and_never_show_their_value() -> None:
    secret = "sk-proj-abcdefghijklmnop0123456789"
    typed = ChatCompletionRequest(
        CompletionsProvider.ALIBABA,
        None,
        "qwen3-max",
        [UserMessage("hi")],
        provider_kwargs={"alibaba": {"api_key": secret}},  # type: ignore[typeddict-unknown-key]
    )
    with pytest.raises(RequestValidationError) as info:
        to_request(typed)
    assert info.value.problems == (
        "provider_kwargs.alibaba.api_key: unknown option; the options are base_url, "
        "enable_search, enable_thinking, extra_body, parallel_tool_calls, thinking_budget",
    )
    assert secret not in str(info.value)


def test_sampling_fields_are_accepted_within_their_limits() -> None:
    request = to_request(base(top_p=1, stop=["\n\n", "END", "x", "y"], seed=-3))
    assert (request.top_p, request.stop, request.seed) == (1.0, ["\n\n", "END", "x", "y"], -3)
    assert isinstance(request.top_p, float)
    assert to_request(base(top_p=0, stop=[])).top_p == 0.0
    many = [f"s{i}" for i in range(12)]
    for provider in ("anthropic", "anthropic_vertex"):
        # Anthropic documents no limit on stop sequences.
        assert to_request(base(provider=provider, stop=many, top_p=0.5)).stop == many
    assert to_request(base(provider="google", seed=7, stop=many[:5])).seed == 7


# ---------------------------------------------------------------- one rule, one message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"provider": "openia"}, f"provider: 'openia' is not one of {PROVIDERS}"),
        ({"provider": 3}, "provider: expected str, got 3"),
        ({"temperature": "hot"}, "temperature: expected float, got 'hot'"),
        ({"temperature": True}, "temperature: expected float, got True"),
        ({"model": ["gpt"]}, "model: expected str, got list"),
        ({"model": ""}, "model: must not be empty"),
        ({"max_tokens": 0}, "max_tokens: must be a positive integer"),
        ({"max_tokens": -5}, "max_tokens: must be a positive integer"),
        ({"max_tokens": 1.5}, "max_tokens: expected int, got 1.5"),
        ({"max_tokens": True}, "max_tokens: expected int, got True"),
        ({"timeout": 0}, "timeout: must be positive"),
        ({"timeout": -1.0}, "timeout: must be positive"),
        ({"timeout": float("nan")}, "timeout: must be positive"),
        ({"messages": []}, "messages: must not be empty"),
        ({"messages": "hello"}, "messages: expected list, got 'hello'"),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role: 'robot' is not one of system, user, assistant, tool",
        ),
        ({"messages": [{"content": "x"}]}, "messages[0].role: missing"),
        ({"messages": ["hi"]}, "messages[0]: expected dict, got 'hi'"),
        (
            {"messages": [{"role": "user", "content": None}]},
            "messages[0].content: expected str, got None",
        ),
        (
            {"messages": [{"role": "user", "content": "x", "name": "bob"}]},
            "messages[0].name: unknown field",
        ),
        (
            {"messages": [{"role": "user", "content": "x", "cache_breakpoint": {"ttl": "10m"}}]},
            "messages[0].cache_breakpoint.ttl: '10m' is not one of 5m, 1h",
        ),
        (
            {"messages": [{"role": "assistant", "thought_signature": "not base64!"}]},
            "messages[0].thought_signature: 'not base64!' is not valid base64",
        ),
        (
            {"messages": [{"role": "assistant", "thought_signature": 7}]},
            "messages[0].thought_signature: expected bytes or a base64 string, got 7",
        ),
        (
            {"messages": [{"role": "tool", "tool_call_id": "call_x", "content": {}}]},
            "messages[0].tool_call_id: 'call_x' answers no earlier tool call",
        ),
        (
            {"messages": [{"role": "tool", "tool_call_id": "c", "content": "ok"}]},
            "messages[0].content: expected dict, got 'ok'",
        ),
        (
            {"tool_choice": "foo"},
            "tool_choice: 'foo' is neither auto, none, required nor the name of a defined tool",
        ),
        ({"tool_choice": 1}, "tool_choice: expected str, got 1"),
        (
            {"tools": [tool_dict(), tool_dict()]},
            "tools[1].function.name: 'get_weather' is defined twice",
        ),
        ({"tools": [tool_dict("")]}, "tools[0].function.name: must not be empty"),
        (
            {"tools": [{**tool_dict(), "type": "retrieval"}]},
            "tools[0].type: 'retrieval' is not one of function",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "description": "d"}}]},
            "tools[0].function.parameters: missing",
        ),
        ({"response_schema": "json"}, "response_schema: expected dict, got 'json'"),
        ({"retry": {"max_retries": -1}}, "retry.max_retries: must be >= 0"),
        ({"retry": {"retry_delay": -1}}, "retry.retry_delay: must be >= 0"),
        ({"retry": {"backoff_multiplier": 0.5}}, "retry.backoff_multiplier: must be >= 1"),
        ({"retry": {"enabled": "yes"}}, "retry.enabled: expected bool, got 'yes'"),
        ({"retry": {"attempts": 3}}, "retry.attempts: unknown field"),
        ({"retry": 3}, "retry: expected dict, got 3"),
        ({"fallbacks": {"provider": "openai"}}, "fallbacks: expected list, got dict"),
        ({"fallbacks": ["openai"]}, "fallbacks[0]: expected dict or FallbackRequest, got 'openai'"),
        ({"provider_kwargs": {"openia": {}}}, "provider_kwargs.openia: unknown provider"),
        (
            {"provider_kwargs": {"openai": "flex"}},
            "provider_kwargs.openai: expected dict, got 'flex'",
        ),
        ({"provider_kwargs": ["openai"]}, "provider_kwargs: expected dict, got list"),
        (
            {"provider_kwargs": {"openai": {"service_tier": "x"}}},
            "provider_kwargs.openai.service_tier: 'x' is not one of auto, default, flex, scale, "
            "priority",
        ),
        (
            {"provider_kwargs": {"openai": {"reasoning_effort": "max"}}},
            "provider_kwargs.openai.reasoning_effort: 'max' is not one of low, medium, high",
        ),
        (
            {"provider_kwargs": {"anthropic": {"thinking": {"type": "on"}}}},
            "provider_kwargs.anthropic.thinking.type: 'on' is not one of enabled, disabled, "
            "adaptive",
        ),
        (
            {"provider_kwargs": {"google": {"thinking_config": {"thinking_budget": "lots"}}}},
            "provider_kwargs.google.thinking_config.thinking_budget: expected int, got 'lots'",
        ),
        (
            {"provider_kwargs": {"alibaba": {"enable_search": 1}}},
            "provider_kwargs.alibaba.enable_search: expected bool, got 1",
        ),
        (
            {"provider_kwargs": {"openai": {"base_uri": "http://127.0.0.1:1/v1"}}},
            "provider_kwargs.openai.base_uri: unknown option; did you mean 'base_url'?",
        ),
        (
            {"provider_kwargs": {"openai": {"seed": 7}}},
            "provider_kwargs.openai.seed: unknown option; the options are base_url, extra_body, "
            "parallel_tool_calls, reasoning_effort, service_tier",
        ),
        (
            {"provider_kwargs": {"alibaba": {"enable_thinkng": True}}},
            "provider_kwargs.alibaba.enable_thinkng: unknown option; did you mean "
            "'enable_thinking'?",
        ),
        (
            {"provider_kwargs": {"openai": {"parallel_tool_calls": "no"}}},
            "provider_kwargs.openai.parallel_tool_calls: expected bool, got 'no'",
        ),
        (
            {"provider_kwargs": {"openai": {"extra_body": [1]}}},
            "provider_kwargs.openai.extra_body: expected dict, got list",
        ),
        (
            {"provider_kwargs": {"alibaba": {"thinking_budget": 0}}},
            "provider_kwargs.alibaba.thinking_budget: must be a positive integer",
        ),
        (
            {"provider_kwargs": {"alibaba": {"thinking_budget": "1k"}}},
            "provider_kwargs.alibaba.thinking_budget: expected int, got '1k'",
        ),
        ({"top_p": 1.01}, "top_p: 1.01 is out of range (0.0 to 1.0)"),
        ({"top_p": -0.5}, "top_p: -0.5 is out of range (0.0 to 1.0)"),
        ({"top_p": float("nan")}, "top_p: nan is out of range (0.0 to 1.0)"),
        ({"top_p": "high"}, "top_p: expected float, got 'high'"),
        ({"stop": "END"}, "stop: expected list, got 'END'"),
        ({"stop": ["END", ""]}, "stop[1]: must not be empty"),
        ({"stop": ["END", 3]}, "stop[1]: expected str, got 3"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop: 5 sequences, at most 4 for openai"),
        (
            {"provider": "alibaba", "stop": ["a", "b", "c", "d", "e"]},
            "stop: 5 sequences, at most 4 for alibaba",
        ),
        (
            {"provider": "google", "stop": ["a", "b", "c", "d", "e", "f"]},
            "stop: 6 sequences, at most 5 for google",
        ),
        ({"seed": 1.5}, "seed: expected int, got 1.5"),
        ({"seed": True}, "seed: expected int, got True"),
        ({"seed": "42"}, "seed: expected int, got '42'"),
        ({"provider": "anthropic", "seed": 42}, "seed: not supported by anthropic"),
        ({"provider": "anthropic_vertex", "seed": 0}, "seed: not supported by anthropic_vertex"),
        ({"api_key": ""}, "api_key: must not be empty (leave it out to use the env var)"),
        ({"stream": True}, "stream: unknown field"),
    ],
)
def test_each_rule_has_its_exact_message(changes: dict[str, Any], expected: str) -> None:
    assert problems(base(**changes)) == [expected]


def test_long_values_are_shortened_in_messages() -> None:
    assert problems(base(provider="x" * 100)) == [
        f"provider: '{'x' * 39}…' is not one of {PROVIDERS}"
    ]


def test_json_object_keys_must_be_strings() -> None:
    tool = tool_dict()
    tool["function"]["parameters"] = {1: "a"}
    assert problems(base(tools=[tool])) == [
        "tools[0].function.parameters: keys must be strings, got 1"
    ]


@pytest.mark.parametrize("missing", ["provider", "model", "messages"])
def test_required_fields(missing: str) -> None:
    data = base()
    del data[missing]
    assert problems(data) == [f"{missing}: missing"]


def test_missing_tool_call_id_is_reported_with_its_index() -> None:
    messages = [*TOOL_EXCHANGE[:2], {"role": "tool", "content": {}}]
    assert problems(base(messages=messages)) == ["messages[2].tool_call_id: missing"]


def test_tool_result_after_its_call_is_accepted_but_not_before() -> None:
    result, call = TOOL_EXCHANGE[2], TOOL_EXCHANGE[1]
    assert to_request(base(messages=[call, result])).messages[1] == ToolResultMessage(
        "call_1", {"temp_c": 21}, "get_weather"
    )
    assert problems(base(messages=[result, call])) == [
        "messages[0].tool_call_id: 'call_1' answers no earlier tool call"
    ]


def test_cache_breakpoints_are_counted_across_messages_and_tools() -> None:
    messages = [{"role": "user", "content": "x", "cache_breakpoint": {"ttl": "5m"}}] * 3
    tools = [tool_dict("a", cache=True), tool_dict("b", cache=True)]
    assert problems(base(messages=messages, tools=tools)) == [
        "cache breakpoints: 5 set, at most 4 allowed"
    ]


def test_request_that_is_not_a_mapping() -> None:
    assert problems(["openai"]) == ["request: expected dict or ChatCompletionRequest, got list"]


def test_non_string_key_is_reported_not_crashed_on() -> None:
    assert problems({**base(), 3: "x"}) == ["3: unknown field"]


# ---------------------------------------------------------------- many problems at once


def test_every_problem_is_reported_together_in_one_error() -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "robot", "content": "beep"},
        {"role": "tool", "content": {}},
    ]
    found = problems(
        base(
            provider="openia",
            temperature="hot",
            messages=messages,
            max_tokens=0,
            colour="blue",
            provider_kwargs={"openai": {"service_tier": "x"}},
        )
    )
    assert found == [
        "colour: unknown field",
        f"provider: 'openia' is not one of {PROVIDERS}",
        "messages[1].role: 'robot' is not one of system, user, assistant, tool",
        "messages[2].tool_call_id: missing",
        "temperature: expected float, got 'hot'",
        "provider_kwargs.openai.service_tier: 'x' is not one of auto, default, flex, scale, "
        "priority",
        "max_tokens: must be a positive integer",
    ]


def test_error_message_lists_the_problems_one_per_line() -> None:
    with pytest.raises(RequestValidationError) as info:
        to_request(base(max_tokens=0, timeout=0))
    assert str(info.value) == (
        "invalid request (2 problems):\n"
        "  max_tokens: must be a positive integer\n"
        "  timeout: must be positive"
    )
    assert isinstance(info.value, ValueError)


def test_a_bad_field_does_not_cause_a_second_false_problem() -> None:
    # The tool list is invalid, so the tool choice cannot be judged against it.
    found = problems(base(tools=[{"type": "function"}], tool_choice="get_weather"))
    assert found == ["tools[0].function: missing"]


def test_an_invalid_provider_skips_the_temperature_range() -> None:
    assert problems(base(provider="openia", temperature=1.9)) == [
        f"provider: 'openia' is not one of {PROVIDERS}"
    ]


# ---------------------------------------------------------------- fallbacks


def test_fallback_rules_use_the_same_wording_under_their_path() -> None:
    found = problems(
        base(
            fallbacks=[
                {"provider": "openia"},
                {"model": 5, "max_tokens": 0, "messages": [], "extra": 1},
                {"retry": {"max_retries": -2}, "tool_choice": "foo"},
            ]
        )
    )
    assert found == [
        f"fallbacks[0].provider: 'openia' is not one of {PROVIDERS}",
        "fallbacks[1].extra: unknown field",
        "fallbacks[1].model: expected str, got 5",
        "fallbacks[1].messages: must not be empty",
        "fallbacks[1].max_tokens: must be a positive integer",
        "fallbacks[2].retry.max_retries: must be >= 0",
        "fallbacks[2].tool_choice: 'foo' is neither auto, none, required nor the name of a "
        "defined tool",
    ]


def test_fallback_temperature_is_checked_against_the_inherited_provider() -> None:
    assert problems(base(provider="anthropic", fallbacks=[{"temperature": 1.5}])) == [
        "fallbacks[0].temperature: 1.5 is out of range for anthropic (0.0 to 1.0)"
    ]
    assert to_request(base(provider="openai", fallbacks=[{"temperature": 1.5}])).fallbacks == [
        FallbackRequest(temperature=1.5)
    ]


def test_inherited_temperature_is_checked_against_the_fallback_provider() -> None:
    found = problems(base(temperature=1.5, fallbacks=[{"provider": "anthropic"}]))
    assert found == [
        "fallbacks[0].temperature: 1.5 (inherited) is out of range for anthropic (0.0 to 1.0)"
    ]


def test_fallback_tool_choice_may_name_an_inherited_tool() -> None:
    request = to_request(base(tools=[tool_dict()], fallbacks=[{"tool_choice": "get_weather"}]))
    assert request.fallbacks == [FallbackRequest(tool_choice="get_weather")]


def test_inherited_tool_choice_must_name_one_of_the_fallback_tools() -> None:
    found = problems(
        base(
            tools=[tool_dict()], tool_choice="get_weather", fallbacks=[{"tools": [tool_dict("x")]}]
        )
    )
    assert found == [
        "fallbacks[0].tool_choice: 'get_weather' (inherited) is neither auto, none, required "
        "nor the name of a defined tool"
    ]


def test_fallback_cache_breakpoints_count_what_it_will_send() -> None:
    messages = [{"role": "user", "content": "x", "cache_breakpoint": {"ttl": "5m"}}] * 3
    tools = [tool_dict("a", cache=True), tool_dict("b", cache=True)]
    found = problems(base(messages=messages, fallbacks=[{"tools": tools}]))
    assert found == ["fallbacks[0].cache breakpoints: 5 set, at most 4 allowed"]


def test_fallback_problem_inherited_unchanged_is_reported_once() -> None:
    # The request's own problem is not repeated for a fallback that only inherits it.
    found = problems(base(provider="anthropic", temperature=1.5, fallbacks=[{"model": "m2"}]))
    assert found == ["temperature: 1.5 is out of range for anthropic (0.0 to 1.0)"]


def test_fallback_tool_results_must_answer_earlier_calls() -> None:
    bad = [{"role": "tool", "tool_call_id": "call_9", "content": {}}]
    assert problems(base(fallbacks=[{"messages": bad}])) == [
        "fallbacks[0].messages[0].tool_call_id: 'call_9' answers no earlier tool call"
    ]


def test_fallback_provider_kwargs_refuse_unknown_options_under_their_path() -> None:
    found = problems(base(fallbacks=[{"provider_kwargs": {"alibaba": {"enable_thinkin": True}}}]))
    assert found == [
        "fallbacks[0].provider_kwargs.alibaba.enable_thinkin: unknown option; did you mean "
        "'enable_thinking'?"
    ]


def test_fallback_sampling_fields_are_checked_as_they_will_be_sent() -> None:
    found = problems(
        base(
            seed=1,
            stop=["a", "b", "c", "d", "e"],
            fallbacks=[
                {"provider": "anthropic"},
                {"provider": "anthropic", "seed": 2, "stop": []},
                {"provider": "google", "stop": ["a", "b", "c", "d", "e", "f"], "top_p": 2},
                {"provider": "alibaba", "stop": [""]},
            ],
        )
    )
    assert found == [
        "stop: 5 sequences, at most 4 for openai",
        "fallbacks[0].seed: not supported by anthropic (inherited from the request)",
        "fallbacks[1].seed: not supported by anthropic",
        "fallbacks[2].top_p: 2.0 is out of range (0.0 to 1.0)",
        "fallbacks[2].stop: 6 sequences, at most 5 for google",
        "fallbacks[3].stop[0]: must not be empty",
    ]


def test_inherited_stop_sequences_are_counted_against_the_fallback_provider() -> None:
    stops = ["a", "b", "c", "d", "e"]
    assert problems(base(provider="anthropic", stop=stops, fallbacks=[{"provider": "openai"}])) == [
        "fallbacks[0].stop: 5 sequences (inherited), at most 4 for openai"
    ]
    # An empty list is how a fallback drops what it would inherit.
    request = to_request(
        base(provider="anthropic", stop=stops, fallbacks=[{"provider": "openai", "stop": []}])
    )
    assert request.fallbacks == [FallbackRequest(provider=CompletionsProvider.OPENAI, stop=[])]


def test_an_inherited_seed_is_fine_where_the_provider_has_one() -> None:
    request = to_request(base(seed=5, fallbacks=[{"provider": "google"}, {"model": "m2"}]))
    assert request.seed == 5


# ---------------------------------------------------------------- stream options


def test_stream_options_default_dict_and_typed() -> None:
    assert to_stream_options(None) == StreamOptions()
    options = to_stream_options(
        {
            "stream_sentences": True,
            "min_sentence_length": 0,
            "punctuation_marks": [".", "!"],
            "punctuation_language": "ja",
        }
    )
    assert options == StreamOptions(True, True, 0, [".", "!"], "ja")
    assert to_stream_options(options) == options


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"punctuation_language": "nl"},
            "stream_options.punctuation_language: 'nl' is not one of "
            "en, zh, ko, ja, es, fr, it, de",
        ),
        ({"min_sentence_length": -1}, "stream_options.min_sentence_length: must be >= 0"),
        ({"min_sentence_length": "6"}, "stream_options.min_sentence_length: expected int, got '6'"),
        (
            {"punctuation_marks": [".", ""]},
            "stream_options.punctuation_marks[1]: must not be empty",
        ),
        (
            {"punctuation_marks": ["."], "sentences": True},
            "stream_options.sentences: unknown field",
        ),
        (
            {"punctuation_marks": [".", 3]},
            "stream_options.punctuation_marks[1]: expected str, got 3",
        ),
        ({"punctuation_marks": "."}, "stream_options.punctuation_marks: expected list, got '.'"),
        (
            {"punctuation_marks": []},
            "stream_options.punctuation_marks: must not be empty (None means the defaults)",
        ),
        ({"stream_sentences": 1}, "stream_options.stream_sentences: expected bool, got 1"),
        ("fast", "stream_options: expected dict or StreamOptions, got 'fast'"),
    ],
)
def test_stream_option_rules(data: Any, expected: str) -> None:
    assert stream_problems(data) == [expected]


def test_stream_options_report_every_problem_and_typed_input_alike() -> None:
    typed = StreamOptions(min_sentence_length=-1, punctuation_language="xx")
    expected = [
        "stream_options.min_sentence_length: must be >= 0",
        "stream_options.punctuation_language: 'xx' is not one of en, zh, ko, ja, es, fr, it, de",
    ]
    assert stream_problems(typed) == expected
    assert stream_problems({"min_sentence_length": -1, "punctuation_language": "xx"}) == expected


def test_the_message_header_names_what_was_invalid() -> None:
    with pytest.raises(RequestValidationError, match=r"^invalid stream options:\n"):
        to_stream_options({"min_sentence_length": -1})
    with pytest.raises(RequestValidationError, match=r"^invalid conversation \(2 problems\):\n"):
        deserialize_conversation([{"role": "robot"}, {"role": "user"}])
    with pytest.raises(RequestValidationError, match=r"^invalid request:\n"):
        to_request({"provider": "openai", "model": "m", "messages": []})
