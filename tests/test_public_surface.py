"""The public surface: ``__all__``, the contract's names and defaults, imports, the error tree."""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

import pipeline
from pipeline import _errors
from tests._contract import (
    CHUNK_UNION,
    DATACLASSES,
    FUNCTIONS,
    PROVIDERS,
    REQUIRED,
    TOOL_CHOICE_LITERALS,
    TYPEDDICTS,
    contract_names,
)

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- the contract table

# What the table must hold at the least: guards it against an edit that silently drops a name.
CONTRACT_MINIMUM = {
    "generate_chat_completion", "generate_chat_completion_stream",
    "serialize_conversation", "deserialize_conversation",
    "ChatCompletionRequest", "FallbackRequest", "ChatCompletionResponse",
    "UserMessage", "AssistantMessage", "SystemMessage", "ToolResultMessage",
    "ToolDefinition", "FunctionDefinition", "ToolCall", "FunctionCall",
    "ChatCompletionChunk", "AssistantMessageDeltaChunk", "AssistantMessageSentenceChunk",
    "ToolCallChunk", "FinishReasonChunk", "UsageChunk", "FinalResponseChunk",
    "CompletionsProvider", "ToolChoice", "CacheBreakpoint",
    "OpenAIKwargs", "AnthropicKwargs", "GoogleKwargs", "AnthropicVertexKwargs", "AlibabaKwargs",
    "ProviderKwargs", "StreamOptions", "RetryConfiguration",
    "ConversationHistory", "ThinkingConfigParam", "ThinkingConfigDict",
}  # fmt: skip

CONTRACT_DATACLASSES = list(DATACLASSES)
CONTRACT_TYPEDDICTS = list(TYPEDDICTS)


def test_contract_table_holds_every_documented_name() -> None:
    assert contract_names() >= CONTRACT_MINIMUM
    assert len(DATACLASSES) == 18
    assert set(TYPEDDICTS) == {
        "ProviderKwargs", "OpenAIKwargs", "AnthropicKwargs", "GoogleKwargs",
        "AnthropicVertexKwargs", "AlibabaKwargs",
    }  # fmt: skip
    assert DATACLASSES["RetryConfiguration"] == (
        ("enabled", True),
        ("max_retries", 3),
        ("retry_delay", 1.0),
        ("backoff_multiplier", 2.0),
    )
    assert TYPEDDICTS["AlibabaKwargs"] == ("base_url", "enable_search")
    request = DATACLASSES["ChatCompletionRequest"]
    assert len(request) == 13
    assert [default for _, default in request[:4]] == [REQUIRED] * 4
    assert [default for _, default in request[4:]] == [None] * 9
    assert [name for name, _ in DATACLASSES["ToolCall"]] == [
        "id",
        "type",
        "function",
        "index",
        "thought_signature",
    ]
    for name, fields in DATACLASSES.items():
        names = [field for field, _ in fields]
        assert names, name
        assert len(set(names)) == len(names), name
        defaults = [default is not REQUIRED for _, default in fields]
        # A dataclass cannot put a required field after a defaulted one.
        assert defaults == sorted(defaults), name


# ---------------------------------------------------------------- __all__


def touch_lazy_names() -> None:
    for name in pipeline._LAZY:
        getattr(pipeline, name)


def test_all_is_a_sorted_duplicate_free_tuple() -> None:
    assert isinstance(pipeline.__all__, tuple)
    assert len(set(pipeline.__all__)) == len(pipeline.__all__)
    assert list(pipeline.__all__) == sorted(pipeline.__all__)


def test_every_name_in_all_resolves() -> None:
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None, name


def test_all_is_complete() -> None:
    touch_lazy_names()

    def is_import_helper(name: str, value: Any) -> bool:
        return (
            type(value).__module__ == "__future__"  # ``annotations``
            or name == "TYPE_CHECKING"
            or getattr(value, "__module__", None) == "typing"
            or inspect.ismodule(value)
        )

    public = {
        name
        for name, value in vars(pipeline).items()
        if not name.startswith("_") and not is_import_helper(name, value)
    }
    assert public, "nothing public found"
    missing = public - set(pipeline.__all__)
    assert not missing, f"public but not in __all__: {sorted(missing)}"


def test_lazy_names_are_in_all_and_the_rest_is_an_attribute_error() -> None:
    assert set(pipeline._LAZY) <= set(pipeline.__all__)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        _ = pipeline.no_such_name
    assert not hasattr(pipeline, "no_such_name")


def test_public_names_are_defined_in_private_modules() -> None:
    touch_lazy_names()
    for name in pipeline.__all__:
        value = getattr(pipeline, name)
        module = getattr(value, "__module__", None)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert module is not None
            assert module.startswith("pipeline._"), (name, module)


