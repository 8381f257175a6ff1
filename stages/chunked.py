"""HTTP/1.1 chunked transfer framing, decoded in bulk: socket bytes in, body bytes out.

One :meth:`ChunkedDecoder.feed` takes whatever a socket read returned (any number of chunks,
or a fraction of one) and returns the payload it carries as one ``bytes``, so a read of a
hundred small chunks costs one call, not a hundred parser events. The output never depends on
where the input was split. Errors name the byte offset in the framed body.

Grammar (RFC 9112 §7.1): ``size [; ext] CRLF data CRLF`` repeated, then ``0 [; ext] CRLF``,
optional trailer lines, and a blank line. A bare ``LF`` line end is accepted, as h11 and the
major servers' clients do.
"""

from __future__ import annotations

MAX_LINE_BYTES = 16 * 1024
"""Bound on a size line or a trailer line: anything longer is broken framing, not a body."""

_HEX = frozenset(b"0123456789abcdefABCDEF")
_CR = ord("\r")

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedFramingError(ValueError):
    """The bytes are not valid chunked framing; ``offset`` is where in the framed body."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.offset = offset


class ChunkedDecoder:
    """Incremental chunked-framing decoder.

    After the terminal chunk and its trailers, :attr:`finished` is true and any bytes that
    followed are kept in :attr:`extra` (a pipelined or broken server: the connection must not
    be reused then). Feeding after the end only adds to :attr:`extra`.
    """

    __slots__ = ("_line", "_offset", "_remaining", "_state", "extra")

    def __init__(self) -> None:
        self._state = _SIZE
        self._remaining = 0  # payload bytes still due in the current chunk
        self._line = b""  # the start of a size or trailer line not yet ended
        self._offset = 0  # framed-body offset of the first byte not yet consumed
        self.extra = b""

    @property
    def finished(self) -> bool:
        """Whether the terminal chunk and the trailer section have been read."""
        return self._state == _DONE

    def feed(self, data: bytes, /) -> bytes:
        """Consume framed bytes; return the payload they complete (possibly ``b""``).

        Raises:
            ChunkedFramingError: malformed framing, naming its byte offset.
        """
        if self._state == _DONE:
            self.extra += data
            return b""
        if self._line:
            data = self._line + data  # ``_offset`` already points at the held line's start
            self._line = b""
        payload: list[bytes] = []
        position = 0
        end = len(data)
        state = self._state
        remaining = self._remaining
        while position < end:
            if state == _SIZE:
                position = _whole_chunks(data, position, payload)
                if position == end:
                    break
            if state == _DATA:
                take = min(remaining, end - position)
                payload.append(data[position : position + take])
                position += take
                remaining -= take
                if remaining == 0:
                    state = _DATA_END
                continue
            newline = data.find(b"\n", position)
            if newline < 0:
                if end - position > MAX_LINE_BYTES:
                    self._fail("chunk line too long", position)
                self._line = data[position:]
                position = end
                break
            line = data[position:newline]
            if line[-1:] == b"\r":
                line = line[:-1]
            if state == _DATA_END:
                if line:
                    self._fail("chunk data not followed by a line end", position)
                state = _SIZE
            elif state == _SIZE:
                size = self._size(line, position)
                if size == 0:
                    state = _TRAILER
                else:
                    state = _DATA
                    remaining = size
            else:  # _TRAILER: header lines we ignore, up to a blank line
                if not line:
                    state = _DONE
                    position = newline + 1
                    self.extra = data[position:]
                    position = end
                    break
                if b":" not in line:
                    self._fail("malformed trailer line", position)
            position = newline + 1
        self._offset += position - len(self._line)
        self._state = state
        self._remaining = remaining
        if not payload:
            return b""
        return payload[0] if len(payload) == 1 else b"".join(payload)

    def _size(self, line: bytes, position: int) -> int:
        digits = line.split(b";", 1)[0].strip(b" \t")
        if not digits or not _HEX.issuperset(digits) or len(digits) > 16:
            self._fail(f"invalid chunk size line {line[:40]!r}", position)
        return int(digits, 16)

    def _fail(self, message: str, position: int) -> None:
        self._state = _DONE  # poisoned: a broken body is never read further
        raise ChunkedFramingError(message, self._offset + position)


def _whole_chunks(data: bytes, position: int, payload: list[bytes]) -> int:
    """Take the plain whole chunks from ``position`` at once; the offset of the first other.

    The common body is one small chunk per event, many per read: this loop takes each
    ``<hex>\r\n<data>\r\n`` with one search and a few slices. Anything else (a size line with
    extensions or not yet ended, the last chunk, a chunk cut by the read, bad framing) is left
    to the general loop, which gives the same result for it.
    """
    find = data.find
    end = len(data)
    while True:
        newline = find(b"\n", position)
        if newline <= position or data[newline - 1] != _CR:
            return position
        digits = data[position : newline - 1]
        if not digits or len(digits) > 16 or not _HEX.issuperset(digits):
            return position
        size = int(digits, 16)
        start = newline + 1
        stop = start + size
        if size == 0 or stop + 2 > end or data[stop : stop + 2] != b"\r\n":
            return position
        payload.append(data[start:stop])
        position = stop + 2
