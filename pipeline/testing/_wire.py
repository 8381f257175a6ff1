"""The contract between the HTTP layer and one provider's wire format.

A provider format is a small, pure module: it recognises its request paths, says whether a
request wants a stream, and turns a scenario into bytes (SSE events, a JSON body, an error body).
It never does I/O; the server turns what it returns into a :class:`ResponsePlan` and the HTTP
layer executes the plan. Adding a provider means adding one module that implements
:class:`WireFormat` and listing it in ``_formats.FORMATS``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._scenarios import Scenario, Synthetic

__all__ = (
    "STAMP_PLACEHOLDER",
    "ReceivedRequest",
    "ResponsePlan",
    "WireFormat",
    "compact_json",
    "read_send_stamps",
    "split_sse_events",
    "stamp_event",
    "uniform_delays",
)

_STAMP_DIGITS = 20  # time.monotonic_ns() needs 19 digits only after ~317 years of uptime

STAMP_PLACEHOLDER = "@" + "#" * _STAMP_DIGITS
"""What a delta's text carries where ``Synthetic(send_stamps=True)`` puts the send time: the
HTTP layer overwrites it with ``@`` and the zero-padded ``time.monotonic_ns()`` as it writes
the event. Same width, so a stamped event is as long as the planned one (content-length and
chunk sizes hold). Only ASCII that JSON leaves unescaped, so it is the same bytes in every
provider's encoding."""

_PLACEHOLDER_BYTES = STAMP_PLACEHOLDER.encode()
_STAMP = re.compile(rf"@(\d{{{_STAMP_DIGITS}}})")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedRequest:
    """One request as the server received it (for assertions in tests).

    Attributes:
        method: e.g. ``"POST"``.
        target: The raw request target, path and query, still percent-encoded.
        path: The part of the target before ``?``.
        query: The part after ``?`` (``""`` if none).
        headers: Header names lowercased; a repeated header keeps its last value.
        body: The raw request body.
        json: The body parsed as JSON, or ``None`` if it is empty or not JSON.
        scenario: The scenario the URL selected (``None`` for unrouted paths).
        provider: The wire format that answered (``None`` if no format matched).
    """

    method: str
    target: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    json: Any
    scenario: Scenario | None = None
    provider: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponsePlan:
    """Everything the HTTP layer needs to send one response, faults included.

    Attributes:
        status: HTTP status code.
        headers: Response headers except framing (the HTTP layer adds content-length or
            transfer-encoding).
        events: SSE events for a stream (each complete with its blank line), or a single body.
        stream: Send chunked as ``text/event-stream`` and count it as a stream.
        head_delay: Seconds to wait before the response head (a non-streaming answer that
            takes its time to generate).
        delays: Seconds to wait before each event (same length as ``events``).
        slice_bytes: Write in slices of this many bytes instead of one write per event.
        burst_bytes: Gather the stream's framed chunks (one per event) into writes of at
            least this many bytes.
        cut_after: Close the connection after this many events.
        cut_with_reset: Close with a TCP RST instead of a FIN.
        malformed_after: Send ``malformed_event`` after this many events.
        malformed_event: The broken event for ``malformed_after``.
        error_after: Send ``error_event`` after this many events, then end the body.
        error_event: The provider's own mid-stream error event, for ``error_after``.
        stall_after: Stop sending after this many events...
        stall_seconds: ...for this long (``None``: until the client leaves).
        keepalive_seconds: While stalled, send an SSE comment this often (bytes that carry no
            token, as proxies and some providers send).
        send_stamps: Overwrite each :data:`STAMP_PLACEHOLDER` in an event with the
            server's ``time.monotonic_ns()`` as the event is written.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    events: Sequence[bytes]
    stream: bool
    head_delay: float = 0.0
    delays: Sequence[float] = ()
    slice_bytes: int | None = None
    burst_bytes: int | None = None
    cut_after: int | None = None
    cut_with_reset: bool = False
    malformed_after: int | None = None
    malformed_event: bytes = b""
    error_after: int | None = None
    error_event: bytes = b""
    stall_after: int | None = None
    stall_seconds: float | None = None
    keepalive_seconds: float | None = None
    send_stamps: bool = False


class WireFormat(Protocol):
    """One provider's wire protocol, as the server speaks it. Pure: no I/O."""

    name: str
    """Provider name recorded in :attr:`ReceivedRequest.provider`, e.g. ``"openai"``."""

    malformed_event: bytes
    """An event whose JSON payload is cut short, for ``malformed_after``."""

    error_event: bytes
    """The error event the provider sends mid-stream when it fails after a 200, for
    ``error_after`` (PROVIDERS.md §0.3)."""

    def matches(self, path: str) -> bool:
        """Whether this format answers ``path`` (the part after any scenario prefix)."""
        ...

    def wants_stream(self, request: ReceivedRequest) -> bool:
        """Whether the request asks for a streaming (SSE) answer."""
        ...

    def wrap_payloads(self, payloads: Sequence[bytes]) -> tuple[bytes, ...]:
        """Wrap the lines of a ``*.chunks.txt`` fixture in this provider's SSE framing."""
        ...

    def synthetic_stream(
        self, spec: Synthetic, request: ReceivedRequest
    ) -> tuple[Sequence[bytes], Sequence[float]]:
        """The SSE events of a synthetic reply and the delay (seconds) before each."""
        ...

    def synthetic_body(self, spec: Synthetic, request: ReceivedRequest) -> bytes:
        """The non-streaming JSON body of a synthetic reply."""
        ...

    def error_body(self, status: int, message: str) -> bytes:
        """This provider's JSON error body for ``status``."""
        ...


