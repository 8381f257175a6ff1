"""Boundary rules of the sentence segmenter: is this mark or line break a sentence end?

Each ``_decide_*`` method looks at one candidate (a terminator run, a line break) and returns
``(end, resume)``: where the sentence ends (-1 for no end) and where scanning goes on, or
``None`` when the answer needs text that has not arrived yet. A decision reads a bounded
window around the candidate and never the whole buffer.
"""

from __future__ import annotations

import re

from ._abbreviations import EXCLAMATION_NAMES
from ._sentence_state import (
    CLOSERS,
    LIST_START,
    OPENING,
    QUOTES,
    TRAILING,
    ScanState,
    is_cjk,
)

__all__ = ("BoundaryRules",)

_LOWER_ENDERS = frozenset(",;:%)]}」』）–—")
_MAX_TOKEN = 40
_MAX_WORD = 24
_BLOCK_LINE = re.compile(r"\s*(?:[-*+•⁃‣▪◦]\s|\d{1,3}[.)]\s|#{1,6}\s|>|\||```|\*\*.*\*\*:?\s*$)")
_MULTI_PERIOD = re.compile(r"^(?:[^\W\d_]{1,3}\.)+[^\W\d_]{1,3}$")
_FOOTNOTE = re.compile(r"(?:\[\d{1,3}\])+|\d{1,3}(?: \d{1,3})*(?=\s)")
_PARTIAL_NOTE = re.compile(r"(?:\[\d{1,3}\])*\[?\d{0,3}")
_NOTE_MORE = re.compile(r" \d{0,3}")
_NOTE_AFTER = frozenset("abcdefghijklmnopqrstuvwxyz)")
_WRAP_MARKS = frozenset(".,;:!?")


def _token_start(buf: str, limit: int, i: int) -> int:
    """Where the run of non-space characters ending at ``buf[i]`` starts, at ``limit`` at most."""
    window = buf[limit:i]
    if not window or window[-1].isspace():
        return i
    # str.rsplit() splits at exactly the characters str.isspace() accepts, in one C call.
    return i - len(window.rsplit(None, 1)[-1])


