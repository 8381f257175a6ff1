"""Scan state of the sentence segmenter: the buffer, open brackets and quotes, code, lists.

``ScanState`` holds what the segmenter knows about the text it has scanned: the buffer with the
current sentence, the stack of open brackets and quotes, an open inline-code span or fence,
and the list the current sentence belongs to. Its methods update that state one character at a
time and answer the questions the boundary rules ask ("is this inside a bracket?", "does a
list item start here?"), each reading a bounded window of the buffer.
"""

from __future__ import annotations

import re

from pipeline._core import Poisonable

from ._abbreviations import LanguageData

__all__ = (
    "BULLETS",
    "CLOSERS",
    "LIST_START",
    "OPENING",
    "OPEN_LIMIT",
    "PAIRS",
    "QUOTES",
    "TRAILING",
    "ScanState",
    "is_cjk",
)

# Openers and the closer each one waits for. Quotes that look the same on both sides are
# handled separately, by what precedes them.
PAIRS = {
    "(": ")",
    "[": "]",
    "{": "}",
    "（": "）",
    "【": "】",
    "《": "》",
    "〈": "〉",
    "「": "」",
    "『": "』",
    "«": "»",
    "„": "“",
}
CLOSERS = frozenset(")]}）】》〉」』»“”’'\"›")
TRAILING = frozenset(CLOSERS | {"*", "_"})
BULLETS = frozenset("•⁃‣▪◦")
# ASCII "'" is left out: as an apostrophe ("'90s", "'til") it would open a quote that never
# closes and hold sentences back.
QUOTES = frozenset("’‘")
OPENING = frozenset("([{\"“‘'«„¿¡")
# A bracket or quote left open longer than this is taken to be unbalanced: holding every
# later sentence back for it would stall speech for the rest of the stream.
OPEN_LIMIT = 300
_MAX_DEPTH = 16
LIST_START = re.compile(r"\s*(?:[•⁃‣▪◦]\s*)?(?:(\d{1,3})|([A-Za-z]))(\.\)|\)|\.)(?=\s)")
_BULLET_START = re.compile(r"\s*([•⁃‣▪◦])")
# The start of a list item on the next line, or after a sentence ("w) hello").
_ITEM = re.compile(r"\(?(?:[a-z]|[ivxlc]{1,5})\)\s")
_DOUBLE_QUOTES = frozenset('"”')
_DASHES = frozenset("-–—")


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x9FFF  # CJK ideographs
        or 0xAC00 <= code <= 0xD7AF  # hangul
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x3000 <= code <= 0x303F  # CJK punctuation
    )


