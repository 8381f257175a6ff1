"""Emphasis for the markdown cleaner: delimiter runs, their matching, and the held output.

:class:`EmphasisCore` is the bottom layer of :class:`stages.markdown.MarkdownCleaner`. It owns
the output buffers: clean text that is final goes to ``_out``; text after an emphasis opener
or a ``[`` that is still open goes to ``_parts``, whose entries the opener's matching closer
(or the end of the line) later rewrites. A run of ``*``, ``_`` or ``~`` is decided when the
character after it arrives: it opens, closes, or stays literal by the CommonMark flanking
rules narrowed by the policies in :mod:`stages.markdown`.

Segments (``clean_segment``) carry emphasis over: an opener still open when a segment ends is
removed if it starts words (``_carry_openers``), and stays on the stack, without a part to
rewrite (index -1), for the next segment of the same paragraph (``_resume_carry``), where its
closer is removed too.
"""

from __future__ import annotations

import string
import unicodedata

from pipeline._core import Poisonable

ASCII_PUNCT = frozenset(string.punctuation)
# An emphasis closer looks back over at most this many open delimiters: no realistic markup
# nests deeper, and it keeps the work per character constant.
_LOOKBACK = 16
_OPENING = frozenset("\"'([{“‘«")


def _is_punct(ch: str) -> bool:
    return ch in ASCII_PUNCT or (ch > "\x7f" and unicodedata.category(ch)[0] in "PS")


def _starts_words(ch: str) -> bool:
    # What an opener carried to the next segment must be followed by: a letter or digit, a
    # symbol such as an emoji, or an opening quote or bracket; not '.' ("*.py") or '/' ("*/").
    return ch.isalnum() or ch in _OPENING or (ch > "\x7f" and unicodedata.category(ch) == "So")


def closes_gap(ch: str) -> bool:
    # Punctuation that attaches to the word before it: "world 👨‍💻!" is said "world!".
    if ch > "\x7f":
        return ch not in "¡¿" and unicodedata.category(ch) in ("Pe", "Pf", "Po")
    return ch != "" and ch in ".,;:!?)]}"


def _star_word(ch: str) -> bool:
    # Scripts written without spaces (Thai onwards, CJK, kana, Hangul) put emphasis right
    # against the neighbouring words; elsewhere a '*' between letters is arithmetic or a glob.
    return ch.isalnum() and (ch < "\u0e00" or "\u1e00" <= ch < "\u2000")


class EmphasisCore(Poisonable):
    """Output buffers and emphasis delimiters (a layer of the markdown cleaner)."""

    __slots__ = (
        "_carry",
        "_carrying",
        "_inert",
        "_nl_run",
        "_out",
        "_parts",
        "_prev",
        "_run_ch",
        "_run_n",
        "_run_prev",
        "_skip",
        "_stack",
    )

    def __init__(self) -> None:
        super().__init__()
        self._out: list[str] = []
        self._parts: list[str] = []
        # Open delimiters: [char, length, index in _parts, extra]; for '[' the extra is the
        # character before the bracket, for '_' the identifier count at the time it opened.
        self._stack: list[list[object]] = []
        # Emphasis openers removed at the end of the last segment, closed by a later one.
        self._carry: list[list[object]] = []

    def _reset(self) -> None:
        self._out.clear()
        self._parts.clear()
        self._stack.clear()
        self._carry.clear()
        self._carrying = False
        # After a removed element (tag, emoji, empty link): 1 = drop the next space (no
        # doubled space); 2 = the same after an emoji, and closing punctuation next takes the
        # space before the emoji back.
        self._skip = 0
        self._inert = self._run_n = 0
        self._run_ch = ""
        self._prev = self._run_prev = "\n"
        # Start as if after a blank line so leading blank lines are dropped.
        self._nl_run = 2

    def _put(self, text: str) -> None:
        if self._skip:
            if self._skip == 2 and closes_gap(text[:1]):
                self._take_back_space()
            self._skip = 0
        (self._parts if self._stack else self._out).append(text)
        self._nl_run = 0

    def _take_back_space(self) -> None:
        """Remove the space last put out (before a removed emoji), if it is still held."""
        target = self._parts if self._stack else self._out
        for i in range(len(target) - 1, -1, -1):
            if target[i]:
                if target[i][-1] == " ":
                    target[i] = target[i][:-1]
                return

    def _flush_parts(self) -> None:
        if self._parts:
            self._out.append("".join(self._parts))
            self._parts.clear()

    # -- emphasis -------------------------------------------------------------------------

    def _resolve_run(self, after: str) -> None:
        ch, n, before = self._run_ch, self._run_n, self._run_prev
        self._prev = ch
        if not (n == 2 if ch == "~" else n <= 3):
            self._put(ch * n)
            self._inert += ch == "_"
            return
        space_b, space_a = before.isspace(), after.isspace()
        punct_b, punct_a = _is_punct(before), _is_punct(after)
        left = not space_a and (not punct_a or space_b or punct_b)
        right = not space_b and (not punct_b or space_a or punct_a)
        if ch == "~":
            can_open, can_close = left, right
        else:
            word = _star_word if ch == "*" else str.isalnum
            can_open = left and not word(before)
            can_close = right and not word(after)
        rest = self._close_emphasis(ch, n) if can_close and self._stack else n
        if not rest:
            return
        if can_open:
            self._stack.append([ch, rest, len(self._parts), self._inert])
            self._parts.append(ch * rest)
        else:
            self._put(ch * rest)
            self._inert += ch == "_"

    def _close_emphasis(self, ch: str, n: int) -> int:
        stack, parts = self._stack, self._parts
        rest = n
        while rest:
            i = len(stack) - 1
            low = max(-1, i - _LOOKBACK)
            found = -1
            while i > low:
                entry = stack[i]
                if entry[0] == "[" or entry[0] == "![":
                    break
                size = entry[1]
                if (
                    entry[0] == ch
                    and (size == rest or size == 3 or rest == 3)
                    and (ch != "_" or entry[3] == self._inert)
                ):
                    found = i
                    break
                i -= 1
            if found < 0:
                break
            entry = stack[found]
            del stack[found + 1 :]
            size = entry[1]
            assert isinstance(size, int)
            used = min(size, rest)
            entry[1] = size - used
            rest -= used
            index = entry[2]
            assert isinstance(index, int)
            if index >= 0:
                parts[index] = ch * (size - used)
            if size == used:
                stack.pop()
        if not stack:
            self._flush_parts()
        return rest

    # -- across segments ------------------------------------------------------------------

    def _carry_openers(self) -> None:
        """At the end of a segment: remove the open emphasis openers and keep them."""
        parts = self._parts
        carry = self._carry
        for entry in reversed(self._stack):
            ch, index = entry[0], entry[2]
            assert isinstance(index, int)
            if ch == "[" or ch == "![" or (ch == "_" and entry[3] != self._inert):
                # A bracket stays literal; an identifier's underscore came after this '_',
                # so it can never close.
                continue
            if index >= 0:
                # Openers above this one are settled already: the text after it is final.
                after = next((part for part in parts[index + 1 :] if part), "")
                if not after or not _starts_words(after[0]):
                    continue
                parts[index] = ""
                entry[2] = -1
            carry.append(entry)
        carry.reverse()

    def _resume_carry(self, *, new_block: bool) -> None:
        """At a segment's first line: reopen the carried openers unless a block starts."""
        if not new_block:
            self._stack.extend(self._carry)
        self._carry.clear()