def test_every_contract_name_is_importable_from_pipeline() -> None:
    namespace: dict[str, Any] = {}
    exec("from pipeline import *", namespace)
    for name in sorted(contract_names()):
        assert name in pipeline.__all__, name
        assert name in namespace, name


# ---------------------------------------------------------------- the contract's types


def test_chunk_union_has_the_six_documented_members_in_order() -> None:
    members = [pipeline.__dict__[name] for name, _ in CHUNK_UNION]
    assert len(members) == 6
    assert list(typing.get_args(pipeline.ChatCompletionChunk)) == members


CHUNK_EXAMPLES: dict[str, Any] = {
    "AssistantMessageDeltaChunk": pipeline.AssistantMessageDeltaChunk("Hel"),
    "AssistantMessageSentenceChunk": pipeline.AssistantMessageSentenceChunk("Hello there."),
    "ToolCallChunk": pipeline.ToolCallChunk(
        pipeline.ToolCall("call_1", "function", pipeline.FunctionCall({"city": "Oslo"}, "weather"))
    ),
    "FinishReasonChunk": pipeline.FinishReasonChunk("stop"),
    "UsageChunk": pipeline.UsageChunk({"prompt_tokens": 3}),
    "FinalResponseChunk": pipeline.FinalResponseChunk(
        pipeline.ChatCompletionResponse(pipeline.AssistantMessage("Hi."), "stop")
    ),
}


@pytest.mark.parametrize(("name", "documented"), CHUNK_UNION)
def test_chunk_type_is_the_documented_string(name: str, documented: str) -> None:
    chunk = CHUNK_EXAMPLES[name]
    assert type(chunk) is getattr(pipeline, name)
    assert chunk.type == documented
    assert isinstance(type(chunk).type, property)


def test_completions_provider_values() -> None:
    assert PROVIDERS == {
        "OPENAI": "openai", "ANTHROPIC": "anthropic", "GOOGLE": "google",
        "ANTHROPIC_VERTEX": "anthropic_vertex", "ALIBABA": "alibaba",
    }  # fmt: skip
    provider = pipeline.CompletionsProvider
    assert {member.name: member.value for member in provider} == PROVIDERS
    assert provider("anthropic_vertex") is provider.ANTHROPIC_VERTEX
    as_text: str = provider.OPENAI
    assert as_text == "openai"
    assert f"{provider.ALIBABA}" == "alibaba"


@pytest.mark.parametrize("name", CONTRACT_DATACLASSES)
def test_dataclass_fields_and_defaults_follow_the_contract(name: str) -> None:
    cls = getattr(pipeline, name)
    assert dataclasses.is_dataclass(cls)
    contract_fields = DATACLASSES[name]
    fields = dataclasses.fields(cls)
    # Contract fields first and in contract order; extensions may follow, always defaulting to
    # None, or to False for an on/off switch (``http2``): unset, they change nothing.
    assert [f.name for f in fields[: len(contract_fields)]] == [n for n, _ in contract_fields]
    for field in fields[len(contract_fields) :]:
        assert field.default is None or field.default is False, (name, field.name)
    for field, (_, default) in zip(fields, contract_fields, strict=False):
        if default is REQUIRED:
            assert field.default is dataclasses.MISSING, (name, field.name)
            assert field.default_factory is dataclasses.MISSING, (name, field.name)
        else:
            assert field.default == default, (name, field.name)
            assert type(field.default) is type(default), (name, field.name)


@pytest.mark.parametrize("name", CONTRACT_DATACLASSES)
def test_positional_construction_in_contract_order(name: str) -> None:
    cls = getattr(pipeline, name)
    contract_fields = DATACLASSES[name]
    values = [f"value-{i}" for i in range(len(contract_fields))]
    obj = cls(*values)
    for (field, _), value in zip(contract_fields, values, strict=True):
        assert getattr(obj, field) == value, (name, field)


def test_concrete_defaults() -> None:
    assert dataclasses.astuple(pipeline.RetryConfiguration()) == (True, 3, 1.0, 2.0)
    assert dataclasses.astuple(pipeline.StreamOptions()) == (False, True, 6, None, None)
    request = pipeline.ChatCompletionRequest(
        pipeline.CompletionsProvider.OPENAI, "sk-test", "gpt-4o-mini", [pipeline.UserMessage("hi")]
    )
    optional = [f.name for f in dataclasses.fields(request)][4:]
    assert optional[:9] == [
        "temperature", "tools", "tool_choice", "timeout", "max_tokens", "response_schema",
        "retry", "fallbacks", "provider_kwargs",
    ]  # fmt: skip
    assert all(getattr(request, name) is None for name in optional if name != "http2")
    assert request.http2 is False
    assert all(value is None for value in dataclasses.astuple(pipeline.FallbackRequest()))
    assert pipeline.AssistantMessage().content is None
    response = pipeline.ChatCompletionResponse(pipeline.AssistantMessage("x"), "stop")
    assert (response.usage, response.provider, response.model) == (None, None, None)


