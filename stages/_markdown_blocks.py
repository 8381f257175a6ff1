"""Block-level markdown for the cleaner: lines, headings, lists, quotes, tables and fences.

:class:`BlockCore` drives the cleaner over raw text. It cuts the text into lines and keeps a
block mode (``M_*``) for the current one: the first characters are held until they show
whether the line is a bullet, a rule, a quote, a heading, a table row or a code fence; the
rest of an ordinary line goes to the inline layer (:class:`._markdown_inline.InlineCore`).
Headings and table rows are held to the end of their line; fenced code is dropped or read
verbatim.
"""

from __future__ import annotations

import re

from ._markdown_inline import S_NORMAL, InlineCore

# Block modes: where we are in the current line.
M_START = 0  # the line's first characters, which may still be a bullet, rule, quote
M_HASH = 1  # a run of '#' at the start: a heading if a space follows
M_TEXT = 2  # ordinary inline text
M_HEADING = 3  # heading text, held to the end of the line for its closing '#' sequence
M_TABLE = 4  # a table row, held to the end of the line (it is cut into cells)
M_FENCE_OPEN = 5  # a run of '`' or '~' at the start: a fence if it reaches three
M_FENCE_INFO = 6  # the info string after an opening fence
M_CODE_START = 7  # the start of a line inside a fence: maybe the closing fence
M_CODE = 8  # the rest of a line inside a fence

HEAD_CHARS = frozenset(" \t-*_=+")
"""Characters a line may start with before it shows what block it is: held until then."""
_FENCE_INFO_STOP = re.compile(r"[`\n]").search
_CELL_SPLIT = re.compile(r"(?<!\\)\|").split
_DELIMITER_ROW = re.compile(r"[|:\- \t]*-[|:\- \t]*").fullmatch


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


class BlockCore(InlineCore):
    """Lines and blocks: the driver of the markdown cleaner (a layer of it)."""

    __slots__ = (
        "_bcount",
        "_buf",
        "_fast",
        "_fence_ch",
        "_fence_n",
        "_hmark",
        "_mode",
        "_read_code",
        "_read_tables",
        "_stripped",
    )

    # Options, set by the cleaner.
    _read_code: bool
    _read_tables: bool

    def __init__(self) -> None:
        super().__init__()
        self._buf: list[str] = []

    def _reset(self) -> None:
        super()._reset()
        self._buf.clear()
        self._mode = M_START
        self._hmark = self._stripped = False
        self._bcount = self._fence_n = 0
        self._fence_ch = ""
        self._fast = False

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
            if mode == M_TEXT:
                pos = self._inline(text, pos)
            elif mode == M_START:
                pos = self._at_start(text, pos)
            elif mode == M_CODE:
                pos = self._code_line(text, pos)
            elif mode == M_CODE_START:
                pos = self._code_start(text, pos)
            elif mode in (M_HEADING, M_TABLE):
                end = text.find("\n", pos)
                end = n if end < 0 else end
                self._buf.append(text[pos:end])
                pos = end
            elif mode == M_HASH:
                pos = self._hashes(text, pos)
            else:
                pos = self._fence_open(text, pos)
        self._fast = (
            self._mode == M_TEXT and self._sub == S_NORMAL and not self._stack and not self._skip
        )

    def _newline(self) -> None:
        if self._nl_run < 2:
            self._out.append("\n")
            self._nl_run += 1

    def _start_line(self) -> None:
        self._mode = M_START
        self._buf.clear()
        self._hmark = self._stripped = False
        self._skip = 0
        self._prev = "\n"

    def _to_text(self, rest: str) -> None:
        if self._carry:
            # A segment's first text: emphasis carried over from the last segment goes on,
            # unless this line starts a new block (a list item, quote, heading, table row).
            mode = self._mode
            self._resume_carry(new_block=self._stripped or mode in (M_HEADING, M_TABLE))
        self._mode = M_TEXT
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
        if mode == M_TEXT:
            self._end_inline()
        elif mode == M_START:
            self._end_head()
        elif mode == M_HASH:
            if self._bcount > 6:
                self._to_text("".join(self._buf).lstrip(" \t"))
                self._end_inline()
        elif mode == M_HEADING:
            self._heading()
        elif mode == M_TABLE:
            emit = self._table_row()
        elif mode in (M_FENCE_OPEN, M_FENCE_INFO):
            if self._fence_n >= 3:
                self._buf.clear()
                self._mode = M_CODE_START
                return self._read_code
            self._to_text(self._head_text())
            self._end_inline()
        elif mode == M_CODE_START:
            line = "".join(self._buf)
            self._buf.clear()
            if self._closes(line):
                self._start_line()
            elif self._read_code and line.strip():
                self._put(line)
            return self._read_code
        else:  # M_CODE
            self._mode = M_CODE_START
            return self._read_code
        self._start_line()
        return emit

    # -- line starts ----------------------------------------------------------------------

    def _head_text(self) -> str:
        head = "".join(self._buf)
        return head.lstrip(" \t") if self._stripped else head

    def _at_start(self, text: str, pos: int) -> int:
        ch = text[pos]
        if ch in HEAD_CHARS:
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
                self._mode = M_HASH
                return pos + 1
            if ch == "|":
                self._buf[:] = ["|"]
                self._mode = M_TABLE
                return pos + 1
        if ch == "`" or ch == "~":
            self._buf.append(ch)
            self._fence_ch = ch
            self._fence_n = 1
            self._mode = M_FENCE_OPEN
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
            self._mode = M_HEADING
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
        if self._mode == M_FENCE_OPEN:
            ch = text[pos]
            if ch == self._fence_ch:
                self._buf.append(ch)
                self._fence_n += 1
                return pos + 1
            if self._fence_n < 3:
                self._to_text(self._head_text())
                return pos
            self._mode = M_FENCE_INFO
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
        self._mode = M_CODE
        return pos

    def _code_line(self, text: str, pos: int) -> int:
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if self._read_code:
            self._put(text[pos:end])
        return end
