"""The public surface: ``__all__``, the seed's names and defaults, imports, the error tree."""

from __future__ import annotations

import ast
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

REPO = Path(__file__).resolve().parents[1]
SEED = (REPO.parent / "shared" / "seed" / "api-reference.txt").read_text(encoding="utf-8")

# ---------------------------------------------------------------- reading the seed

# Referenced as types in the seed (and documented by it) without a declaration of their own.
SEED_REFERENCED = ("ConversationHistory", "ThinkingConfigParam", "ThinkingConfigDict")

# What the parse below must find at the least: guards the parser against silently finding less.
SEED_MINIMUM = {
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
}  # fmt: skip


def _union_members(name: str) -> list[tuple[str, str | None]]:
    """``X = Union[A, # type: "a" B, ...]`` → ``[("A", "a"), ("B", None), ...]``."""
    body = re.search(rf"\b{name} = Union\[(.*?)\]\s", SEED + " ", re.DOTALL)
    assert body is not None, name
    members = re.findall(r'([A-Za-z_]\w*(?:\[[^\]]*\])?),?\s*(?:# type: "(\w+)")?', body.group(1))
    return [(m, t or None) for m, t in members if m]


def seed_names() -> set[str]:
    names = set(re.findall(r"\bdef (\w+)\( ", SEED))  # not ``def type(self)``
    names |= set(re.findall(r"\bclass (\w+)\b", SEED))
    names |= set(re.findall(r"\b(\w+) = Union\[", SEED))
    names |= {m for m, _ in _union_members("ChatCompletionChunk")}
    names |= set(SEED_REFERENCED)
    return names


def _seed_class_body(name: str) -> str:
    match = re.search(rf"class {name}\b[^:]*:(.*)", SEED)
    assert match is not None, name
    body = match.group(1).split("@property")[0]
    return re.sub(r"\([^)]*\)", "", body)  # parenthesised remarks in comments


def seed_dataclass_fields(name: str) -> list[tuple[str, str | None]]:
    """The seed's fields of dataclass ``name`` in order, each with its default's source text."""
    body = _seed_class_body(name)
    return [
        (field, default.strip() if default else None)
        for field, _, default in re.findall(
            r"\b([a-z_][a-z0-9_]*): ([^#=]+?)(?: = ([^#]+?))? #", body + " #"
        )
    ]


def seed_typeddict_keys(name: str) -> list[str]:
    return re.findall(r"\b([a-z_][a-z0-9_]*): \S", _seed_class_body(name))


SEED_DATACLASSES = re.findall(r"@dataclass class (\w+):", SEED)
SEED_TYPEDDICTS = re.findall(r"class (\w+)\(TypedDict, total=False\):", SEED)


def test_seed_parse_finds_every_documented_name() -> None:
    assert seed_names() >= SEED_MINIMUM
    assert len(SEED_DATACLASSES) == 18
    assert set(SEED_TYPEDDICTS) == {
        "ProviderKwargs", "OpenAIKwargs", "AnthropicKwargs", "GoogleKwargs",
        "AnthropicVertexKwargs", "AlibabaKwargs",
    }  # fmt: skip
    assert seed_dataclass_fields("RetryConfiguration") == [
        ("enabled", "True"),
        ("max_retries", "3"),
        ("retry_delay", "1.0"),
        ("backoff_multiplier", "2.0"),
    ]
    assert seed_typeddict_keys("AlibabaKwargs") == ["base_url", "enable_search"]
    request = seed_dataclass_fields("ChatCompletionRequest")
    assert len(request) == 13
    assert [default for _, default in request[:4]] == [None] * 4
    assert [c for c, _ in seed_dataclass_fields("ToolCall")] == [
        "id",
        "type",
        "function",
        "index",
        "thought_signature",
    ]


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


def test_every_seed_name_is_importable_from_pipeline() -> None:
    namespace: dict[str, Any] = {}
    exec("from pipeline import *", namespace)
    for name in sorted(seed_names()):
        assert name in pipeline.__all__, name
        assert name in namespace, name


# ---------------------------------------------------------------- the seed's types


def test_chunk_union_has_the_six_documented_members_in_order() -> None:
    members = [pipeline.__dict__[name] for name, _ in _union_members("ChatCompletionChunk")]
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


