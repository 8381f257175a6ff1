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
from stages._raw_json import RawJsonLines

_FIELDS = frozenset((b"data", b"event", b"id", b"retry"))

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
"""Bound on one line (and one event's data): a larger one is a protocol error, not a memory leak."""


class SSEDecoder(Poisonable):
    """Incremental event-stream parser: :meth:`feed` raw bytes, get complete events.

    The cost is linear in the body, however long its lines: each read is split on its own
    line ends only, and the start of a line still open is kept as a list of the pieces read
    so far, joined once when the line ends. Re-joining or re-scanning the open line on every
    read would make one long line (a large tool-call argument, say) quadratic.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_event",
        "_event_offset",
        "_id",
        "_max_line_bytes",
        "_offset",
        "_open_line",
        "_open_size",
        "_provider",
        "_raw",
        "_raw_offset",
        "_salvaged",
        "_skip_lf",
    )

    def __init__(
        self,
        *,
        provider: str = "unknown",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        raw_json_lines: bool = False,
    ) -> None:
        """``raw_json_lines``: lines that are no field of the standard (``data``, ``event``,
        ``id``, ``retry``) are JSON sent line by line (Gemini's mid-stream errors): they are
        gathered until their braces balance and dispatched as one event (see
        :mod:`stages._raw_json`) instead of being ignored.
        """
        super().__init__()
        self._provider = provider
        self._max_line_bytes = max_line_bytes
        self._open_line: list[bytes] = []  # pieces of the line not yet ended, in order
        self._open_size = 0
        self._offset = 0  # body offset of the first byte not yet part of a whole line
        self._skip_lf = False  # the last line ended in "\r": a "\n" right after belongs to it
        self._data: list[str] = []
        self._data_size = 0
        self._event: str | None = None
        self._id: str | None = None
        self._event_offset: int | None = None
        self._salvaged: list[SSEEvent] = []
        self._raw = RawJsonLines() if raw_json_lines else None
        self._raw_offset = 0

    @property
    def raw_json_lines(self) -> bool:
        """Whether lines outside the standard's fields are gathered as JSON (see __init__)."""
        return self._raw is not None

    @property
    def idle(self) -> bool:
        """Between events: no open line, no field of an undispatched event held."""
        held = self._open_line or self._skip_lf or self._data or (self._raw and self._raw.open)
        return not held and self._event is None and self._event_offset is None

    def skip(self, size: int) -> None:
        """Account for ``size`` body bytes a fast path parsed itself (one whole event).

        Only valid while :attr:`idle`; it keeps later byte offsets right.
        """
        self._offset += size

    @guarded
    def flush(self) -> list[SSEEvent]:
        """End of body: dispatch an event left without its closing blank line."""
        events: list[SSEEvent] = []
        if self._open_line:
            rest = b"".join(self._open_line)
            self._open_line.clear()
            self._open_size = 0
            self._line(rest, self._offset, events)
            self._offset += len(rest)
        raw = self._raw
        if raw is not None and raw.open:  # cut short: the decoder reports what it is
            events.append(SSEEvent(raw.take(), None, None, self._raw_offset))
        self._dispatch(events)
        return events

    @guarded
    def feed(self, chunk: bytes, /) -> list[SSEEvent]:
        """Consume a slice of the body; return the events it completes."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                self._offset += 1
        lines = chunk.splitlines(keepends=True)
        events: list[SSEEvent] = []
        if not lines:
            return events
        tail = lines[-1]
        end = tail[-1:]
        if end == b"\n" or end == b"\r":
            tail = b""
            self._skip_lf = end == b"\r"
        else:
            lines.pop()
        open_line = self._open_line
        if open_line and lines:
            open_line.append(lines[0])
            lines[0] = b"".join(open_line)
            open_line.clear()
            self._open_size = 0
        offset = self._offset
        try:
            for line in lines:
                self._line(line.rstrip(b"\r\n"), offset, events)
                offset += len(line)
        except ProtocolError:
            self._salvaged = events  # the events before the bad line are still good
            raise
        self._offset = offset
        if tail:
            size = self._open_size + len(tail)
            if size > self._max_line_bytes:
                self._salvaged = events
                raise ProtocolError(
                    f"event-stream line longer than {self._max_line_bytes} bytes",
                    provider=self._provider,
                    offset=offset,
                )
            open_line.append(tail)
            self._open_size = size
        return events

    def salvage(self) -> list[SSEEvent]:
        """The events completed before the line that made :meth:`feed` raise (once)."""
        salvaged, self._salvaged = self._salvaged, []
        return salvaged

    def _line(self, line: bytes, offset: int, events: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[:1] == b":":
            return
        name, colon, value = line.partition(b":")
        raw = self._raw
        if raw is not None and (raw.open or name not in _FIELDS):
            self._raw_line(raw, line, offset, events)
            return
        if colon and value[:1] == b" ":
            value = value[1:]
        text = self._text(value, offset + len(line) - len(value))
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

    def _raw_line(
        self, raw: RawJsonLines, line: bytes, offset: int, events: list[SSEEvent]
    ) -> None:
        text = self._text(line, offset)
        if not raw.open:
            self._raw_offset = offset
        whole = raw.add(text)
        if whole is not None:
            events.append(SSEEvent(whole, None, None, self._raw_offset))
        elif raw.size > self._max_line_bytes:
            raise ProtocolError(
                f"JSON sent line by line longer than {self._max_line_bytes} bytes",
                provider=self._provider,
                offset=self._raw_offset,
            )

    def _text(self, value: bytes, offset: int) -> str:
        """``value`` (which starts at body ``offset``) as text; a bad byte is named."""
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"event-stream line is not valid UTF-8: {exc.reason}",
                provider=self._provider,
                offset=offset + exc.start,
            ) from None

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
            events.append(SSEEvent(data, self._event, self._id, self._event_offset or 0))
        self._data = []
        self._data_size = 0
        self._event = None
        self._event_offset = None
