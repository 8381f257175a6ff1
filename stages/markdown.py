"""Markdown to speakable text, incrementally: the stage between the segmenter and TTS.

:class:`MarkdownCleaner` is a sans-IO core. ``feed`` takes raw markdown deltas and returns the
clean text whose form is already certain, holding back only an ambiguous tail (an emphasis
opener waiting for its closer, a ``[link](`` waiting for its ``)``, the first characters of a
line that may still turn out to be a bullet, a rule or a fence). ``clean_segment`` cleans one
whole sentence at once for the pipeline. Any split of a stream gives the same text as the
whole stream (:func:`clean_markdown`).

Policies (one line each; "line" means a line of the raw markdown):

- Emphasis ``*x* **x** ***x*** _x_ __x__ ___x___ ~~x~~``: markers removed, text kept (struck
  text is kept too: it is still part of what the model wrote).
- A ``*`` or ``~~`` run next to a letter or digit of a script written with spaces (Latin,
  Greek, Cyrillic, ...) is literal (``2*3*4``, ``x**2``); next to CJK, kana, Hangul or Thai it
  may still open or close. ``_`` never acts inside a word (``snake_case``, ``変数__name__``).
- Underscore emphasis never spans an identifier's underscore (``__dunder_method__`` stays).
- Runs of four or more delimiters, and unpaired delimiters, are kept literally.
- Inline constructs (emphasis, code spans, links) do not span lines: whatever is unmatched at
  the end of a line is literal, so a stray ``*`` holds back at most one line.
- Headings: ``#`` markers (and a closing ``##`` sequence) removed, the title kept.
- Bullets ``-``, ``*``, ``+`` removed at any indentation; numbered items keep their number
  ("1. Preheat") since "first", "second" carry meaning when heard.
- Blockquote ``>`` markers removed; rules (``---``, ``***``, ``___``, ``===``) become an
  empty line; lines indented four or more columns are plain text, not code.
- Links ``[text](url)`` become ``text``; images ``![alt](src)`` become ``alt``; autolinks
  ``<https://...>`` become the URL; ``[text]`` without a URL stays as written.
- Inline code loses its backticks and keeps its text verbatim.
- Fenced code blocks (``````` or ``~~~``, any indentation): ``code_blocks="drop"`` (the default:
  code read aloud is noise to a listener) removes them whole; ``"read"`` keeps the code lines
  verbatim with the fence lines turned into empty lines. An unclosed fence runs to the end.
- Tables (lines starting with ``|``): ``tables="read"`` (the default: a table usually holds
  the answer) says each row as its cells joined by ", " and drops the ``|---|`` row;
  ``"drop"`` removes every row.
- HTML tags and comments are removed, except tags named in ``keep_tags`` (SSML such as
  ``break``), which pass through verbatim; ``a < b`` is not a tag and stays.
- ``remove_emoji=True`` removes emoji with their modifiers, joiners and variation selectors
  (a keycap ``1️⃣`` becomes ``1``); off by default.
- Backslash escapes (``\\*``) give the literal character. ``/`` and ``&`` are never spelled
  out; entities are not decoded.
- Whitespace: removing a whole element (tag, emoji, empty link) never leaves a doubled space;
  other spacing is kept; at most one blank line in a row (newlines mark paragraphs); leading
  blank lines are dropped. ``\\r`` is dropped.

Cost: a delta without markdown characters, in the middle of a line, is returned as it is
after one regex scan. Every character is otherwise examined a bounded number of times: an
emphasis closer looks back over at most ``_LOOKBACK`` open delimiters, and text held for a
candidate code span, link destination or tag is re-read once if the candidate fails.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Collection
from typing import Literal

from pipeline._core import Poisonable

__all__ = ("MarkdownCleaner", "clean_markdown")

# Block modes: where we are in the current line.
_M_START = 0  # the line's first characters, which may still be a bullet, rule, quote
_M_HASH = 1  # a run of '#' at the start: a heading if a space follows
_M_TEXT = 2  # ordinary inline text
_M_HEADING = 3  # heading text, held to the end of the line for its closing '#' sequence
_M_TABLE = 4  # a table row, held to the end of the line (it is cut into cells)
_M_FENCE_OPEN = 5  # a run of '`' or '~' at the start: a fence if it reaches three
_M_FENCE_INFO = 6  # the info string after an opening fence
_M_CODE_START = 7  # the start of a line inside a fence: maybe the closing fence
_M_CODE = 8  # the rest of a line inside a fence

# Inline sub-states: what the last characters left undecided.
_S_NORMAL = 0
_S_RUN = 1  # a run of '*', '_' or '~' whose next character decides what it is
_S_TICKS = 2  # a run of backticks
_S_CODE = 3  # inside a candidate code span
_S_BANG = 4  # '!' that may start an image
_S_ESC = 5  # a backslash
_S_AFTER_BR = 6  # ']' that becomes a link if '(' follows
_S_URL = 7  # inside a link destination
_S_TAG = 8  # inside a candidate HTML tag or autolink

_HEAD_CHARS = frozenset(" \t-*_=+")
_ASCII_PUNCT = frozenset(string.punctuation)
# Bounds that keep the work per character constant: no realistic markup goes beyond them.
_LOOKBACK = 16
_MAX_TAG = 256
_MAX_URL = 2048

_EMOJI_RANGES = (
    "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    "\u23f8-\u23fa\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2934\u2935\u3030\u303d\u3297\u3299"
)
_EMOJI_PARTS = "\ufe0e\ufe0f\u20e3\U000e0020-\U000e007f"
_is_emoji = re.compile(f"[{_EMOJI_RANGES}]").match
_SPECIAL = re.compile(r"[\n\r*_~`\[\]<\\]|!(?=\[|\Z)").search
_SPECIAL_EMOJI = re.compile(
    f"[\\n\\r*_~`\\[\\]<\\\\\u200d{_EMOJI_RANGES}{_EMOJI_PARTS}]|!(?=\\[|\\Z)"
).search
_CODE_STOP = re.compile(r"[`\n]").search
_URL_STOP = re.compile(r"[()\n]").search
_TAG_STOP = re.compile(r"[<>\n]").search
_FENCE_INFO_STOP = re.compile(r"[`\n]").search
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9:_-]*)(?:[\s/][^<>]*)?>").fullmatch
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*|[^\s<>@]+@[^\s<>@]+)>").fullmatch
_CELL_SPLIT = re.compile(r"(?<!\\)\|").split
_DELIMITER_ROW = re.compile(r"[|:\- \t]*-[|:\- \t]*").fullmatch


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or (ch > "\x7f" and unicodedata.category(ch)[0] in "PS")


def _star_word(ch: str) -> bool:
    # Scripts written without spaces (Thai onwards, CJK, kana, Hangul) put emphasis right
    # against the neighbouring words; elsewhere a '*' between letters is arithmetic or a glob.
    return ch.isalnum() and (ch < "\u0e00" or "\u1e00" <= ch < "\u2000")


def _indent(ws: str) -> int:
    return sum(4 if ch == "\t" else 1 for ch in ws)


def _is_rule(head: str) -> bool:
    marks = head.replace(" ", "").replace("\t", "")
    return (
        len(marks) >= 3
        and marks[0] in "-*_="
        and marks == marks[0] * len(marks)
        and _indent(head[: len(head) - len(head.lstrip(" \t"))]) < 4
    )


class MarkdownCleaner(Poisonable):
    """Turn streamed markdown into text fit for a speech synthesizer.

    Use either ``feed``/``flush`` (a raw stream of deltas) or ``clean_segment`` (whole
    sentences from the segmenter) on one instance, not both. ``flush`` resets the instance,
    so it can clean another stream afterwards.

    Args:
        code_blocks: ``"drop"`` (default) removes fenced code blocks; ``"read"`` keeps their
            lines verbatim.
        tables: ``"read"`` (default) says each row's cells joined by ", "; ``"drop"`` removes
            tables.
        keep_tags: Names of HTML/SSML tags to pass through (case-insensitive), e.g.
            ``{"break", "emphasis", "say-as"}``; every other tag is removed.
        remove_emoji: Remove emoji (with their modifiers and joiners).

    Raises:
        ValueError: ``code_blocks`` or ``tables`` is not one of its two values (the caller's
            mistake).
    """

    __slots__ = (
        "_bcount",
        "_buf",
        "_close_run",
        "_code_buf",
        "_code_n",
        "_failed",
        "_fast",
        "_fence_ch",
        "_fence_n",
        "_hmark",
        "_ibuf",
        "_icount",
        "_ilen",
        "_inert",
        "_keep_tags",
        "_mode",
        "_nbr",
        "_nl_run",
        "_out",
        "_parts",
        "_prev",
        "_read_code",
        "_read_tables",
        "_remove_emoji",
        "_run_ch",
        "_run_n",
        "_run_prev",
        "_skip",
        "_special",
        "_stack",
        "_stripped",
        "_sub",
        "_tag_prev",
    )

    def __init__(
        self,
        *,
        code_blocks: Literal["drop", "read"] = "drop",
        tables: Literal["drop", "read"] = "read",
        keep_tags: Collection[str] = (),
        remove_emoji: bool = False,
    ) -> None:
        super().__init__()
        if code_blocks not in ("drop", "read"):
            raise ValueError(f"code_blocks must be 'drop' or 'read', not {code_blocks!r}")
        if tables not in ("drop", "read"):
            raise ValueError(f"tables must be 'drop' or 'read', not {tables!r}")
        self._read_code = code_blocks == "read"
        self._read_tables = tables == "read"
        self._keep_tags = frozenset(tag.lower() for tag in keep_tags)
        self._remove_emoji = remove_emoji
        self._special = _SPECIAL_EMOJI if remove_emoji else _SPECIAL
        self._out: list[str] = []
        self._buf: list[str] = []
        self._parts: list[str] = []
        # Open delimiters: [char, length, index in _parts, extra]; for '[' the extra is the
        # character before the bracket, for '_' the identifier count at the time it opened.
        self._stack: list[list[object]] = []
        self._ibuf: list[str] = []
        self._code_buf: list[str] = []
        self._failed: set[int] = set()
        self._reset()

    def _reset(self) -> None:
        self._out.clear()
        self._buf.clear()
        self._parts.clear()
        self._stack.clear()
        self._ibuf.clear()
        self._code_buf.clear()
        self._failed.clear()
        self._mode = _M_START
        self._sub = _S_NORMAL
        self._hmark = self._stripped = self._skip = False
        self._bcount = self._icount = self._ilen = self._nbr = self._inert = 0
        self._code_n = self._close_run = self._run_n = self._fence_n = 0
        self._fence_ch = self._run_ch = ""
        self._prev = self._run_prev = self._tag_prev = "\n"
        # Start as if after a blank line so leading blank lines are dropped.
        self._nl_run = 2
        self._fast = False

    # -- public API -----------------------------------------------------------------------

    def feed(self, text: str) -> list[str]:
        """Take one raw markdown delta; return the clean text it makes certain.

        Returns:
            At most one string: the newly certain clean text (none while all of it is held).
        """
        self._check()
        try:
            if not text:
                return []
            if self._fast and self._special(text) is None:
                # Mid-line plain text with nothing pending: it is final as it stands.
                self._prev = text[-1]
                self._nl_run = 0
                return [text]
            self._process(text)
            return self._take()
        except Exception as exc:
            self._poison(exc)
            raise

    def flush(self) -> list[str]:
        """End of stream: return the clean text still held back, and reset."""
        self._check()
        try:
            self._end_line()
            out = self._take()
            self._reset()
            return out
        except Exception as exc:
            self._poison(exc)
            raise

    def clean_segment(self, text: str) -> str:
        """Clean one whole sentence from the segmenter and return it at once.

        Inline constructs are resolved within the segment. The segment is taken to start a
        new line (the segmenter strips the whitespace between sentences), while block state
        persists: a code fence opened in one segment stays open until a later one closes it.

        Returns:
            The clean text, stripped; empty when the segment was only markup (a rule, a
            dropped code block, a table delimiter row).
        """
        self._check()
        try:
            if text:
                self._process(text)
            self._end_line()
            self._fast = False
            out = "".join(self._out).strip()
            self._out.clear()
            return out
        except Exception as exc:
            self._poison(exc)
            raise

    # -- driver ---------------------------------------------------------------------------

    def _take(self) -> list[str]:
        out = self._out
        if not out:
            return []
        text = "".join(out)
        out.clear()
        return [text] if text else []

    def _process(self, text: str) -> None:
        if "\r" in text:
            text = text.replace("\r", "")
        pos, n = 0, len(text)
        while pos < n:
            if text[pos] == "\n":
                if self._end_line():
                    self._newline()
                pos += 1
                continue
            mode = self._mode
            if mode == _M_TEXT:
                pos = self._inline(text, pos)
            elif mode == _M_START:
                pos = self._at_start(text, pos)
            elif mode == _M_CODE:
                pos = self._code_line(text, pos)
            elif mode == _M_CODE_START:
                pos = self._code_start(text, pos)
            elif mode in (_M_HEADING, _M_TABLE):
                end = text.find("\n", pos)
                end = n if end < 0 else end
                self._buf.append(text[pos:end])
                pos = end
            elif mode == _M_HASH:
                pos = self._hashes(text, pos)
            else:
                pos = self._fence_open(text, pos)
        self._fast = (
            self._mode == _M_TEXT and self._sub == _S_NORMAL and not self._stack and not self._skip
        )

    def _newline(self) -> None:
        if self._nl_run < 2:
            self._out.append("\n")
            self._nl_run += 1

    def _put(self, text: str) -> None:
        (self._parts if self._stack else self._out).append(text)
        self._nl_run = 0
        self._skip = False

    def _start_line(self) -> None:
        self._mode = _M_START
        self._buf.clear()
        self._hmark = self._stripped = self._skip = False
        self._prev = "\n"

    def _to_text(self, rest: str) -> None:
        self._mode = _M_TEXT
        self._buf.clear()
        self._prev = "\n"
        if rest:
            self._inline(rest, 0)

    def _end_line(self) -> bool:
        """End the current line (a newline, a segment end or the stream end).

        Returns:
            Whether the line's newline belongs in the output.
        """
        mode = self._mode
        emit = True
        if mode == _M_TEXT:
            self._end_inline()
        elif mode == _M_START:
            self._end_head()
        elif mode == _M_HASH:
            if self._bcount > 6:
                self._to_text("".join(self._buf).lstrip(" \t"))
                self._end_inline()
        elif mode == _M_HEADING:
            self._heading()
        elif mode == _M_TABLE:
            emit = self._table_row()
        elif mode in (_M_FENCE_OPEN, _M_FENCE_INFO):
            if self._fence_n >= 3:
                self._buf.clear()
                self._mode = _M_CODE_START
                return self._read_code
            self._to_text(self._head_text())
            self._end_inline()
        elif mode == _M_CODE_START:
            line = "".join(self._buf)
            self._buf.clear()
            if self._closes(line):
                self._start_line()
            elif self._read_code and line.strip():
                self._put(line)
            return self._read_code
        else:  # _M_CODE
            self._mode = _M_CODE_START
            return self._read_code
        self._start_line()
        return emit

    # -- line starts ----------------------------------------------------------------------

    def _head_text(self) -> str:
        head = "".join(self._buf)
        return head.lstrip(" \t") if self._stripped else head

    def _at_start(self, text: str, pos: int) -> int:
        ch = text[pos]
        if ch in _HEAD_CHARS:
            self._buf.append(ch)
            if ch != " " and ch != "\t":
                self._hmark = True
            return pos + 1
        if self._hmark:
            rest = self._strip_bullets(final=False)
            if rest is None:
                # Only bullets so far: what follows starts the item's own content.
                self._buf.clear()
                self._hmark = False
                return pos
            self._to_text(rest)
            return pos
        ws = "".join(self._buf)
        if _indent(ws) < 4:
            if ch == ">":
                self._buf.clear()
                self._stripped = True
                return pos + 1
            if ch == "#":
                self._buf.append(ch)
                self._bcount = 1
                self._mode = _M_HASH
                return pos + 1
            if ch == "|":
                self._buf[:] = ["|"]
                self._mode = _M_TABLE
                return pos + 1
        if ch == "`" or ch == "~":
            self._buf.append(ch)
            self._fence_ch = ch
            self._fence_n = 1
            self._mode = _M_FENCE_OPEN
            return pos + 1
        self._to_text("" if self._stripped else ws)
        return pos

    def _strip_bullets(self, *, final: bool) -> str | None:
        """Remove bullet markers from the head; ``None`` if nothing but bullets is left."""
        head = "".join(self._buf)
        n = len(head)
        i = j = 0
        stripped = self._stripped
        while True:
            j = i
            while j < n and head[j] in " \t":
                j += 1
            if j < n and head[j] in "-*+" and (head[j + 1] in " \t" if j + 1 < n else final):
                i = j + 1
                stripped = True
                continue
            break
        if not stripped:
            return head
        self._stripped = True
        return head[j:] or None

    def _end_head(self) -> None:
        if self._hmark and _is_rule("".join(self._buf)):
            return
        rest = self._strip_bullets(final=True)
        if rest is not None and rest.strip(" \t"):
            self._to_text(rest)
            self._end_inline()

    def _hashes(self, text: str, pos: int) -> int:
        ch = text[pos]
        if ch == "#":
            self._buf.append(ch)
            self._bcount += 1
            return pos + 1
        if (ch == " " or ch == "\t") and self._bcount <= 6:
            self._buf.clear()
            self._mode = _M_HEADING
            return pos + 1
        self._to_text(self._head_text())
        return pos

    def _heading(self) -> None:
        title = "".join(self._buf).strip(" \t")
        if title.endswith("#"):
            # A closing sequence needs a space before it: "C#" is a title, "Intro ##" is not.
            bare = title.rstrip("#")
            if not bare or bare[-1] in " \t":
                title = bare.rstrip(" \t")
        self._to_text(title)
        self._end_inline()

    def _table_row(self) -> bool:
        row = "".join(self._buf)
        self._buf.clear()
        if not self._read_tables or _DELIMITER_ROW(row):
            return False
        out = self._out
        nl_run = self._nl_run
        cells = 0
        for cell in _CELL_SPLIT(row)[1:]:
            cell = cell.strip(" \t")
            if not cell:
                continue
            mark = len(out)
            self._to_text(cell)
            self._end_inline()
            spoken = "".join(out[mark:]).strip()
            del out[mark:]
            if spoken:
                out.append(", " + spoken if cells else spoken)
                cells += 1
        self._nl_run = 0 if cells else nl_run
        return cells > 0

    # -- fenced code ----------------------------------------------------------------------

    def _fence_open(self, text: str, pos: int) -> int:
        if self._mode == _M_FENCE_OPEN:
            ch = text[pos]
            if ch == self._fence_ch:
                self._buf.append(ch)
                self._fence_n += 1
                return pos + 1
            if self._fence_n < 3:
                self._to_text(self._head_text())
                return pos
            self._mode = _M_FENCE_INFO
        if self._fence_ch == "~":
            # A tilde fence's info string may hold anything: nothing to decide, drop it.
            end = text.find("\n", pos)
            return len(text) if end < 0 else end
        match = _FENCE_INFO_STOP(text, pos)
        end = len(text) if match is None else match.start()
        self._buf.append(text[pos:end])
        if end < len(text) and text[end] == "`":
            # A backtick in the info string: not a fence but inline code ("```x```").
            self._to_text(self._head_text())
        return end

    def _closes(self, line: str) -> bool:
        marks = line.lstrip(" \t>").rstrip(" \t")
        return len(marks) >= self._fence_n and marks == self._fence_ch * len(marks)

    def _code_start(self, text: str, pos: int) -> int:
        ch = text[pos]
        if ch in " \t>" or ch == self._fence_ch:
            self._buf.append(ch)
            return pos + 1
        head = "".join(self._buf)
        self._buf.clear()
        if self._read_code and head:
            self._put(head)
        self._mode = _M_CODE
        return pos

    def _code_line(self, text: str, pos: int) -> int:
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if self._read_code:
            self._put(text[pos:end])
        return end

    # -- inline ---------------------------------------------------------------------------

    def _inline(self, s: str, pos: int) -> int:
        """Process inline text from ``pos`` up to a newline (not consumed) or the end."""
        n = len(s)
        special = self._special
        while pos < n:
            sub = self._sub
            if sub == _S_NORMAL:
                match = special(s, pos)
                end = n if match is None else match.start()
                if end > pos:
                    if self._skip:
                        self._skip = False
                        if s[pos] == " ":
                            self._prev = " "
                            pos += 1
                            continue
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
            if sub == _S_RUN:
                if s[pos] == self._run_ch:
                    self._run_n += 1
                    pos += 1
                else:
                    self._sub = _S_NORMAL
                    self._resolve_run(s[pos])
            elif sub == _S_TICKS:
                if s[pos] == "`":
                    self._icount += 1
                    pos += 1
                else:
                    self._open_code()
            elif sub == _S_CODE:
                pos = self._code_span(s, pos)
            elif sub == _S_BANG:
                self._sub = _S_NORMAL
                if s[pos] == "[":
                    self._open_bracket("![")
                    pos += 1
                else:
                    self._put("!")
                    self._prev = "!"
            elif sub == _S_ESC:
                ch = s[pos]
                self._sub = _S_NORMAL
                if ch in _ASCII_PUNCT:
                    self._put(ch)
                    self._prev = ch
                    pos += 1
                else:
                    self._put("\\")
                    self._prev = "\\"
            elif sub == _S_AFTER_BR:
                if s[pos] == "(":
                    self._sub = _S_URL
                    self._icount = 0
                    self._ibuf.append("(")
                    self._ilen = 1
                    pos += 1
                else:
                    self._sub = _S_NORMAL
                    self._fail_bracket()
            elif sub == _S_URL:
                pos = self._url(s, pos)
            else:
                pos = self._tag(s, pos)
        return pos

    def _special_char(self, ch: str) -> None:
        if ch == "*" or ch == "_" or ch == "~":
            self._sub = _S_RUN
            self._run_ch = ch
            self._run_n = 1
            self._run_prev = self._prev
        elif ch == "`":
            self._sub = _S_TICKS
            self._icount = 1
        elif ch == "[":
            self._open_bracket("[")
        elif ch == "]":
            if self._nbr:
                self._sub = _S_AFTER_BR
            else:
                self._put("]")
                self._prev = "]"
        elif ch == "!":
            self._sub = _S_BANG
        elif ch == "<":
            self._sub = _S_TAG
            self._ibuf.append("<")
            self._ilen = 1
            self._tag_prev = self._prev
        elif ch == "\\":
            self._sub = _S_ESC
        elif ch == "\u200d":
            # A joiner inside an emoji sequence goes with it; elsewhere (Indic, Persian
            # scripts) it shapes the text and stays.
            if not _is_emoji(self._prev):
                self._put(ch)
        elif _is_emoji(ch):
            if self._prev.isspace():
                self._skip = True
            self._prev = ch
        # else: a variation selector, keycap or tag character: dropped with its emoji

    def _end_inline(self) -> None:
        """Resolve everything pending at the end of a line: unmatched means literal."""
        while self._sub != _S_NORMAL:
            sub = self._sub
            self._sub = _S_NORMAL
            if sub == _S_RUN:
                self._resolve_run("\n")
            elif sub == _S_TICKS:
                self._put("`" * self._icount)
            elif sub == _S_CODE:
                if self._close_run == self._code_n:
                    self._close_code()
                else:
                    self._fail_code()
            elif sub == _S_BANG:
                self._put("!")
            elif sub == _S_AFTER_BR:
                self._fail_bracket()
            elif sub == _S_URL:
                self._fail_url()
            elif sub == _S_TAG:
                self._fail_tag()
            # _S_ESC: a backslash ending a line is a hard line break: nothing to say
        self._stack.clear()
        self._nbr = 0
        self._flush_parts()
        self._failed.clear()
        self._skip = False

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
            parts[index] = ch * (size - used)
            if size == used:
                stack.pop()
        if not stack:
            self._flush_parts()
        return rest

    # -- code spans -----------------------------------------------------------------------

    def _open_code(self) -> None:
        count = self._icount
        if count in self._failed:
            # No run of this length closes on this line: it cannot open a span either.
            self._sub = _S_NORMAL
            self._put("`" * count)
            self._prev = "`"
            return
        self._sub = _S_CODE
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
        self._sub = _S_NORMAL
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
                self._sub = _S_NORMAL
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
        self._sub = _S_NORMAL
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
                self._skip = True
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
                self._sub = _S_NORMAL
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
                self._sub = _S_NORMAL
                self._fail_tag()
            return end
        ch = s[pos]
        if ch == ">":
            self._ibuf.append(ch)
            self._tag_done()
            return pos + 1
        if ch == "<":
            self._sub = _S_NORMAL
            self._fail_tag()
        return pos

    def _tag_done(self) -> None:
        self._sub = _S_NORMAL
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
            self._skip = True

    def _fail_tag(self) -> None:
        raw = "".join(self._ibuf)[1:]
        self._ibuf.clear()
        self._put("<")
        self._prev = "<"
        self._inline(raw, 0)


def clean_markdown(
    text: str,
    *,
    code_blocks: Literal["drop", "read"] = "drop",
    tables: Literal["drop", "read"] = "read",
    keep_tags: Collection[str] = (),
    remove_emoji: bool = False,
) -> str:
    """Clean a whole markdown text at once; the options are :class:`MarkdownCleaner`'s."""
    cleaner = MarkdownCleaner(
        code_blocks=code_blocks, tables=tables, keep_tags=keep_tags, remove_emoji=remove_emoji
    )
    return "".join(cleaner.feed(text) + cleaner.flush())
