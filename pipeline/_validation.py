"""Turning a request dict (or a typed request) into a checked ``ChatCompletionRequest``.

Validation runs before any I/O and reports every problem at once, in one
:class:`RequestValidationError`, each as ``"<path>: <problem>"``. It has two passes:

1. Structure each top-level field on its own through the shared converter (cattrs does the
   nesting, the dispatch on ``role`` and the per-path errors).
2. Check the rules that span fields or need a provider (temperature ranges, tool choice,
   cache breakpoints, tool results answering earlier calls, positive limits, and the fields
   and stop-sequence counts each provider takes, from ``_provider_support``).

A rule in pass 2 runs only if every field it reads came through pass 1, so one mistake is
never reported twice, nor does it cause a false second one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ._converter import converter, describe, join, name_of, problems_of, type_hints
from ._errors import RequestValidationError
from ._provider_support import OPTIONAL_FIELDS, REQUEST_SUPPORT, TOP_P_RANGE
from ._secrets import is_header_safe
from ._types import (
    AssistantMessage,
    ChatCompletionRequest,
    CompletionsProvider,
    FallbackRequest,
    Message,
    RetryConfiguration,
    StreamOptions,
    ToolDefinition,
    ToolResultMessage,
)

MAX_CACHE_BREAKPOINTS = 4
PUNCTUATION_LANGUAGES = ("en", "zh", "ko", "ja", "es", "fr", "it", "de")
TOOL_CHOICE_KEYWORDS = ("auto", "none", "required")

TEMPERATURE_RANGES: Mapping[CompletionsProvider, tuple[float, float]] = {
    provider: support.temperature for provider, support in REQUEST_SUPPORT.items()
}


def to_request(data: ChatCompletionRequest | Mapping[str, Any]) -> ChatCompletionRequest:
    """Check a request and return it as typed objects.

    Args:
        data: A ``ChatCompletionRequest``, or the same shape as a dict (messages tagged with
            ``role``; ``provider`` a string or ``CompletionsProvider``; bytes as base64 text).
            ``api_key`` may be absent: the provider's environment variable is used later.

    Returns:
        A new request built from fresh objects; ``provider_kwargs`` stay plain dicts.

    Raises:
        RequestValidationError: The request is malformed; ``problems`` lists every problem.
    """
    problems: list[str] = []
    fields = _Fields.structure(
        data, ChatCompletionRequest, "", problems, required=("provider", "model", "messages")
    )
    if fields is None:
        raise RequestValidationError(problems)
    fields.values.setdefault("api_key", None)
    _check_request(fields, problems)
    if "fallbacks" in fields.values:
        fields.values["fallbacks"] = _fallbacks(fields, problems)
    if problems:
        raise RequestValidationError(problems)
    return ChatCompletionRequest(**fields.values)


def to_stream_options(data: StreamOptions | Mapping[str, Any] | None) -> StreamOptions:
    """Check stream options and return them typed; ``None`` means the defaults.

    Raises:
        RequestValidationError: The options are malformed; ``problems`` lists every problem.
    """
    if data is None:
        return StreamOptions()
    problems: list[str] = []
    fields = _Fields.structure(data, StreamOptions, "stream_options", problems, required=())
    if fields is None:
        raise RequestValidationError(problems, subject="stream options")
    length = fields.get("min_sentence_length")
    if isinstance(length, int) and length < 0:
        problems.append("stream_options.min_sentence_length: must be >= 0")
    marks = fields.get("punctuation_marks")
    if marks is not None:
        if not marks:
            problems.append(
                "stream_options.punctuation_marks: must not be empty (None means the defaults)"
            )
        problems += [
            f"stream_options.punctuation_marks[{i}]: must not be empty"
            for i, m in enumerate(marks)
            if not m
        ]
    language = fields.get("punctuation_language")
    if language is not None and language not in PUNCTUATION_LANGUAGES:
        problems.append(
            f"stream_options.punctuation_language: {describe(language)} is not one of "
            + ", ".join(PUNCTUATION_LANGUAGES)
        )
    if problems:
        raise RequestValidationError(problems, subject="stream options")
    return StreamOptions(**fields.values)


class _Fields:
    """The top-level fields of one request that structured cleanly, and which did not."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.values: dict[str, Any] = {}
        self.failed: set[str] = set()

    def get(self, name: str) -> Any:
        """The field's value, or ``None`` when absent or invalid."""
        return self.values.get(name)

    def ok(self, *names: str) -> bool:
        """Whether none of ``names`` failed to structure."""
        return self.failed.isdisjoint(names)

    def at(self, name: str) -> str:
        return join(self.path, name)

    @classmethod
    def structure(
        cls,
        data: Any,
        target: type[Any],
        path: str,
        problems: list[str],
        *,
        required: Collection[str],
    ) -> _Fields | None:
        """Structure ``data``'s fields one by one so that later rules can use the good ones.

        cattrs would structure the whole class at once, but then one bad field would hide
        every rule that spans fields; here each field fails alone.
        """
        if isinstance(data, target):
            data = {f.name: getattr(data, f.name) for f in dataclasses.fields(target)}
        elif not isinstance(data, Mapping):
            where = path or ("stream_options" if target is StreamOptions else "request")
            problems.append(f"{where}: expected dict or {target.__name__}, got {describe(data)}")
            return None
        hints = type_hints(target)
        names = [f.name for f in dataclasses.fields(target)]
        fields = cls(path)
        problems += [
            f"{join(path, name_of(key))}: unknown field" for key in data if key not in hints
        ]
        for name in names:
            if name not in data:
                if name in required:
                    problems.append(f"{fields.at(name)}: missing")
                    fields.failed.add(name)
                continue
            if name == "fallbacks":
                # Checked by the caller, field by field like the request itself.
                fields.values[name] = data[name]
                continue
            try:
                # Broad on purpose: whatever a hook raised becomes a problem line.
                fields.values[name] = converter.structure(data[name], hints[name])
            except Exception as exc:
                problems += problems_of(exc, fields.at(name))
                fields.failed.add(name)
        return fields