class BoundaryRules(ScanState):
    """The decisions at candidate boundaries, on top of the scan state."""

    __slots__ = ()

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
        while j < n and buf[j] in TRAILING:
            if buf[j] in CLOSERS:
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
            # So does a spaced run of one repeated mark: "! ! !".
            repeated = k == j + 1 < n and buf[k] in "!?" and buf[k] == buf[j - 1]
            if k > j and k < n and ((buf[k] == "." and "." in soft) or repeated):
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
            if ch in TRAILING:
                if ch in CLOSERS or ch in QUOTES:
                    self._track(buf, j)
                j += 1
                continue
            if ch == "[" or (ch.isdigit() and j == run_end and buf[i - 1] in _NOTE_AFTER):
                note = _FOOTNOTE.match(buf, j)
                if note is not None:
                    j = note.end()
                    if not final and _NOTE_MORE.fullmatch(buf, j) is not None:
                        self._stack[:] = saved
                        return None  # another number of a run ("gap.11 12") may follow
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
        if dots >= 4 and first.isdigit():
            return -1, j  # a dot leader before a page number ("Score?...... 9")
        if question:
            if j == i + 1 and buf[i] == "!" and self._exclamation_name(buf, i):
                return -1, j  # "Yahoo! Research": the mark is part of the name
            return j, j
        if dots > 1:
            return self._after_ellipsis(buf, i, j, dots, spaced, first)
        return self._after_period(buf, i, j, k, final)

    def _exclamation_name(self, buf: str, i: int) -> bool:
        start = i
        while start > max(self._start, i - _MAX_WORD) and buf[start - 1].isalpha():
            start -= 1
        return buf[start:i].lower() in EXCLAMATION_NAMES

    def _adjacent(
        self, buf: str, i: int, j: int, run_end: int, question: bool, inside: bool, final: bool
    ) -> tuple[int, int] | None:
        """Decide a mark followed by a non-space: "3.14", "e.g.", "...see" stay inside."""
        nxt = buf[j]
        if inside:
            return -1, max(run_end, i + 1)
        if is_cjk(nxt) and (question or (i > 0 and is_cjk(buf[i - 1]))):
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

    def _after_ellipsis(
        self, buf: str, i: int, j: int, dots: int, spaced: bool, first: str
    ) -> tuple[int, int]:
        attached = i > 0 and not buf[i - 1].isspace()
        if not (first.isupper() or is_cjk(first)):
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
        limit = max(start, i - _MAX_TOKEN)
        token_start = _token_start(buf, limit, i)
        # A list marker is at most a bullet and three digits: only a token that short can be
        # one, so the regex runs for few periods.
        if i - token_start <= 4:
            marker = LIST_START.match(buf, start)
            if marker is not None and marker.end() - len(marker.group(3)) == i:
                return -1, j  # "1. First item", "• 9. Item", "a. Item": a list marker
        if token_start == limit > start:
            return j, j  # a long token (a URL, a path) is no abbreviation
        token = buf[token_start:i]
        while token and (token[0] in OPENING or token[0] in "*_"):
            token = token[1:]
            token_start += 1
        # Elision: "l'Ing." is "Ing." after "l'".
        cut = max(token.rfind("'"), token.rfind("’"))
        if cut >= 0:
            token = token[cut + 1 :]
            token_start += cut + 1
        if not token:
            return j, j
        if token[-1].isdigit():
            if (token.isdigit() or token.endswith("°")) and len(token) <= 2:
                if self._is_ordinal(buf, token_start, k):
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
        while w < len(buf) and w - k < 3 and buf[w] in OPENING:
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

    def _is_ordinal(self, buf: str, token_start: int, k: int) -> bool:
        data = self._data
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

    def _decide_newline(self, buf: str, i: int, final: bool) -> tuple[int, int] | None:
        if buf[i] == "\n" and i > 0 and buf[i - 1] == "\r":
            self._line = i + 1
            return -1, i + 1  # the second half of a "\r\n" break, decided at the "\r"
        line = buf[max(self._line, self._start) : i]
        if self._fence:
            self._line = i + 1
            return -1, i + 1
        if not line.strip():
            # A blank line closes whatever a paragraph left open.
            self._line = i + 1
            self._code = -1
            self._stack.clear()
            return i, i + 1
        inside = self._inside(i)
        flowed = buf[i - 1] in " \t"
        block = (inside or flowed) and _BLOCK_LINE.match(line) is not None
        if inside and not block:
            self._line = i + 1
            return -1, i + 1
        if flowed and not block:
            # A "flowed" line (RFC 3676: it ends in a space): the next non-space character
            # decides whether the break only wraps the sentence.
            n = len(buf)
            k = i + 1
            while k < n and buf[k] in " \t\r":
                k += 1
            if k >= n and not final:
                return None
            wrap = self._wrapped(buf, k, final)
            if wrap is None:
                return None
            if wrap:
                self._line = i + 1
                self._code = -1
                return -1, i + 1
        # Voice text is not hard-wrapped otherwise: a line break separates lines that are
        # spoken as separate sentences (list items, headings, addresses, verse).
        self._line = i + 1
        self._code = -1
        return i, i + 1

    def _wrapped(self, buf: str, k: int, final: bool) -> bool | None:
        """Whether a line break after a flowed line wraps the sentence going on at ``buf[k]``.

        It does before a lower-case word, "(" or a lone mark such as "." or ","; a list marker
        such as ``b)`` starts a new item instead. None means the answer needs text that has not
        arrived.
        """
        n = len(buf)
        if k >= n:
            return None if not final else False
        nxt = buf[k]
        if nxt in _WRAP_MARKS:
            if k + 1 >= n:
                return None if not final else True
            return buf[k + 1].isspace()
        if nxt == "(":
            return True
        if not nxt.islower():
            return False
        item = self._item_at(buf, k, final)  # "b) next" on its own line is a list item
        return None if item is None else not item
