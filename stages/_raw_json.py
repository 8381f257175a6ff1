"""JSON that arrives as plain lines inside an event stream, gathered until its braces balance.

Gemini sends an error that occurs mid-stream as a pretty-printed JSON object, one line of it at
a time and outside any ``data:`` field (google-genai reads it the same way: lines are buffered
until the braces balance, braces inside strings not counted). The SSE standard would ignore
those lines, and with them the error.
"""

from __future__ import annotations


class RawJsonLines:
    """Feed lines; get the text of each whole JSON value once its braces balance."""

    __slots__ = ("_depth", "_escaped", "_in_string", "_lines", "size")

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self.size = 0  # characters held: bounded by the caller

    @property
    def open(self) -> bool:
        """Whether a value has started and not yet balanced."""
        return bool(self._lines)

    def add(self, line: str) -> str | None:
        """Take one line; return the whole value it completes, else None."""
        depth, in_string, escaped = self._depth, self._in_string, self._escaped
        for char in line:
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
        self._lines.append(line)
        self.size += len(line)
        if depth > 0:
            self._depth, self._in_string, self._escaped = depth, in_string, escaped
            return None
        return self.take()

    def take(self) -> str:
        """Everything held (a value cut short at the end of the body, say), and reset."""
        text = "\n".join(self._lines)
        self._lines = []
        self._depth, self._in_string, self._escaped, self.size = 0, False, False, 0
        return text
