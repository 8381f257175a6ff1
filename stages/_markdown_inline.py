"""Inline markdown for the cleaner: code spans, links, images, tags, escapes and emoji.

:class:`InlineCore` scans the text of one line. Plain text up to the next special character
is copied in one step; each special character starts a sub-state (``S_*``) that the next
characters settle. Whatever is still undecided at the end of the line is literal
(``_end_inline``): inline constructs do not span lines. Text held for a candidate code span,
link destination or tag is re-read once if the candidate fails. Emphasis runs are handed to
:class:`._markdown_emphasis.EmphasisCore`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ._markdown_emphasis import ASCII_PUNCT, EmphasisCore, closes_gap

# Inline sub-states: what the last characters left undecided.
S_NORMAL = 0
S_RUN = 1  # a run of '*', '_' or '~' whose next character decides what it is
S_TICKS = 2  # a run of backticks
S_CODE = 3  # inside a candidate code span
S_BANG = 4  # '!' that may start an image
S_ESC = 5  # a backslash
S_AFTER_BR = 6  # ']' that becomes a link if '(' follows
S_URL = 7  # inside a link destination
S_TAG = 8  # inside a candidate HTML tag or autolink


# Bounds that keep the work per character constant: no realistic markup goes beyond them.
_MAX_TAG = 256
_MAX_URL = 2048

_EMOJI_RANGES = (
    "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    "\u23f8-\u23fa\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2934\u2935\u3030\u303d\u3297\u3299"
)
_EMOJI_PARTS = "\ufe0e\ufe0f\u20e3\U000e0020-\U000e007f"
_is_emoji = re.compile(f"[{_EMOJI_RANGES}]").match
SPECIAL = re.compile(r"[\n\r*_~`\[\]<\\]|!(?=\[|\Z)").search
# With emoji removed, a delta ending in a space is not plain either: the space is held, since
# an emoji and then punctuation may follow ("world 👨‍💻!" is said "world!").
SPECIAL_EMOJI = re.compile(
    f"[\\n\\r*_~`\\[\\]<\\\\\u200d{_EMOJI_RANGES}{_EMOJI_PARTS}]|!(?=\\[|\\Z)|(?<= )\\Z"
).search
_CODE_STOP = re.compile(r"[`\n]").search
_URL_STOP = re.compile(r"[()\n]").search
_TAG_STOP = re.compile(r"[<>\n]").search
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9:_-]*)(?:[\s/][^<>]*)?>").fullmatch
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*|[^\s<>@]+@[^\s<>@]+)>").fullmatch


class InlineCore(EmphasisCore):
    """Inline constructs within one line (a layer of the markdown cleaner)."""

    __slots__ = (
        "_close_run",
        "_code_buf",
        "_code_n",
        "_failed",
        "_ibuf",
        "_icount",
        "_ilen",
        "_keep_tags",
        "_nbr",
        "_special",
        "_sub",
        "_tag_prev",
    )

    # Options, set by the cleaner: tags kept verbatim, and the search for the next special
    # character (it includes emoji when they are removed).
    _keep_tags: frozenset[str]
    _special: Callable[..., re.Match[str] | None]

    def __init__(self) -> None:
        super().__init__()
        self._ibuf: list[str] = []
        self._code_buf: list[str] = []
        self._failed: set[int] = set()

    def _reset(self) -> None:
        super()._reset()
        self._ibuf.clear()
        self._code_buf.clear()
        self._failed.clear()
        self._sub = S_NORMAL
        self._icount = self._ilen = self._nbr = 0
        self._code_n = self._close_run = 0
        self._tag_prev = "\n"

    def _inline(self, s: str, pos: int) -> int:
        """Process inline text from ``pos`` up to a newline (not consumed) or the end."""
        n = len(s)
        special = self._special
        while pos < n:
            sub = self._sub
            if sub == S_NORMAL:
                match = special(s, pos)
                end = n if match is None else match.start()
                if end > pos:
                    if self._skip:
                        if s[pos] == " ":
                            self._skip = 0
                            self._prev = " "
                            pos += 1
                            continue
                        if self._skip == 2 and closes_gap(s[pos]):
                            self._take_back_space()
                        self._skip = 0
                    (self._parts if self._stack else self._out).append(s[pos:end])
                    self._nl_run = 0
                    self._prev = s[end - 1]
                    pos = end
                    continue
                ch = s[pos]
                if ch == "\n":
                    return pos
                self._special_char(ch)
                pos += 1
                continue
            if s[pos] == "\n":
                # Whatever is pending is settled by the end of the line (_end_inline).
                return pos
            if sub == S_RUN:
                if s[pos] == self._run_ch:
                    self._run_n += 1
                    pos += 1
                else:
                    self._sub = S_NORMAL
                    self._resolve_run(s[pos])
            elif sub == S_TICKS:
                if s[pos] == "`":
                    self._icount += 1
                    pos += 1
                else:
                    self._open_code()
            elif sub == S_CODE:
                pos = self._code_span(s, pos)
            elif sub == S_BANG:
                self._sub = S_NORMAL
                if s[pos] == "[":
                    self._open_bracket("![")
                    pos += 1
                else:
                    self._put("!")
                    self._prev = "!"
            elif sub == S_ESC:
                ch = s[pos]
                self._sub = S_NORMAL
                if ch in ASCII_PUNCT:
                    self._put(ch)
                    self._prev = ch
                    pos += 1
                else:
                    self._put("\\")
                    self._prev = "\\"
            elif sub == S_AFTER_BR:
                if s[pos] == "(":
                    self._sub = S_URL
                    self._icount = 0
                    self._ibuf.append("(")
                    self._ilen = 1
                    pos += 1
                else:
                    self._sub = S_NORMAL
                    self._fail_bracket()
            elif sub == S_URL:
                pos = self._url(s, pos)
            else:
                pos = self._tag(s, pos)
        return pos

    def _special_char(self, ch: str) -> None:
        if ch == "*" or ch == "_" or ch == "~":
            self._sub = S_RUN
            self._run_ch = ch
            self._run_n = 1
            self._run_prev = self._prev
        elif ch == "`":
            self._sub = S_TICKS
            self._icount = 1
        elif ch == "[":
            self._open_bracket("[")
        elif ch == "]":
            if self._nbr:
                self._sub = S_AFTER_BR
            else:
                self._put("]")
                self._prev = "]"
        elif ch == "!":
            self._sub = S_BANG
        elif ch == "<":
            self._sub = S_TAG
            self._ibuf.append("<")
            self._ilen = 1
            self._tag_prev = self._prev
        elif ch == "\\":
            self._sub = S_ESC
        elif ch == "\u200d":
            # A joiner inside an emoji sequence goes with it; elsewhere (Indic, Persian
            # scripts) it shapes the text and stays.
            if not _is_emoji(self._prev):
                self._put(ch)
        elif _is_emoji(ch):
            if self._prev.isspace():
                self._skip = 2 if self._prev == " " else 1
            self._prev = ch
        # else: a variation selector, keycap or tag character: dropped with its emoji

    def _end_inline(self) -> None:
        """Resolve everything pending at the end of a line: unmatched means literal."""
        while self._sub != S_NORMAL:
            sub = self._sub
            self._sub = S_NORMAL
            if sub == S_RUN:
                self._resolve_run("\n")
            elif sub == S_TICKS:
                self._put("`" * self._icount)
            elif sub == S_CODE:
                if self._close_run == self._code_n:
                    self._close_code()
                else:
                    self._fail_code()
            elif sub == S_BANG:
                self._put("!")
            elif sub == S_AFTER_BR:
                self._fail_bracket()
            elif sub == S_URL:
                self._fail_url()
            elif sub == S_TAG:
                self._fail_tag()
            # S_ESC: a backslash ending a line is a hard line break: nothing to say
        if self._carrying and self._stack:
            self._carry_openers()
        self._stack.clear()
        self._nbr = 0
        self._flush_parts()
        self._failed.clear()
        self._skip = 0

    # -- code spans -----------------------------------------------------------------------

    def _open_code(self) -> None:
        count = self._icount
        if count in self._failed:
            # No run of this length closes on this line: it cannot open a span either.
            self._sub = S_NORMAL
            self._put("`" * count)
            self._prev = "`"
            return
        self._sub = S_CODE
        self._code_n = count
        self._close_run = 0

    def _code_span(self, s: str, pos: int) -> int:
        ch = s[pos]
        if ch == "`":
            self._close_run += 1
            return pos + 1
        if self._close_run:
            if self._close_run == self._code_n:
                self._close_code()
                return pos
            self._code_buf.append("`" * self._close_run)
            self._close_run = 0
        match = _CODE_STOP(s, pos)
        end = len(s) if match is None else match.start()
        self._code_buf.append(s[pos:end])
        return end

    def _close_code(self) -> None:
        code = "".join(self._code_buf)
        self._code_buf.clear()
        self._close_run = 0
        self._sub = S_NORMAL
        if len(code) > 2 and code[0] == " " and code[-1] == " " and code.strip(" "):
            code = code[1:-1]
        if code:
            self._put(code)
        self._prev = "`"

    def _fail_code(self) -> None:
        self._failed.add(self._code_n)
        raw = "".join(self._code_buf) + "`" * self._close_run
        self._code_buf.clear()
        self._close_run = 0
        self._put("`" * self._code_n)
        self._prev = "`"
        self._inline(raw, 0)

    # -- links and images -----------------------------------------------------------------

    def _open_bracket(self, mark: str) -> None:
        self._stack.append([mark, 0, len(self._parts), self._prev])
        self._parts.append(mark)
        self._nbr += 1
        self._prev = "["

    def _top_bracket(self) -> int:
        stack = self._stack
        i = len(stack) - 1
        while stack[i][0] != "[" and stack[i][0] != "![":
            i -= 1
        return i

    def _fail_bracket(self) -> None:
        del self._stack[self._top_bracket()]
        self._nbr -= 1
        if not self._stack:
            self._flush_parts()
        self._put("]")
        self._prev = "]"

    def _url(self, s: str, pos: int) -> int:
        match = _URL_STOP(s, pos)
        end = len(s) if match is None else match.start()
        if end > pos:
            self._ibuf.append(s[pos:end])
            self._ilen += end - pos
            if self._ilen > _MAX_URL:
                self._sub = S_NORMAL
                self._fail_url()
            return end
        ch = s[pos]
        if ch == "(":
            self._icount += 1
        elif self._icount:
            self._icount -= 1
        else:
            self._link_done()
            return pos + 1
        self._ibuf.append(ch)
        self._ilen += 1
        return pos + 1

    def _link_done(self) -> None:
        self._sub = S_NORMAL
        self._ibuf.clear()
        i = self._top_bracket()
        entry = self._stack[i]
        del self._stack[i:]
        self._nbr -= 1
        index = entry[2]
        before = entry[3]
        assert isinstance(index, int)
        assert isinstance(before, str)
        parts = self._parts
        parts[index] = ""
        if any(parts[index + 1 :]):
            self._prev = ")"
        else:
            # Nothing to say for it: avoid leaving the spaces on both sides together.
            self._prev = before
            if before.isspace():
                self._skip = 1
        if not self._stack:
            self._flush_parts()

    def _fail_url(self) -> None:
        raw = "".join(self._ibuf)
        self._ibuf.clear()
        self._fail_bracket()
        self._inline(raw, 0)

    # -- tags -----------------------------------------------------------------------------

    def _tag(self, s: str, pos: int) -> int:
        if self._ilen == 1:
            ch = s[pos]
            if not ((ch.isascii() and ch.isalpha()) or ch == "/" or ch == "!"):
                self._sub = S_NORMAL
                self._ibuf.clear()
                self._put("<")
                self._prev = "<"
                return pos
        match = _TAG_STOP(s, pos)
        end = len(s) if match is None else match.start()
        if end > pos:
            self._ibuf.append(s[pos:end])
            self._ilen += end - pos
            if self._ilen > _MAX_TAG:
                self._sub = S_NORMAL
                self._fail_tag()
            return end
        ch = s[pos]
        if ch == ">":
            self._ibuf.append(ch)
            self._tag_done()
            return pos + 1
        if ch == "<":
            self._sub = S_NORMAL
            self._fail_tag()
        return pos

    def _tag_done(self) -> None:
        self._sub = S_NORMAL
        tag = "".join(self._ibuf)
        self._ibuf.clear()
        link = _AUTOLINK(tag)
        if link is not None:
            self._put(link[1])
            self._prev = tag[-2]
            return
        element = _TAG(tag)
        comment = tag.startswith("<!--") and tag.endswith("-->")
        if element is None and not comment:
            self._put("<")
            self._prev = "<"
            self._inline(tag[1:], 0)
        elif element is not None and element[1].lower() in self._keep_tags:
            self._put(tag)
            self._prev = ">"
        elif self._tag_prev.isspace():
            self._skip = 1

    def _fail_tag(self) -> None:
        raw = "".join(self._ibuf)[1:]
        self._ibuf.clear()
        self._put("<")
        self._prev = "<"
        self._inline(raw, 0)
