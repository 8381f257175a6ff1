"""Server-sent events framing: response bytes in, whole events out.

Follows the WHATWG event-stream rules the official SDKs implement: ``\\n``, ``\\r\\n`` and a
lone ``\\r`` all end a line; one optional space after the colon is dropped; several ``data:``
lines of one event are joined with ``\\n``; lines starting with ``:`` are comments; an event is
dispatched on a blank line, and :meth:`SSEDecoder.flush` dispatches a last event the body left
unterminated (real Anthropic recordings end that way). Bytes are decoded as UTF-8 one whole line
at a time, so a character split across reads is never garbled.
"""

from __future__ import annotations

from pipeline._core import Poisonable, guarded
from pipeline._errors import ProtocolError
from pipeline._events import SSEEvent as SSEEvent

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
"""Bound on one line (and one event's data): a larger one is a protocol error, not a memory leak."""


class SSEDecoder(Poisonable):
    """Incremental event-stream parser: :meth:`feed` raw bytes, get complete events."""

    __slots__ = (
        "_buffer",
        "_buffer_offset",
        "_data",
        "_data_size",
        "_event",
        "_event_offset",
        "_id",
        "_max_line_bytes",
        "_provider",
        "_skip_lf",
    )

    def __init__(
        self, *, provider: str = "unknown", max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ) -> None:
        super().__init__()
        self._provider = provider
        self._max_line_bytes = max_line_bytes
        self._buffer = b""
        self._buffer_offset = 0  # body offset of self._buffer[0]
        self._skip_lf = False  # the last line ended in "\r": a "\n" right after belongs to it
        self._data: list[str] = []
        self._data_size = 0
        self._event: str | None = None
        self._id: str | None = None
        self._event_offset: int | None = None

    @guarded
    def flush(self) -> list[SSEEvent]:
        """End of body: dispatch an event left without its closing blank line."""
        events: list[SSEEvent] = []
        if self._buffer:
            rest, self._buffer = self._buffer, b""
            self._line(rest, self._buffer_offset, events)
        self._dispatch(events)
        return events

    @guarded
    def feed(self, chunk: bytes, /) -> list[SSEEvent]:
        """Consume a slice of the body; return the events it completes."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                self._buffer_offset += 1
        buffer = self._buffer + chunk if self._buffer else chunk
        lines = buffer.splitlines(keepends=True)
        events: list[SSEEvent] = []
        offset = self._buffer_offset
        last = len(lines) - 1
        for number, line in enumerate(lines):
            end = line[-1:]
            if end != b"\n" and end != b"\r":
                if number != last:  # pragma: no cover - splitlines only leaves the last open
                    raise AssertionError("unterminated line in the middle")
                if len(line) > self._max_line_bytes:
                    raise ProtocolError(
                        f"event-stream line longer than {self._max_line_bytes} bytes",
                        provider=self._provider,
                        offset=offset,
                    )
                self._buffer = line
                self._buffer_offset = offset
                return events
            if end == b"\r" and number == last:
                self._skip_lf = True
            self._line(line.rstrip(b"\r\n"), offset, events)
            offset += len(line)
        self._buffer = b""
        self._buffer_offset = offset
        return events

    def _line(self, line: bytes, offset: int, events: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[:1] == b":":
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"event-stream line is not valid UTF-8: {exc.reason}",
                provider=self._provider,
                offset=offset + len(line) - len(value) + exc.start,
            ) from None
        if self._event_offset is None:
            self._event_offset = offset
        if name == b"data":
            self._data.append(text)
            self._data_size += len(value)
            if self._data_size > self._max_line_bytes:
                raise ProtocolError(
                    f"event data longer than {self._max_line_bytes} bytes",
                    provider=self._provider,
                    offset=offset,
                )
        elif name == b"event":
            self._event = text
        elif name == b"id" and "\0" not in text:
            self._id = text
        # "retry" and unknown fields are ignored, as the standard says.

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
            events.append(SSEEvent(data, self._event, self._id, self._event_offset or 0))
        self._data = []
        self._data_size = 0
        self._event = None
        self._event_offset = None