@pytest.mark.parametrize("name", CONTRACT_TYPEDDICTS)
def test_provider_kwargs_typeddicts_have_the_contract_keys(name: str) -> None:
    cls = getattr(pipeline, name)
    assert typing.is_typeddict(cls)
    assert cls.__total__ is False
    keys = TYPEDDICTS[name]
    assert keys, name
    assert set(keys) <= set(cls.__annotations__), name


def test_provider_kwargs_is_keyed_by_every_provider() -> None:
    keys = set(pipeline.ProviderKwargs.__annotations__)
    assert keys == {provider.value for provider in pipeline.CompletionsProvider}
    assert keys == set(TYPEDDICTS["ProviderKwargs"])


def test_type_aliases() -> None:
    literal, other = typing.get_args(pipeline.ToolChoice)
    assert typing.get_args(literal) == TOOL_CHOICE_LITERALS
    assert other is str
    assert typing.get_origin(pipeline.ConversationHistory) is list
    (message,) = typing.get_args(pipeline.ConversationHistory)
    assert set(typing.get_args(message)) == {
        pipeline.SystemMessage, pipeline.UserMessage,
        pipeline.AssistantMessage, pipeline.ToolResultMessage,
    }  # fmt: skip


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_contract_functions_have_the_contract_signatures(name: str) -> None:
    function = getattr(pipeline, name)
    expected = FUNCTIONS[name]
    assert inspect.iscoroutinefunction(function) is expected.is_async
    parameters = list(inspect.signature(function).parameters.values())
    assert [(p.name, p.default) for p in parameters[: len(expected.parameters)]] == [
        (parameter, inspect.Parameter.empty if default is REQUIRED else default)
        for parameter, default in expected.parameters
    ]
    # Additions must be optional.
    assert all(
        p.default is not inspect.Parameter.empty for p in parameters[len(expected.parameters) :]
    )


def test_contract_function_parameters_exactly() -> None:
    assert list(inspect.signature(pipeline.generate_chat_completion).parameters) == ["request"]
    stream = inspect.signature(pipeline.generate_chat_completion_stream)
    assert list(stream.parameters)[:2] == ["request", "stream_options"]
    assert list(inspect.signature(pipeline.serialize_conversation).parameters) == ["conversation"]
    assert list(inspect.signature(pipeline.deserialize_conversation).parameters) == [
        "serialized_conversation"
    ]