@pytest.mark.parametrize(("name", "documented"), _union_members("ChatCompletionChunk"))
def test_chunk_type_is_the_documented_string(name: str, documented: str | None) -> None:
    assert documented is not None, f"the seed documents a type for {name}"
    chunk = CHUNK_EXAMPLES[name]
    assert type(chunk) is getattr(pipeline, name)
    assert chunk.type == documented
    assert isinstance(type(chunk).type, property)


def test_completions_provider_values() -> None:
    documented = dict(re.findall(r'\b([A-Z_]+) = "(\w+)"', _seed_class_body("CompletionsProvider")))
    assert documented == {
        "OPENAI": "openai", "ANTHROPIC": "anthropic", "GOOGLE": "google",
        "ANTHROPIC_VERTEX": "anthropic_vertex", "ALIBABA": "alibaba",
    }  # fmt: skip
    provider = pipeline.CompletionsProvider
    assert {member.name: member.value for member in provider} == documented
    assert provider("anthropic_vertex") is provider.ANTHROPIC_VERTEX
    as_text: str = provider.OPENAI
    assert as_text == "openai"
    assert f"{provider.ALIBABA}" == "alibaba"


@pytest.mark.parametrize("name", SEED_DATACLASSES)
def test_dataclass_fields_and_defaults_follow_the_seed(name: str) -> None:
    cls = getattr(pipeline, name)
    assert dataclasses.is_dataclass(cls)
    seed_fields = seed_dataclass_fields(name)
    assert seed_fields, name
    fields = dataclasses.fields(cls)
    # Seed fields first and in seed order; extensions may follow, always with a default.
    assert [f.name for f in fields[: len(seed_fields)]] == [n for n, _ in seed_fields]
    for field in fields[len(seed_fields) :]:
        assert field.default is None, (name, field.name)
    for field, (_, default) in zip(fields, seed_fields, strict=False):
        if default is None:
            assert field.default is dataclasses.MISSING, (name, field.name)
            assert field.default_factory is dataclasses.MISSING, (name, field.name)
        else:
            assert field.default == ast.literal_eval(default), (name, field.name)
            assert type(field.default) is type(ast.literal_eval(default)), (name, field.name)


@pytest.mark.parametrize("name", SEED_DATACLASSES)
def test_positional_construction_in_seed_order(name: str) -> None:
    cls = getattr(pipeline, name)
    seed_fields = seed_dataclass_fields(name)
    values = [f"value-{i}" for i in range(len(seed_fields))]
    obj = cls(*values)
    for (field, _), value in zip(seed_fields, values, strict=True):
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
    assert all(getattr(request, name) is None for name in optional)
    assert all(value is None for value in dataclasses.astuple(pipeline.FallbackRequest()))
    assert pipeline.AssistantMessage().content is None
    response = pipeline.ChatCompletionResponse(pipeline.AssistantMessage("x"), "stop")
    assert (response.usage, response.provider, response.model) == (None, None, None)


@pytest.mark.parametrize("name", SEED_TYPEDDICTS)
def test_provider_kwargs_typeddicts_have_the_seed_keys(name: str) -> None:
    cls = getattr(pipeline, name)
    assert typing.is_typeddict(cls)
    assert cls.__total__ is False
    keys = seed_typeddict_keys(name)
    assert keys, name
    assert set(keys) <= set(cls.__annotations__), name


def test_provider_kwargs_is_keyed_by_every_provider() -> None:
    keys = set(pipeline.ProviderKwargs.__annotations__)
    assert keys == {provider.value for provider in pipeline.CompletionsProvider}


def test_type_aliases() -> None:
    literal, other = typing.get_args(pipeline.ToolChoice)
    assert typing.get_args(literal) == ("none", "auto", "required")
    assert other is str
    assert typing.get_origin(pipeline.ConversationHistory) is list
    (message,) = typing.get_args(pipeline.ConversationHistory)
    assert set(typing.get_args(message)) == {
        pipeline.SystemMessage, pipeline.UserMessage,
        pipeline.AssistantMessage, pipeline.ToolResultMessage,
    }  # fmt: skip


def test_seed_functions_have_the_seed_signatures() -> None:
    assert inspect.iscoroutinefunction(pipeline.generate_chat_completion)
    assert list(inspect.signature(pipeline.generate_chat_completion).parameters) == ["request"]
    stream = inspect.signature(pipeline.generate_chat_completion_stream)
    assert list(stream.parameters)[:2] == ["request", "stream_options"]
    assert stream.parameters["stream_options"].default is None
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