class ScanState(Poisonable):
    """The segmenter's state and the bracket, quote, code and list bookkeeping on it."""

    __slots__ = (
        "_buf",
        "_code",
        "_data",
        "_fence",
        "_hard",
        "_line",
        "_list",
        "_pos",
        "_soft",
        "_stack",
        "_start",
    )

    def __init__(self, data: LanguageData, soft: frozenset[str], hard: frozenset[str]) -> None:
        super().__init__()
        self._data = data
        self._soft = soft
        self._hard = hard
        self._buf = ""
        self._pos = 0  # next character to scan
        self._start = 0  # where the current sentence begins
        self._line = 0  # where the current line begins
        self._stack: list[tuple[str, int]] = []  # open brackets/quotes: (closer, index)
        self._code = -1  # index of an open inline-code backtick, or -1
        self._fence = False
        self._list: tuple[str, str] | None = None  # (next marker, its delimiter) for lists

    # -- brackets, quotes, code -------------------------------------------------------------

    def _in_code(self, i: int) -> bool:
        return self._code >= 0 and i - self._code <= OPEN_LIMIT

    def _inside(self, i: int) -> bool:
        return bool(self._stack) and i - self._stack[-1][1] <= OPEN_LIMIT

    def _track(self, buf: str, k: int) -> None:
        """Update the open-bracket stack for the bracket or quote at ``buf[k]``."""
        ch = buf[k]
        stack = self._stack
        if ch == '"' or ch == "“":
            if stack and stack[-1][0] == ch:
                stack.pop()
                return
            prev = buf[k - 1] if k > self._start else " "
            if prev.isspace() or prev in PAIRS or prev in "—–-:/":
                if len(stack) < _MAX_DEPTH:
                    stack.append(('"' if ch == '"' else "”", k))
            elif ch == '"' and stack and any(c == '"' for c, _ in stack):
                self._close(ch)
            return
        if ch in QUOTES:
            self._single_quote(buf, k)
            return
        closer = PAIRS.get(ch)
        if closer is not None:
            if len(stack) < _MAX_DEPTH:
                stack.append((closer, k))
            return
        if ch == "”":
            if stack and stack[-1][0] == ch:
                stack.pop()
            return
        self._close(ch)

    def _single_quote(self, buf: str, k: int) -> None:
        # Apostrophes ("it's", "dragon’s", "students'") outnumber quotes; only a mark with
        # a space before and a letter after opens a quote, and only a mark not followed by a
        # letter closes one.
        stack = self._stack
        ch = buf[k]
        prev = buf[k - 1] if k > self._start else " "
        nxt = buf[k + 1] if k + 1 < len(buf) else " "
        closing = stack and ch == "’" and stack[-1][0] == "’"
        if closing and not nxt.isalpha() and not prev.isspace():
            stack.pop()
            return
        opening = ch == "‘" and (prev.isspace() or prev in OPENING) and nxt.isalpha()
        if opening and len(stack) < _MAX_DEPTH:
            stack.append(("’", k))

    def _close(self, ch: str) -> None:
        stack = self._stack
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth][0] == ch:
                del stack[depth:]
                return

    def _bracket(self, buf: str, i: int, final: bool) -> tuple[int, int] | None:
        ch = buf[i]
        if ch in BULLETS:
            return self._bullet(buf, i)
        if ch in QUOTES and i + 1 >= len(buf) and not final:
            return None  # whether it opens, closes or is an apostrophe depends on what follows
        if ch in _DOUBLE_QUOTES and i > self._start and buf[i - 1] in _DASHES:
            return self._interrupted_quote(buf, i, final)
        if ch == ")" and i > self._start and buf[i - 1].isalnum():
            found = self._list_item_here(buf, i, final)
            if found == -2:
                return None
            if found >= 0:
                return found, found
        return -1, i + 1  # the bracket itself is tracked by _advance

    def _interrupted_quote(self, buf: str, i: int, final: bool) -> tuple[int, int] | None:
        """A quote that closes on a dash ("to--") ends the sentence before a capital."""
        stack = self._stack
        closer = "”" if buf[i] == "”" else '"'
        if len(stack) != 1 or stack[0][0] != closer or self._fence or self._in_code(i):
            return -1, i + 1
        n = len(buf)
        k = i + 1
        while k < n and buf[k].isspace():
            k += 1
        if k >= n:
            return None if not final else (-1, i + 1)
        if k > i + 1 and buf[k].isupper():
            return i + 1, i + 1
        return -1, i + 1

    def _bullet(self, buf: str, i: int) -> tuple[int, int]:
        # A bullet in the middle of a line starts a new item of the same bulleted list.
        if i > self._start and buf[i - 1].isspace() and buf[self._start : i].strip():
            marker = self._list_marker(buf)
            if marker is not None and marker[0] == buf[i]:
                return i, i
        return -1, i + 1

    def _backtick(self, buf: str, i: int, final: bool) -> tuple[int, int] | None:
        if i + 3 > len(buf) and not final:
            return None
        if buf.startswith("```", i):
            self._fence = not self._fence
            self._code = -1
            return -1, i + 3
        if not self._fence:
            self._code = -1 if self._code >= 0 else i
        return -1, i + 1

    # -- list items -------------------------------------------------------------------------

    def _list_marker(self, buf: str) -> tuple[str, str] | None:
        """The next marker of the list whose first item begins the current sentence.

        Only a match is cached: a miss may just mean the marker has not fully arrived.
        """
        if self._list is not None:
            return self._list
        bullet = _BULLET_START.match(buf, self._start)
        if bullet is not None:
            self._list = (bullet.group(1), "")
            return self._list
        m = LIST_START.match(buf, self._start)
        if m is None:
            return None
        number, letter, delim = m.groups()
        if number is not None:
            self._list = (str(int(number) + 1), delim)
        elif letter not in "zZ":
            self._list = (chr(ord(letter) + 1), delim)
        return self._list

    def _list_item_here(self, buf: str, i: int, final: bool) -> int:
        """Where a new list item starts if ``buf[i]`` begins the delimiter of its marker.

        Returns the item's start, -1 when this is not the next marker of the list that the
        current sentence began with (or no capitalized word follows it), -2 when the answer
        needs text that has not arrived.
        """
        found = self._list_marker(buf)
        if found is None:
            return -1
        marker, delim = found
        n = len(buf)
        if not delim or buf[i] != delim[0]:
            return -1
        start = i - len(marker)
        if start <= self._start or buf[start:i] != marker or not buf[start - 1].isspace():
            return -1
        tail = i + len(delim)
        if tail + 1 >= n:
            return -1 if final else -2
        if buf[i:tail] != delim:
            return -1
        if buf[tail] == " " and buf[tail + 1].isalnum():
            return start
        return -1

    def _list_candidate(self, buf: str, i: int) -> bool:
        """Whether the mark at ``buf[i]`` may end the next marker of a list (``3`` or ``b``).

        Only a necessary condition, cheap enough for every period: the marker is the number
        or the letter after the list's last one, with whitespace before it
        (see :meth:`_list_item_here`).
        """
        if i <= self._start + 1:
            return False
        before = buf[i - 1]
        return before.isdigit() or (before.isalpha() and buf[i - 2].isspace())

    def _item_at(self, buf: str, k: int, final: bool) -> bool | None:
        """Whether a list-item marker such as ``b)`` or ``iv.`` starts at ``buf[k]``."""
        end = min(len(buf), k + 8)
        if _ITEM.match(buf, k, end) is not None:
            return True
        if end - k < 8 and not final and not any(c.isspace() for c in buf[k:end]):
            return None
        return False