def _fallbacks(request: _Fields, problems: list[str]) -> list[FallbackRequest] | None:
    raw = request.values["fallbacks"]
    if raw is None:
        return None
    if not isinstance(raw, list | tuple):
        problems.append(f"fallbacks: expected list, got {describe(raw)}")
        return None
    result = []
    for i, item in enumerate(raw):
        fallback = _Fields.structure(
            item, FallbackRequest, f"fallbacks[{i}]", problems, required=()
        )
        if fallback is None:
            continue
        _check_request(fallback, problems, inherited=request)
        result.append(FallbackRequest(**fallback.values))
    return result


def _check_request(fields: _Fields, problems: list[str], inherited: _Fields | None = None) -> None:
    """Pass 2 for a request, or (with ``inherited``, the request) for one of its fallbacks."""
    at = fields.at
    api_key = fields.get("api_key")
    if api_key == "":
        problems.append(f"{at('api_key')}: must not be empty (leave it out to use the env var)")
    elif api_key is not None and not is_header_safe(api_key):
        # A stray newline would otherwise fail in the HTTP layer, whose error quotes the
        # whole header value: the key.
        problems.append(
            f"{at('api_key')}: must hold only printable ASCII, no spaces or line breaks"
        )
    if fields.get("model") == "":
        problems.append(f"{at('model')}: must not be empty")
    messages: list[Message] | None = fields.get("messages")
    if messages is not None:
        if not messages:
            problems.append(f"{at('messages')}: must not be empty")
        problems += _message_problems(messages, at("messages"))
    tools: list[ToolDefinition] | None = fields.get("tools")
    if tools is not None:
        problems += _tool_name_problems(tools, at("tools"))
    max_tokens = fields.get("max_tokens")
    if max_tokens is not None and max_tokens <= 0:
        problems.append(f"{at('max_tokens')}: must be a positive integer")
    for budget in ("timeout", "hedge_after", "first_token_timeout"):
        seconds = fields.get(budget)
        if seconds is not None and not seconds > 0:
            problems.append(f"{at(budget)}: must be positive")
        elif seconds is not None and math.isinf(seconds):
            problems.append(f"{at(budget)}: must be finite (leave it out for no bound)")
    top_p = fields.get("top_p")
    low, high = TOP_P_RANGE
    if top_p is not None and not low <= top_p <= high:
        problems.append(f"{at('top_p')}: {top_p!r} is out of range ({low!r} to {high!r})")
    stop: list[str] | None = fields.get("stop")
    problems += [f"{at('stop')}[{i}]: must not be empty" for i, s in enumerate(stop or ()) if not s]
    kwargs: dict[str, Any] | None = fields.get("provider_kwargs")
    if kwargs is not None:
        problems += _provider_kwargs_problems(kwargs, at("provider_kwargs"))
    retry: RetryConfiguration | None = fields.get("retry")
    if retry is not None:
        problems += _retry_problems(retry, at("retry"))
    _check_across_fields(fields, problems, inherited)