# ---------------------------------------------------------------- fresh interpreters


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_star_import_in_a_fresh_interpreter() -> None:
    code = (
        "from pipeline import *\n"
        "import pipeline\n"
        "missing = [n for n in pipeline.__all__ if n not in globals()]\n"
        "assert not missing, missing\n"
        "print(len(pipeline.__all__))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(pipeline.__all__))


@pytest.mark.parametrize("first", ["pipeline", "stages", "providers", "pipeline._api"])
def test_each_package_imports_first_in_a_fresh_interpreter(first: str) -> None:
    code = (
        f"import {first}\n"
        "import pipeline, stages, providers, pipeline._api\n"
        "from pipeline import *\n"
        "print('ok')\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_python_m_pipeline_version() -> None:
    result = run_python("-m", "pipeline", "version")
    assert result.returncode == 0, result.stderr
    assert pipeline.__version__ in result.stdout
    for provider in ("openai", "anthropic", "google", "anthropic_vertex", "alibaba"):
        assert provider in result.stdout


# ---------------------------------------------------------------- the error tree


def docstring_tree() -> dict[str, str | None]:
    """``{class name: parent name}`` as drawn in the errors module's docstring."""
    assert _errors.__doc__ is not None
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in _errors.__doc__.splitlines():
        match = re.match(r"^(\s*(?:[│ ]\s*)*(?:[├└]── )?)([A-Z]\w+Error)\b", line)
        if match is None:
            continue
        depth = len(match.group(1))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group(2)] = stack[-1][1] if stack else None
        stack.append((depth, match.group(2)))
    return parents


def test_error_tree_matches_the_docstring_drawing() -> None:
    tree = docstring_tree()
    assert tree["PipelineError"] is None
    assert tree["RateLimitError"] == "ProviderStatusError"
    assert tree["ToolCallArgumentsError"] == "ProtocolError"
    assert tree["ProviderTimeoutError"] == "ProviderConnectionError"
    assert tree["AllAttemptsFailedError"] == "ProviderError"
    assert len(tree) == 13
    for name, parent in tree.items():
        cls = getattr(pipeline, name)
        assert issubclass(cls, Exception)
        if parent is None:
            assert cls.__bases__ == (Exception,)
        else:
            assert cls.__bases__[0] is getattr(pipeline, parent), name
    exported = {
        name
        for name in pipeline.__all__
        if isinstance(getattr(pipeline, name), type)
        and issubclass(getattr(pipeline, name), BaseException)
    }
    assert exported == set(tree)


def test_request_validation_error_is_a_value_error_and_names_the_path() -> None:
    error = pipeline.RequestValidationError(["messages[1].role: unknown role 'robot'"])
    assert isinstance(error, ValueError)
    assert isinstance(error, pipeline.PipelineError)
    assert "messages[1].role" in str(error)
    assert error.problems == ("messages[1].role: unknown role 'robot'",)
    two = pipeline.RequestValidationError(["model: missing", "temperature: not a number"])
    assert "2 problems" in str(two)
    assert "model: missing" in str(two)
    assert "temperature: not a number" in str(two)
    with pytest.raises(ValueError, match="model"):
        raise two


def test_configuration_error_is_a_pipeline_error_not_a_provider_error() -> None:
    error = pipeline.ConfigurationError("no API key for openai")
    assert isinstance(error, pipeline.PipelineError)
    assert not isinstance(error, pipeline.ProviderError)


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (pipeline.ProviderError, None),
        (pipeline.ProviderStatusError, 400),
        (pipeline.AuthenticationError, 401),
        (pipeline.RateLimitError, 429),
        (pipeline.ServerError, 529),
        (pipeline.ProviderConnectionError, None),
    ],
)
def test_provider_errors_carry_their_details(
    cls: type[pipeline.ProviderError], status: int | None
) -> None:
    error = cls(
        "the provider failed",
        provider="anthropic",
        status_code=status,
        retryable=True,
        retry_after=2.5,
        provider_message="Overloaded",
    )
    assert isinstance(error, pipeline.ProviderError)
    assert isinstance(error, pipeline.PipelineError)
    assert error.provider == "anthropic"
    assert error.status_code == status
    assert error.retryable is True
    assert error.retry_after == 2.5
    assert error.provider_message == "Overloaded"
    assert error.partial_response is None
    text = str(error)
    assert "the provider failed" in text
    assert "provider=anthropic" in text
    assert "retry_after=2.5s" in text
    assert (f"status={status}" in text) is (status is not None)


def test_provider_error_defaults() -> None:
    error = pipeline.ProviderError("x", provider="openai")
    assert (error.status_code, error.retryable, error.retry_after) == (None, False, None)


def test_protocol_error_names_the_byte_offset() -> None:
    error = pipeline.ProtocolError("bad JSON in SSE data", provider="openai", offset=1234)
    assert error.offset == 1234
    assert "at byte 1234" in str(error)
    assert error.retryable is False
    assert isinstance(error, pipeline.ProviderError)
    assert "at byte" not in str(pipeline.ProtocolError("bad event"))
    assert pipeline.ProtocolError("bad event").offset is None


def test_tool_call_arguments_error_keeps_the_raw_arguments() -> None:
    error = pipeline.ToolCallArgumentsError(
        "arguments are not an object", provider="openai", tool_name="weather", raw_arguments="[1]"
    )
    assert isinstance(error, pipeline.ProtocolError)
    assert (error.tool_name, error.raw_arguments) == ("weather", "[1]")


def test_all_attempts_failed_error_holds_every_error_in_order() -> None:
    first = pipeline.RateLimitError("slow down", provider="openai", status_code=429)
    last = pipeline.ServerError("overloaded", provider="anthropic", status_code=529)
    partial = pipeline.ChatCompletionResponse(pipeline.AssistantMessage("Hel"), "error")
    last.partial_response = partial
    error = pipeline.AllAttemptsFailedError([first, last])
    assert error.errors == (first, last)
    assert isinstance(error.errors, tuple)
    assert isinstance(error, pipeline.ProviderError)  # catchable as what happened
    assert (error.provider, error.status_code, error.retryable) == ("anthropic", 529, False)
    text = str(error)
    assert "all 2 attempts failed" in text
    assert text.index("RateLimitError") < text.index("ServerError")
    assert error.partial_response is partial
    assert pipeline.AllAttemptsFailedError([first]).partial_response is None
