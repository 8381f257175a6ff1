"""What the local provider server should answer, and how that is spelled in a URL.

A scenario is a frozen dataclass. Its path encoding is one URL path segment, readable in logs:
the kind, then only the fields that differ from their defaults, each ``name=value`` with the
value percent-encoded, separated by commas::

    synthetic,deltas=20,pace_ms=5.0,cut_after=3
    replay,fixture=openai%2Foai-py__text_plain.sse,slice_bytes=7

Selection by URL (not by server state) is what lets a test, the demo and a benchmark drive a
server running in another process exactly as they drive an embedded one.

Fault fields are shared by both kinds. ``fail_times`` gates all of them (``status``, ``cut_after``,
``malformed_after``, ``error_after``, ``stall_after``); delivery fields (``pace_ms``,
``first_token_delay_ms``, ``slice_bytes``) always apply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias
from urllib.parse import quote, unquote

__all__ = (
    "Replay",
    "Scenario",
    "ScenarioDecodeError",
    "Synthetic",
    "decode_scenario",
    "encode_scenario",
)

Headers: TypeAlias = tuple[tuple[str, str], ...]


class ScenarioDecodeError(ValueError):
    """A URL path segment does not spell a valid scenario (the caller's fault)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _ScenarioFields:
    """Delivery and fault fields common to every scenario kind.

    Attributes:
        pace_ms: Delay between consecutive events of a stream.
        first_token_delay_ms: Delay after the response head, before the first event (for a
            non-streaming answer: before the whole response).
        slice_bytes: Write the body in slices of this many bytes (crossing event boundaries and
            splitting multi-byte UTF-8); ``None`` writes one event per write.
        burst_bytes: Keep one HTTP chunk per event, as the providers send them, but gather the
            framed chunks into writes of at least this many bytes: a burst that arrives at
            once, many events per socket read. ``None`` writes one event per write.
        status: Fault: answer this HTTP status instead of 200.
        headers: Extra response headers sent with a fault status, e.g.
            ``(("retry-after", "1"),)``.
        body: Fault body text; defaults to ``body_fixture``, else the provider's own error body.
        body_fixture: Fault body read from a fixture file (path relative to the fixtures dir).
        cut_after: Fault: close the TCP connection after this many events, leaving the chunked
            body unfinished.
        cut_with_reset: Cut with a TCP RST (client sees a read error) rather than a FIN (client
            sees an incomplete body).
        malformed_after: Fault: after this many events send one event whose JSON is broken.
        error_after: Fault: after this many events send the provider's mid-stream error event
            (OpenAI ``{"error": …}``, Anthropic ``event: error`` overloaded) and end the body.
        stall_after: Fault: stop sending after this many events...
        stall_seconds: ...for this long, then resume; ``None`` stalls until the client leaves.
        keepalive_ms: While stalled, send an SSE comment (``: keep-alive``) this often: bytes
            that keep the connection busy but carry no token.
        fail_times: Only the first ``fail_times`` requests to this exact scenario URL get the
            faults; later ones succeed. ``None``: every request gets them.
        tag: Free text that only makes the URL distinct (fresh ``fail_times`` counters).
    """

    pace_ms: float = 0.0
    first_token_delay_ms: float = 0.0
    slice_bytes: int | None = None
    burst_bytes: int | None = None
    status: int = 200
    headers: Headers = ()
    body: str | None = None
    body_fixture: str | None = None
    cut_after: int | None = None
    cut_with_reset: bool = False
    malformed_after: int | None = None
    error_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float | None = None
    keepalive_ms: float | None = None
    fail_times: int | None = None
    tag: str = ""

    def __post_init__(self) -> None:
        # Normalise headers given as a list or dict into the hashable tuple form.
        given: object = self.headers
        if isinstance(given, dict):
            given = given.items()
        if not isinstance(given, tuple) or not all(isinstance(p, tuple) for p in given):
            pairs = tuple((str(k), str(v)) for k, v in given)  # type: ignore[attr-defined]
            object.__setattr__(self, "headers", pairs)
        for name in (
            "slice_bytes",
            "burst_bytes",
            "cut_after",
            "malformed_after",
            "error_after",
            "stall_after",
            "fail_times",
        ):
            value = getattr(self, name)
            if value is not None and value < (1 if name in ("slice_bytes", "burst_bytes") else 0):
                raise ValueError(f"{type(self).__name__}.{name} must not be {value}")
        if self.keepalive_ms is not None and not self.keepalive_ms > 0:
            raise ValueError("keepalive_ms must be positive")
        if self.pace_ms < 0 or self.first_token_delay_ms < 0:
            raise ValueError("delays must not be negative")
        if not 100 <= self.status <= 599:
            raise ValueError(f"status {self.status} is not an HTTP status")

    @property
    def has_fault(self) -> bool:
        """Whether any fault field is set (``fail_times`` decides which requests get it)."""
        return (
            self.status != 200
            or self.cut_after is not None
            or self.malformed_after is not None
            or self.error_after is not None
            or self.stall_after is not None
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay(_ScenarioFields):
    """Replay a recorded fixture.

    ``*.sse`` files are raw bodies, sent byte for byte; ``*.chunks.txt`` files hold one JSON
    payload per line and are wrapped in the SSE framing of the provider the request is addressed
    to; ``*.json`` files are non-streaming bodies, sent with ``status``.

    Attributes:
        fixture: Path relative to the fixtures directory, e.g.
            ``"openai/oai-py__text_plain.sse"``.
    """

    KIND: ClassVar[str] = "replay"

    fixture: str = dataclasses.field(kw_only=False)

    def __post_init__(self) -> None:
        _ScenarioFields.__post_init__(self)
        if not self.fixture.endswith((".sse", ".chunks.txt", ".json")):
            raise ValueError(f"fixture {self.fixture!r} is not .sse, .chunks.txt or .json")


@dataclass(frozen=True, slots=True, kw_only=True)
class Synthetic(_ScenarioFields):
    """A generated stream in the provider's real chunk shape.

    Attributes:
        deltas: Number of content deltas: the words of ``text`` (cycled if there are fewer), or
            generated words.
        text: Source of the words; ``None`` generates plain English-looking sentences.
        tool_calls: Number of tool calls streamed after the text.
        include_usage: Send a usage chunk (OpenAI: only if the request also asked for
            ``stream_options.include_usage``).
        thoughts: Number of reasoning deltas streamed before the text (Gemini: parts with
            ``thought: true``; Anthropic: ``thinking_delta`` events of one signed thinking
            block); formats without reasoning ignore it.
        signatures: Sign the reply the way Gemini 3 does: a ``thoughtSignature`` on the first
            tool call only (parallel calls), or on a final empty text part when there is none;
            formats without signatures ignore it.
        redacted_thinking: Number of ``redacted_thinking`` blocks after the thinking block
            (Anthropic); other formats ignore it.
        send_stamps: Start each content delta's text (after its leading whitespace) with
            ``@`` and the server's ``time.monotonic_ns()`` when the event was written,
            zero-padded to 20 digits, then a space: ``" @00000012345678901234 voice"``. Every
            delta grows by the same 22 characters, so the stream keeps its shape; a client on
            the same machine reads the stamps with ``read_send_stamps`` and subtracts them
            from its own ``time.monotonic_ns()`` for the send-to-receive latency.
    """

    KIND: ClassVar[str] = "synthetic"

    deltas: int = dataclasses.field(kw_only=False)
    text: str | None = None
    tool_calls: int = 0
    include_usage: bool = True
    thoughts: int = 0
    signatures: bool = False
    redacted_thinking: int = 0
    send_stamps: bool = False

    def __post_init__(self) -> None:
        _ScenarioFields.__post_init__(self)
        if min(self.deltas, self.tool_calls, self.thoughts, self.redacted_thinking) < 0:
            raise ValueError(
                "deltas, tool_calls, thoughts and redacted_thinking must not be negative"
            )
        if self.text is not None and not self.text.strip() and self.deltas:
            raise ValueError("text must contain a word when deltas > 0")


Scenario: TypeAlias = Replay | Synthetic

_KINDS: dict[str, type[Replay] | type[Synthetic]] = {Replay.KIND: Replay, Synthetic.KIND: Synthetic}


def encode_scenario(scenario: Scenario) -> str:
    """Spell a scenario as one URL path segment (only non-default fields are written)."""
    parts = [scenario.KIND]
    for field in dataclasses.fields(scenario):
        value = getattr(scenario, field.name)
        if field.default is not dataclasses.MISSING and value == field.default:
            continue
        if value is None:
            # A bare name means None: distinct from ``name=`` (the empty string).
            parts.append(field.name)
        else:
            parts.append(f"{field.name}={quote(_to_text(value), safe='')}")
    return ",".join(parts)


def decode_scenario(segment: str) -> Scenario:
    """Parse a segment written by :func:`encode_scenario`.

    Raises:
        ScenarioDecodeError: unknown kind or field, a value of the wrong type, or field values
            the scenario's own validation rejects.
    """
    kind, *items = segment.split(",")
    cls = _KINDS.get(kind)
    if cls is None:
        raise ScenarioDecodeError(f"unknown scenario kind {kind!r}")
    types = {field.name: str(field.type) for field in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if name not in types:
            raise ScenarioDecodeError(f"{kind} has no field {name!r}")
        try:
            kwargs[name] = _from_text(types[name], unquote(raw)) if sep else None
        except ValueError as exc:
            raise ScenarioDecodeError(f"bad value for {kind}.{name}: {exc}") from None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ScenarioDecodeError(f"invalid {kind} scenario: {exc}") from None


def _to_text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        # Header pairs: "name:value" lines; header names cannot contain ":" or newlines.
        return "\n".join(f"{name}:{val}" for name, val in value)
    return str(value)


def _from_text(type_name: str, text: str) -> object:
    base = type_name.removesuffix(" | None")
    if base == "bool":
        if text not in ("0", "1"):
            raise ValueError(f"{text!r} is not 0 or 1")
        return text == "1"
    if base == "int":
        return int(text)
    if base == "float":
        return float(text)
    if base == "Headers":
        pairs = [line.partition(":") for line in text.split("\n")] if text else []
        if any(not sep for _, sep, _ in pairs):
            raise ValueError(f"{text!r} is not name:value lines")
        return tuple((name, val) for name, _, val in pairs)
    return text