def _check_across_fields(fields: _Fields, problems: list[str], inherited: _Fields | None) -> None:
    # A fallback is checked as it will be sent: its own fields over the request's. A rule
    # is skipped when it reads only inherited fields, since the request's check covers those.
    def resolve(name: str) -> _Resolved:
        if inherited is None or fields.get(name) is not None or not fields.ok(name):
            return _Resolved(fields.get(name), fields.ok(name), own=True)
        return _Resolved(inherited.get(name), inherited.ok(name), own=False)

    at = fields.at
    temperature, provider = resolve("temperature"), resolve("provider")
    if temperature.usable(provider) and (temperature.own or provider.own):
        low, high = TEMPERATURE_RANGES[provider.value]
        if not low <= temperature.value <= high:
            problems.append(
                f"{at('temperature')}: {temperature.value!r}{temperature.origin} is out of "
                f"range for {provider.value.value} ({low!r} to {high!r})"
            )

    if provider.valid and provider.value is not None:
        problems += _support_problems(fields, provider, resolve)

    choice, tools = resolve("tool_choice"), resolve("tools")
    if (
        choice.valid
        and tools.valid
        and choice.value is not None
        and (choice.own or tools.own)
        and choice.value not in TOOL_CHOICE_KEYWORDS
        and choice.value not in {t.function.name for t in tools.value or ()}
    ):
        problems.append(
            f"{at('tool_choice')}: {describe(choice.value)}{choice.origin} is neither auto, "
            "none, required nor the name of a defined tool"
        )

    if (
        choice.valid
        and tools.valid
        and choice.value == "required"
        and not tools.value
        and (choice.own or tools.own)
    ):
        problems.append(f"{at('tool_choice')}: 'required'{choice.origin} needs at least one tool")

    messages = resolve("messages")
    if messages.valid and tools.valid and (messages.own or tools.own):
        count = _count_breakpoints(messages.value or [], tools.value or [])
        if count > MAX_CACHE_BREAKPOINTS:
            problems.append(
                f"{at('cache breakpoints')}: {count} set, at most {MAX_CACHE_BREAKPOINTS} allowed"
            )


