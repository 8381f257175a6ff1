r"""Streaming sentence segmentation: text deltas in, sentences out as soon as each is certain.

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
- a quote closed right after a dash (an interrupted speech, ``"to--"``) ends the sentence
  when the next non-space character is a capital;
- a spaced run of one repeated mark (``. . .``, ``! ! !``) counts as one run; a run of four or
  more dots before a number is a dot leader ("Score?...... 9"), never an end; a run of
  footnote numbers after a period ("gap.11 12 Take") stays with the sentence it follows;
- "!" ending a name spelled with it ("Yahoo! Research") ends no sentence;
- a newline after a list item or heading ends a sentence at once; a blank line always does;
- after a "flowed" line (one that ends in a space, as in RFC 3676) the next non-space
  character decides: the break only wraps the sentence before a lower-case word, ``(`` or a
  lone ``.`` ``,`` ``;`` ``:`` ``!`` ``?`` ("a cold \nnight"), unless a list marker such as
  ``b)`` starts the next line. Voice text is not hard-wrapped, so any other line break ends a
  sentence at once. ``\r\n`` and a lone ``\r`` are line breaks too.

With ``clean_text=True`` each emitted sentence then goes through
:func:`._sentence_clean.clean_sentence`, which drops marks a listener should not hear (a line
break before a lone mark, dot leaders and page numbers, ruled lines, literal ``\n`` escapes);
that module lists the rules, and a sentence that cleaning leaves empty is not emitted. It is off
by default, so by default the sentences concatenate back to the input, whitespace aside: the
markdown cleaner, not the segmenter, decides what a listener hears.

The work is split in three modules: ``_sentence_state`` (buffer, brackets, quotes, code and
list bookkeeping), ``_sentence_rules`` (the decision at each candidate boundary) and
``_sentence_clean`` (the text of an emitted sentence); this one holds the options, the
scanning loop and the public API.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline._core import guarded
from pipeline._errors import RequestValidationError

from ._abbreviations import LANGUAGES, OTHER_HARD_MARKS, LanguageData, multilingual
from ._sentence_clean import clean_sentence
from ._sentence_rules import BoundaryRules
from ._sentence_state import BULLETS, CLOSERS, OPEN_LIMIT, PAIRS, QUOTES, is_cjk

__all__ = ("SUPPORTED_LANGUAGES", "SentenceSegmenter")

SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(sorted(LANGUAGES))
# The characters _advance tracks: brackets and quotes.
_TRACKED = CLOSERS | frozenset(PAIRS) | QUOTES


def _join(left: str, right: str) -> str:
    # CJK is written without spaces between sentences; adding one would be heard as a pause
    # and shown as a stray gap.
    if is_cjk(left[-1]) or is_cjk(right[0]):
        return left + right
    return left + " " + right


class SentenceSegmenter(BoundaryRules):
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

    __slots__ = ("_clean", "_min", "_pending", "_special")

    def __init__(
        self,
        *,
        language: str | None = None,
        punctuation_marks: Sequence[str] | None = None,
        min_sentence_length: int = 6,
        clean_text: bool = False,
    ) -> None:
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
                    hard = frozenset(m for m in chosen if m in hard_kind or is_cjk(m))
                    soft = chosen - hard
        elif data is not None:
            soft, hard = data.soft_marks, data.hard_marks
        if problems:
            raise RequestValidationError(problems)
        assert data is not None
        super().__init__(data, soft, hard)
        self._min = min_sentence_length
        self._clean = clean_text
        special = "".join(
            sorted(soft | hard | set(PAIRS) | CLOSERS | QUOTES | BULLETS | {"\n", "\r", "`"})
        )
        self._special = re.compile("[" + re.escape(special) + "]")
        self._pending: str | None = None

    # -- public API -------------------------------------------------------------------------

    @guarded
    def feed(self, text: str) -> list[str]:
        """Take one text delta; return the sentences whose end it makes certain.

        Raises:
            TypeError: ``text`` is not a string (a programming error upstream).
        """
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

    @guarded
    def flush(self) -> list[str]:
        """End of stream: return the sentences still held back, the last one unterminated."""
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
            elif ch == "\n" or ch == "\r":
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
                if self._stack and end - self._stack[-1][1] > OPEN_LIMIT:
                    self._stack.clear()
            # Most decisions pass only their own mark: skip the call when it tracks nothing.
            if resume > i + 1 or buf[i] in _TRACKED:
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
            if ch in CLOSERS or ch in PAIRS or ch in QUOTES:
                self._track(buf, k)

    def _emit(self, out: list[str], text: str) -> None:
        sentence = (clean_sentence(text) if self._clean else text).strip()
        if not sentence:
            return
        if self._pending is not None:
            sentence = _join(self._pending, sentence)
            self._pending = None
        if len(sentence) < self._min:
            self._pending = sentence
        else:
            out.append(sentence)


def _valid_mark(mark: object) -> bool:
    return isinstance(mark, str) and len(mark) == 1 and not mark.isspace() and not mark.isalnum()