def compact_json(value: Any) -> bytes:
    """Serialise ``value`` the way the providers do: compact, UTF-8, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def split_sse_events(data: bytes) -> tuple[bytes, ...]:
    """Split a raw SSE body into events, each keeping its terminating blank line.

    The concatenation of the result is exactly ``data``; bytes after the last blank line (a file
    that ends without one) form a last, unterminated event.
    """
    events: list[bytes] = []
    start = 0
    for match in _EVENT_END.finditer(data):
        events.append(data[start : match.end()])
        start = match.end()
    if start < len(data):
        events.append(data[start:])
    return tuple(events)


def uniform_delays(count: int, first_ms: float, pace_ms: float) -> tuple[float, ...]:
    """``first_ms`` before the first event, ``pace_ms`` before each later one, in seconds."""
    if count == 0:
        return ()
    return (first_ms / 1000.0,) + (pace_ms / 1000.0,) * (count - 1)


@dataclass(frozen=True, slots=True)
class Emit:
    """Send these bytes of the body (the HTTP layer frames, slices or gathers them)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Pause:
    """Flush what is gathered, then wait this many seconds (the pacing before an event)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Stall:
    """Flush, then stall as the plan says (``stall_seconds``, ``keepalive_seconds``)."""


@dataclass(frozen=True, slots=True)
class Cut:
    """Flush, then break the stream off (the plan says how); nothing follows."""


BodyStep = Emit | Pause | Stall | Cut


def body_steps(plan: ResponsePlan) -> Iterator[BodyStep]:
    """What sending ``plan``'s body takes, step by step, for any HTTP layer.

    A generator, so an event's send stamp is taken when the step is asked for: after the pause
    before it, as the event goes out, and the latency a client measures from it is the
    delivery's alone, not the server's schedule. After the last step the body ends normally,
    unless the last step was a :class:`Cut`.
    """
    events, delays = plan.events, plan.delays
    for index in range(len(events) + 1):
        if index == plan.stall_after:
            yield Stall()
        if index == plan.malformed_after:
            yield Emit(plan.malformed_event)
        if index == plan.error_after:
            yield Emit(plan.error_event)
            return
        if index == plan.cut_after:
            yield Cut()
            return
        if index == len(events):
            return
        delay = delays[index] if index < len(delays) else 0.0
        if delay:
            yield Pause(delay)
        event = events[index]
        if plan.send_stamps:
            event = stamp_event(event, time.monotonic_ns())
        yield Emit(event)


def stamp_event(event: bytes, now_ns: int) -> bytes:
    """``event`` with every :data:`STAMP_PLACEHOLDER` replaced by the send time ``now_ns``."""
    return event.replace(_PLACEHOLDER_BYTES, b"@%0*d" % (_STAMP_DIGITS, now_ns))


def read_send_stamps(text: str) -> list[int]:
    """The server's send times (``time.monotonic_ns()``) in a delta's text, in order.

    A client on the same machine subtracts them from its own ``time.monotonic_ns()`` on
    receipt: CLOCK_MONOTONIC is one clock for every process on Linux. A list, because a
    client may join several deltas into one text.
    """
    return [int(digits) for digits in _STAMP.findall(text)]