def _support_problems(
    fields: _Fields, provider: _Resolved, resolve: Callable[[str], _Resolved]
) -> list[str]:
    """Fields the provider has no parameter for, and more stop sequences than it takes."""
    problems = []
    support = REQUEST_SUPPORT[provider.value]
    name = provider.value.value
    for field in OPTIONAL_FIELDS:
        value = resolve(field)
        # An empty stop list sends nothing: it is how a fallback drops inherited sequences.
        if (
            field in support.unsupported
            and value.valid
            and value.value not in (None, [])
            and (value.own or provider.own)
        ):
            where = "" if value.own else " (inherited from the request)"
            problems.append(f"{fields.at(field)}: not supported by {name}{where}")
    stop = resolve("stop")
    limit = support.max_stop_sequences
    if (
        stop.valid
        and stop.value is not None
        and limit is not None
        and len(stop.value) > limit
        and (stop.own or provider.own)
    ):
        problems.append(
            f"{fields.at('stop')}: {len(stop.value)} sequences{stop.origin}, at most {limit} "
            f"for {name}"
        )
    return problems


def _provider_kwargs_problems(kwargs: Mapping[str, Any], path: str) -> list[str]:
    """Rules on option values that their types alone do not express."""
    budget = (kwargs.get("alibaba") or {}).get("thinking_budget")
    if budget is not None and budget <= 0:
        return [f"{path}.alibaba.thinking_budget: must be a positive integer"]
    return []


@dataclasses.dataclass(slots=True, frozen=True)
class _Resolved:
    """A field as it will be sent: its value, whether it structured, whose it is."""

    value: Any
    valid: bool
    own: bool

    @property
    def origin(self) -> str:
        return "" if self.own else " (inherited)"

    def usable(self, other: _Resolved) -> bool:
        """Whether a rule reading both fields can run: both valid and set."""
        return self.valid and other.valid and self.value is not None and other.value is not None


def _message_problems(messages: list[Message], path: str) -> list[str]:
    """Assistant messages that say something, with distinct call ids, answered later on."""
    problems = []
    called: set[str] = set()
    for i, message in enumerate(messages):
        if isinstance(message, AssistantMessage):
            if message.content is None and not message.tool_calls and message.refusal is None:
                problems.append(
                    f"{path}[{i}]: assistant message has neither content nor tool calls"
                )
            ids: set[str] = set()
            for j, call in enumerate(message.tool_calls or ()):
                if not call.id:
                    problems.append(f"{path}[{i}].tool_calls[{j}].id: must not be empty")
                elif call.id in ids:
                    problems.append(
                        f"{path}[{i}].tool_calls[{j}].id: {describe(call.id)} is used twice"
                    )
                ids.add(call.id)
            called |= ids
        elif isinstance(message, ToolResultMessage) and message.tool_call_id not in called:
            problems.append(
                f"{path}[{i}].tool_call_id: {describe(message.tool_call_id)} "
                "answers no earlier tool call"
            )
    return problems


def _tool_name_problems(tools: list[ToolDefinition], path: str) -> list[str]:
    problems = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        name = tool.function.name
        if not name:
            problems.append(f"{path}[{i}].function.name: must not be empty")
        elif name in seen:
            problems.append(f"{path}[{i}].function.name: {describe(name)} is defined twice")
        seen.add(name)
    return problems


def _retry_problems(retry: RetryConfiguration, path: str) -> list[str]:
    problems = []
    if retry.max_retries < 0:
        problems.append(f"{path}.max_retries: must be >= 0")
    # ``not x >= 0`` rejects NaN as well; an infinite delay would wait forever.
    if not retry.retry_delay >= 0:
        problems.append(f"{path}.retry_delay: must be >= 0")
    elif math.isinf(retry.retry_delay):
        problems.append(f"{path}.retry_delay: must be finite")
    if not retry.backoff_multiplier >= 1:
        problems.append(f"{path}.backoff_multiplier: must be >= 1")
    elif math.isinf(retry.backoff_multiplier):
        problems.append(f"{path}.backoff_multiplier: must be finite")
    return problems


def _count_breakpoints(messages: list[Message], tools: list[ToolDefinition]) -> int:
    return sum(m.cache_breakpoint is not None for m in messages) + sum(
        t.cache_breakpoint is not None for t in tools
    )
