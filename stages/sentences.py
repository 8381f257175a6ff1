"""Streaming sentence segmentation: text deltas in, sentences out as soon as each is certain.

The core keeps one buffer (the text of the sentence being built plus whatever lookahead has
arrived) and a scan position, so every character is examined once; a decision at a candidate
boundary reads only a small window around it. A candidate that cannot be decided yet (the
next character has not arrived) parks the scan there and is retried when text arrives, and
a retry reads the same bounded window again. Decisions depend only on the text, never on how
it was split into deltas, so any split of a stream gives the same sentences.

When a sentence end is certain:

- after ``. ! ?`` (with runs such as ``?!`` or ``...`` and closing quotes or brackets), the
  next non-space character decides; only an abbreviation before a capitalized word waits for
  that word ("U.S. How" ends a sentence, "U.S. Government" does not);
- after ``。！？`` the next character decides, so a closing ``」`` can join the sentence;
- a newline after a list item or heading ends a sentence at once; a blank line always does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline._core import Poisonable
from pipeline._errors import RequestValidationError

from ._abbreviations import LANGUAGES, OTHER_HARD_MARKS, LanguageData, multilingual

__all__ = ("SUPPORTED_LANGUAGES", "SentenceSegmenter")

SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(sorted(LANGUAGES))

# Openers and the closer each one waits for. Quotes that look the same on both sides are
# handled separately, by what precedes them.
_PAIRS = {
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
_CLOSERS = frozenset(")]}）】》〉」』»“”’'\"›")
_TRAILING = frozenset(_CLOSERS | {"*", "_"})
_BULLETS = frozenset("•⁃‣▪◦")
_LOWER_ENDERS = frozenset(",;:%)]}」』）–—")
# ASCII "'" is left out: as an apostrophe ("'90s", "'til") it would open a quote that never
# closes and hold sentences back.
_QUOTES = frozenset("’‘")
_OPENING = frozenset("([{\"“‘'«„¿¡")
# A bracket or quote left open longer than this is taken to be unbalanced: holding every
# later sentence back for it would stall speech for the rest of the stream.
_OPEN_LIMIT = 300
_MAX_TOKEN = 40
_MAX_WORD = 24
_MAX_DEPTH = 16

_LIST_START = re.compile(r"\s*(?:[•⁃‣▪◦]\s*)?(?:(\d{1,3})|([A-Za-z]))(\.\)|\)|\.)(?=\s)")
_BULLET_START = re.compile(r"\s*([•⁃‣▪◦])")
_BLOCK_LINE = re.compile(r"\s*(?:[-*+•⁃‣▪◦]\s|\d{1,3}[.)]\s|#{1,6}\s|>|\||```|\*\*.*\*\*:?\s*$)")
_MULTI_PERIOD = re.compile(r"^(?:[^\W\d_]{1,3}\.)+[^\W\d_]{1,3}$")
# The start of a list item on the next line, or after a sentence ("w) hello").
_ITEM = re.compile(r"\(?(?:[a-z]|[ivxlc]{1,5})\)\s")
_FOOTNOTE = re.compile(r"(?:\[\d{1,3}\])+|\d{1,3}(?=\s)")
_PARTIAL_NOTE = re.compile(r"(?:\[\d{1,3}\])*\[?\d{0,3}")
_NOTE_AFTER = frozenset("abcdefghijklmnopqrstuvwxyz)")


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x9FFF  # CJK ideographs
        or 0xAC00 <= code <= 0xD7AF  # hangul
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x3000 <= code <= 0x303F  # CJK punctuation
    )


def _join(left: str, right: str) -> str:
    # CJK is written without spaces between sentences; adding one would be heard as a pause
    # and shown as a stray gap.
    if _is_cjk(left[-1]) or _is_cjk(right[0]):
        return left + right
    return left + " " + right


class SentenceSegmenter(Poisonable):
    """Split a stream of text deltas into sentences, each emitted once its end is certain.

    Args:
        language: One of ``en zh ko ja es fr it de``, choosing that language's terminators and
            abbreviations; ``None`` handles Latin and CJK text together.
        punctuation_marks: Replaces the set of sentence-ending marks; each is one character.
        min_sentence_length: A sentence shorter than this is joined to the next one (never
            dropped); 0 disables joining.

    Raises:
        RequestValidationError: An option is invalid (the caller's mistake); the message
            names the ``stream_options`` field.
    """

    __slots__ = (
        "_buf",
        "_code",
        "_data",
        "_fence",
        "_hard",
        "_line",
        "_list",
        "_min",
        "_pending",
        "_pos",
        "_soft",
        "_special",
        "_stack",
        "_start",
    )

    def __init__(
        self,
        *,
        language: str | None = None,
        punctuation_marks: Sequence[str] | None = None,
        min_sentence_length: int = 6,
    ) -> None:
        super().__init__()
        problems: list[str] = []
        data: LanguageData | None = None
        if language is None:
            data = multilingual()
        elif not isinstance(language, str) or language.lower() not in LANGUAGES:
            problems.append(
                f"stream_options.punctuation_language: unsupported language {language!r}; "
                f"expected one of {', '.join(SUPPORTED_LANGUAGES)} or None"
            )
        else:
            data = LANGUAGES[language.lower()]
        if isinstance(min_sentence_length, bool) or not isinstance(min_sentence_length, int):
            problems.append("stream_options.min_sentence_length: must be an integer")
        elif min_sentence_length < 0:
            problems.append(
                f"stream_options.min_sentence_length: must be >= 0, got {min_sentence_length}"
            )
        soft: frozenset[str] = frozenset()
        hard: frozenset[str] = frozenset()
        if punctuation_marks is not None:
            marks = [punctuation_marks] if isinstance(punctuation_marks, str) else None
            if marks is not None or not punctuation_marks:
                problems.append(
                    "stream_options.punctuation_marks: must be a non-empty list of "
                    "single characters, or None for the language's own marks"
                )
            else:
                bad = [m for m in punctuation_marks if not _valid_mark(m)]
                if bad:
                    problems.append(
                        "stream_options.punctuation_marks: each mark must be one "
                        f"non-space, non-alphanumeric character; got {bad!r}"
                    )
                else:
                    chosen = frozenset(punctuation_marks)
                    hard_kind = (
                        data.hard_marks if data is not None else frozenset()
                    ) | OTHER_HARD_MARKS
                    hard = frozenset(m for m in chosen if m in hard_kind or _is_cjk(m))
                    soft = chosen - hard
        elif data is not None:
            soft, hard = data.soft_marks, data.hard_marks
        if problems:
            raise RequestValidationError(problems)
        assert data is not None
        self._data = data
        self._soft = soft
        self._hard = hard
        self._min = min_sentence_length
        special = "".join(
            sorted(soft | hard | set(_PAIRS) | _CLOSERS | _QUOTES | _BULLETS | {"\n", "`"})
        )
        self._special = re.compile("[" + re.escape(special) + "]")
        self._buf = ""
        self._pos = 0  # next character to scan
        self._start = 0  # where the current sentence begins
        self._line = 0  # where the current line begins
        self._stack: list[tuple[str, int]] = []  # open brackets/quotes: (closer, index)
        self._code = -1  # index of an open inline-code backtick, or -1
        self._fence = False
        self._list: tuple[str, str] | None = None  # (next marker, its delimiter) for lists
        self._pending: str | None = None

    # -- public API -------------------------------------------------------------------------

    def feed(self, text: str) -> list[str]:
        """Take one text delta; return the sentences whose end it makes certain.

        Raises:
            TypeError: ``text`` is not a string (a programming error upstream).
        """
        self._check()
        try:
            if not isinstance(text, str):
                raise TypeError(f"expected str, got {type(text).__name__}")
            if not text:
                return []
            # Detach before appending so the string has a single reference and CPython can
            # grow it in place: appends stay amortized O(len(text)), not O(len(buffer)).
            buf = self._buf
            self._buf = ""
            buf += text
            self._buf = buf
            out: list[str] = []
            self._scan(out, final=False)
            return out
        except Exception as exc:
            self._poison(exc)
            raise

    def flush(self) -> list[str]:
        """End of stream: return the sentences still held back, the last one unterminated."""
        self._check()
        try:
            out: list[str] = []
            self._scan(out, final=True)
            self._emit(out, self._buf[self._start :])
            self._buf = ""
            self._pos = self._start = self._line = 0
            self._stack.clear()
            self._code = -1
            self._fence = False
            self._list = None
            if self._pending is not None:
                out.append(self._pending)
                self._pending = None
            return out
        except Exception as exc:
            self._poison(exc)
            raise

    # -- scanning ---------------------------------------------------------------------------

    def _scan(self, out: list[str], *, final: bool) -> None:
        buf = self._buf
        n = len(buf)
        i = self._pos
        search = self._special.search
        soft, hard = self._soft, self._hard
        while i < n:
            match = search(buf, i)
            if match is None:
                i = n
                break
            i = match.start()
            ch = buf[i]
            if ch in soft or ch in hard:
                if self._fence or self._in_code(i):
                    i += 1
                    continue
                decision = (
                    self._decide_hard(buf, i, final)
                    if ch in hard
                    else self._decide_soft(buf, i, final)
                )
            elif ch == "\n":
                decision = self._decide_newline(buf, i, final)
            elif ch == "`":
                decision = self._backtick(buf, i, final)
            else:
                decision = self._bracket(buf, i, final)
            if decision is None:
                break  # undecidable until more text arrives; retry from here
            end, resume = decision
            if end >= 0:
                self._emit(out, buf[self._start : end])
                self._start = end
                self._list = None
                if self._stack and end - self._stack[-1][1] > _OPEN_LIMIT:
                    self._stack.clear()
            self._advance(buf, i, resume)
            i = resume
        self._pos = i
        # Drop what has been emitted so the buffer holds one sentence plus lookahead.
        cut = self._start
        if cut:
            self._buf = buf[cut:]
            self._pos -= cut
            self._start = 0
            self._line = max(0, self._line - cut)
            self._code = self._code - cut if self._code >= 0 else -1
            self._stack = [(c, at - cut) for c, at in self._stack]

    def _advance(self, buf: str, i: int, resume: int) -> None:
        """Apply the bracket and quote effects of ``buf[i:resume]``, passed by a decision."""
        if self._fence or self._in_code(i):
            return
        for k in range(i, resume):
            ch = buf[k]
            if ch in _CLOSERS or ch in _PAIRS or ch in _QUOTES:
                self._track(buf, k)

    def _emit(self, out: list[str], text: str) -> None:
        sentence = text.strip()
        if not sentence:
            return
        if self._pending is not None:
            sentence = _join(self._pending, sentence)
            self._pending = None
        if len(sentence) < self._min:
            self._pending = sentence
        else:
            out.append(sentence)

    # -- state: brackets, quotes, code ------------------------------------------------------

    def _in_code(self, i: int) -> bool:
        return self._code >= 0 and i - self._code <= _OPEN_LIMIT

    def _inside(self, i: int) -> bool:
        return bool(self._stack) and i - self._stack[-1][1] <= _OPEN_LIMIT

    def _track(self, buf: str, k: int) -> None:
        """Update the open-bracket stack for the bracket or quote at ``buf[k]``."""
        ch = buf[k]
        stack = self._stack
        if ch == '"' or ch == "“":
            if stack and stack[-1][0] == ch:
                stack.pop()
                return
            prev = buf[k - 1] if k > self._start else " "
            if prev.isspace() or prev in _PAIRS or prev in "—–-:/":
                if len(stack) < _MAX_DEPTH:
                    stack.append(('"' if ch == '"' else "”", k))
            elif ch == '"' and stack and any(c == '"' for c, _ in stack):
                self._close(ch)
            return
        if ch in _QUOTES:
            self._single_quote(buf, k)
            return
        closer = _PAIRS.get(ch)
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
        opening = ch == "‘" and (prev.isspace() or prev in _OPENING) and nxt.isalpha()
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
        if ch in _BULLETS:
            return self._bullet(buf, i)
        if ch in _QUOTES and i + 1 >= len(buf) and not final:
            return None  # whether it opens, closes or is an apostrophe depends on what follows
        if ch == ")" and i > self._start and buf[i - 1].isalnum():
            found = self._list_item_here(buf, i, final)
            if found == -2:
                return None
            if found >= 0:
                return found, found
        return -1, i + 1  # the bracket itself is tracked by _advance

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
        m = _LIST_START.match(buf, self._start)
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

    # -- decisions --------------------------------------------------------------------------

    def _decide_hard(self, buf: str, i: int, final: bool) -> tuple[int, int] | None:
        n = len(buf)
        soft, hard = self._soft, self._hard
        ch = buf[i]
        # A full-width point between digits is a decimal point.
        if ch == "．" and 0 < i < n - 1 and buf[i - 1].isdigit() and buf[i + 1].isdigit():
            return -1, i + 1
        j = i + 1
        while j < n and (buf[j] in hard or buf[j] in soft):
            j += 1
        saved = list(self._stack)
        while j < n and buf[j] in _TRAILING:
            if buf[j] in _CLOSERS:
                self._track(buf, j)
            j += 1
        inside = self._inside(j)
        self._stack[:] = saved
        if j >= n and not final:
            return None
        if inside:
            return -1, j
        return j, j

    def _decide_soft(self, buf: str, i: int, final: bool) -> tuple[int, int] | None:
        n = len(buf)
        soft = self._soft
        # A sequential list marker in mid-line ("item 2. Next") starts a new sentence.
        if buf[i] == "." and self._list_candidate(buf, i):
            found = self._list_item_here(buf, i, final)
            if found == -2:
                return None
            if found >= 0:
                return found, found
        j = i
        dots = 0
        spaced = False
        question = False
        while True:
            while j < n and buf[j] in soft:
                if buf[j] == ".":
                    dots += 1
                elif buf[j] == "…":
                    dots += 3
                else:
                    question = True
                j += 1
            # Spaced ellipsis ". . ." continues the run.
            k = j
            while k < n and buf[k] == " ":
                k += 1
            if k > j and k < n and buf[k] == "." and "." in soft:
                spaced = True
                j = k
                continue
            if k >= n and k > j and not final:
                return None
            break
        run_end = j
        # Closing quotes, brackets, emphasis and footnote marks ("martyr.[1]") belong to the
        # sentence they follow.
        saved = list(self._stack)
        while j < n:
            ch = buf[j]
            if ch in _TRAILING:
                if ch in _CLOSERS or ch in _QUOTES:
                    self._track(buf, j)
                j += 1
                continue
            if ch == "[" or (ch.isdigit() and j == run_end and buf[i - 1] in _NOTE_AFTER):
                note = _FOOTNOTE.match(buf, j)
                if note is not None:
                    j = note.end()
                    continue
                if not final and n - j <= 12 and _PARTIAL_NOTE.fullmatch(buf, j) is not None:
                    self._stack[:] = saved
                    return None  # a footnote mark may be arriving
            break
        inside = self._inside(j)
        self._stack[:] = saved
        if j >= n:
            return None if not final else (j, j)
        nxt = buf[j]
        if not nxt.isspace():
            return self._adjacent(buf, i, j, run_end, question, inside, final)
        k = j
        newlines = 0
        while k < n and buf[k].isspace():
            if buf[k] == "\n":
                newlines += 1
            k += 1
        if k >= n:
            if not final:
                return None
            return j, j
        if newlines >= 2:
            return j, j
        if inside:
            return -1, j
        first = buf[k]
        if first.islower():
            # "w) hello" after a sentence is a list item even in lower case.
            item = self._item_at(buf, k, final)
            if item is None:
                return None
            return (j, j) if item else (-1, j)
        if first in _LOWER_ENDERS:
            return -1, j
        if first == "-":
            if k + 1 >= n:
                return None if not final else (j, j)
            if buf[k + 1] == "-":
                return -1, j  # "voila! -- you have cake": a dash continues the sentence
        if question:
            return j, j
        if dots > 1:
            return self._after_ellipsis(buf, i, j, dots, spaced, first)
        return self._after_period(buf, i, j, k, final)

    def _adjacent(
        self, buf: str, i: int, j: int, run_end: int, question: bool, inside: bool, final: bool
    ) -> tuple[int, int] | None:
        """Decide a mark followed by a non-space: "3.14", "e.g.", "...see" stay inside."""
        nxt = buf[j]
        if inside:
            return -1, max(run_end, i + 1)
        if _is_cjk(nxt) and (question or (i > 0 and _is_cjk(buf[i - 1]))):
            return j, j  # CJK needs no space after "!" or "?"
        if nxt.isupper() and j == run_end:
            # A missing space ("world.Today"): a new sentence if a plain word or a number
            # precedes and a lower-case letter follows the capital.
            if j + 1 >= len(buf):
                return None if not final else (-1, i + 1)
            before = buf[i - 1] if i > self._start else " "
            token_start = i
            while token_start > self._start and not buf[token_start - 1].isspace():
                token_start -= 1
            token = buf[token_start:i]
            plain = token.isalpha() and token[1:].islower() and len(token) > 1
            # A bare small number is a list marker ("1.Helado, 2.Carne").
            number = before.isdigit() and not question and not (token.isdigit() and len(token) < 3)
            if buf[j + 1].islower() and (plain or number):
                # "Jane.Doe@example.com" and "Node.Js" are names, not two sentences.
                end = j
                limit = min(len(buf), j + _MAX_TOKEN)
                while end < limit and not buf[end].isspace():
                    end += 1
                if end >= len(buf) and not final and end < j + _MAX_TOKEN:
                    return None
                word = buf[j:end].rstrip(".!?…,;:\"')”’")
                if token.lower() not in self._data.abbreviations and not any(
                    c in word for c in "@./:_\\"
                ):
                    return j, j
        return -1, max(run_end, i + 1)

    def _item_at(self, buf: str, k: int, final: bool) -> bool | None:
        """Whether a list-item marker such as ``b)`` or ``iv.`` starts at ``buf[k]``."""
        end = min(len(buf), k + 8)
        if _ITEM.match(buf, k, end) is not None:
            return True
        if end - k < 8 and not final and not any(c.isspace() for c in buf[k:end]):
            return None
        return False

    def _after_ellipsis(
        self, buf: str, i: int, j: int, dots: int, spaced: bool, first: str
    ) -> tuple[int, int]:
        attached = i > 0 and not buf[i - 1].isspace()
        if not (first.isupper() or _is_cjk(first)):
            return -1, j  # "[...]" (Smith 55): an omission, not an end
        if spaced and attached and dots >= 4 and buf[i + 1] == " ":
            # "word. . . . Next": the period ends the sentence, the ellipsis opens the next.
            return i + 1, i + 1
        if spaced and not attached and dots == 3:
            # A spaced ellipsis with a space before it marks an omission mid-sentence.
            return -1, j
        return j, j

    def _after_period(
        self, buf: str, i: int, j: int, k: int, final: bool
    ) -> tuple[int, int] | None:
        data = self._data
        start = self._start
        marker = _LIST_START.match(buf, start)
        if marker is not None and marker.end() - len(marker.group(3)) == i:
            return -1, j  # "1. First item", "• 9. Item", "a. Item": a list marker
        token_start = i
        limit = max(start, i - _MAX_TOKEN)
        while token_start > limit and not buf[token_start - 1].isspace():
            token_start -= 1
        if token_start == limit > start:
            return j, j  # a long token (a URL, a path) is no abbreviation
        token = buf[token_start:i]
        while token and (token[0] in _OPENING or token[0] in "*_"):
            token = token[1:]
            token_start += 1
        # Elision: "l'Ing." is "Ing." after "l'".
        cut = max(token.rfind("'"), token.rfind("’"))
        if cut >= 0:
            token = token[cut + 1 :]
            token_start += cut + 1
        if not token:
            return j, j
        first = buf[k]
        if token[-1].isdigit():
            if (token.isdigit() or token.endswith("°")) and len(token) <= 2:
                if self._is_ordinal(buf, token_start, k, final, data):
                    return -1, j
                if self._word_pending(buf, k, final):
                    return None
            return j, j
        lower = token.lower()
        known = lower in data.abbreviations
        multi = "." in lower and _MULTI_PERIOD.match(lower) is not None
        single = len(lower) == 1 and lower.isalpha()
        if not (known or multi or single):
            return j, j
        # Look past an opening bracket or quote: "Inc. (“Company A”)" continues.
        w = k
        while w < len(buf) and w - k < 3 and buf[w] in _OPENING:
            w += 1
        if w >= len(buf):
            return (j, j) if final else None
        first = buf[w]
        if first.isdigit():
            return -1, j  # "p. 55", "No. 5", "S. 225"
        if first.islower():
            return -1, j
        if known and lower in data.titles:
            return -1, j
        if not first.isalpha():
            return -1, j  # "D.C. - Colombia"
        end = w
        limit = min(len(buf), w + _MAX_WORD)
        while end < limit and (buf[end].isalpha() or buf[end] in "'’"):
            end += 1
        if end >= len(buf) and not final and end < w + _MAX_WORD:
            return None  # the deciding word is still arriving
        word = buf[w:end].rstrip("'’")
        if word in data.starters:
            return j, j
        if lower in ("a.m", "p.m") and word.lower() not in data.titles:
            return j, j  # "at 6 p.m. Travelers who ..." ends; "a.m. Mr. Smith" does not
        return -1, j

    def _is_ordinal(
        self, buf: str, token_start: int, k: int, final: bool, data: LanguageData
    ) -> bool:
        if not data.months and not data.ordinal_words:
            return False
        prev_end = token_start
        while prev_end > self._start and buf[prev_end - 1].isspace():
            prev_end -= 1
        prev_start = prev_end
        while prev_start > max(self._start, prev_end - 20) and buf[prev_start - 1].isalpha():
            prev_start -= 1
        if buf[prev_start:prev_end].lower() in data.ordinal_words:
            return True
        end = k
        while end < len(buf) and buf[end].isalpha():
            end += 1
        return buf[k:end].lower() in data.months

    def _word_pending(self, buf: str, k: int, final: bool) -> bool:
        if final or not self._data.months:
            return False
        end = k
        while end < len(buf) and buf[end].isalpha() and end - k < _MAX_WORD:
            end += 1
        return end >= len(buf)

    def _list_candidate(self, buf: str, i: int) -> bool:
        return i > self._start + 1 and (buf[i - 1].isdigit() or buf[i - 1].isalpha())

    def _decide_newline(self, buf: str, i: int, final: bool) -> tuple[int, int] | None:
        line = buf[max(self._line, self._start) : i]
        if self._fence:
            self._line = i + 1
            return -1, i + 1
        self._line = i + 1
        if not line.strip():
            # A blank line closes whatever a paragraph left open.
            self._code = -1
            self._stack.clear()
            return i, i + 1
        if self._inside(i) and _BLOCK_LINE.match(line) is None:
            return -1, i + 1
        # Voice text is not hard-wrapped: a line break separates lines that are spoken
        # as separate sentences (list items, headings, addresses, verse).
        self._code = -1
        return i, i + 1


def _valid_mark(mark: object) -> bool:
    return isinstance(mark, str) and len(mark) == 1 and not mark.isspace() and not mark.isalnum()
