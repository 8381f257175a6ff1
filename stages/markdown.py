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
- Segments (``clean_segment``) carry emphasis over, since the segmenter may cut inside it
  (``**First. Second.**``): an opener still open at a segment's end is removed if a letter,
  digit, symbol or opening quote or bracket follows it (``*.py`` stays), and its closer in a
  later segment is removed too. A segment that starts a block (list item, quote, heading,
  table row, rule, fence) or holds a line break ends the carried emphasis. (A blank line
  between two plain paragraphs does not: the segmenter strips it before the cleaner sees it.)
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
  (a keycap ``1️⃣`` becomes ``1``); off by default. Closing punctuation right after a removed
  emoji takes the space before it (``world 👨‍💻!`` becomes ``world!``), so a delta's final
  space is held until the next delta.
- Backslash escapes (``\\*``) give the literal character. ``/`` and ``&`` are never spelled
  out; entities are not decoded.
- Whitespace: removing a whole element (tag, emoji, empty link) never leaves a doubled space;
  other spacing is kept; at most one blank line in a row (newlines mark paragraphs); leading
  blank lines are dropped. ``\\r`` is dropped.

Cost: a delta without markdown characters, in the middle of a line, is returned as it is
after one regex scan. Every character is otherwise examined a bounded number of times: an
emphasis closer looks back over at most ``_LOOKBACK`` open delimiters, and text held for a
candidate code span, link destination or tag is re-read once if the candidate fails.

The work is layered in private modules, each a base class of the one above:
``_markdown_emphasis`` (output buffers and emphasis delimiters), ``_markdown_inline`` (code
spans, links, tags, escapes, emoji: one line's inline text) and ``_markdown_blocks`` (the
driver: lines, headings, lists, quotes, tables, fences). This module holds the options and the
public API.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Literal

from pipeline._core import guarded

from ._markdown_blocks import HEAD_CHARS, M_START, M_TEXT, BlockCore
from ._markdown_inline import SPECIAL, SPECIAL_EMOJI

__all__ = ("MarkdownCleaner", "clean_markdown")

# A segment that starts a numbered list item starts a new block.
_LIST_ITEM = re.compile(r"[ \t]*[0-9]{1,9}[.)][ \t]").match
# First characters that may open a block (a bullet, rule, quote, heading, table or fence).
_BLOCK_START = HEAD_CHARS | frozenset(">#|`~")


class MarkdownCleaner(BlockCore):
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

    __slots__ = ("_remove_emoji",)

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
        self._special = SPECIAL_EMOJI if remove_emoji else SPECIAL
        self._reset()

    # -- public API -----------------------------------------------------------------------

    @guarded
    def feed(self, text: str) -> list[str]:
        """Take one raw markdown delta; return the clean text it makes certain.

        Returns:
            At most one string: the newly certain clean text (none while all of it is held).
        """
        if not text:
            return []
        if self._fast and self._special(text) is None:
            # Mid-line plain text with nothing pending: it is final as it stands.
            self._prev = text[-1]
            self._nl_run = 0
            return [text]
        self._process(text)
        if self._remove_emoji:
            return self._take_holding()
        return self._take()

    @guarded
    def flush(self) -> list[str]:
        """End of stream: return the clean text still held back, and reset."""
        self._end_line()
        out = self._take()
        self._reset()
        return out

    @guarded
    def clean_segment(self, text: str) -> str:
        """Clean one whole sentence from the segmenter and return it at once.

        The segment is taken to start a new line (the segmenter strips the whitespace between
        sentences), while block state persists: a code fence opened in one segment stays open
        until a later one closes it. Inline constructs are resolved within the segment, except
        emphasis, which the segmenter may cut (``**First. Second.**``): an opener still open
        at the end of a segment is removed when it starts words, and its closer in a later
        segment of the same paragraph is removed too. The carried emphasis ends where a
        segment starts a block (a list item, quote, heading, table row, rule or fence) and
        at a line break inside a segment.

        Returns:
            The clean text, stripped; empty when the segment was only markup (a rule, a
            dropped code block, a table delimiter row).
        """
        plain = self._plain_segment(text)
        if plain is not None:
            return plain
        if self._carry and _LIST_ITEM(text):
            self._carry.clear()
        if text:
            self._process(text)
        # Only a segment that ends in paragraph text carries its open emphasis on.
        carrying = self._carrying = self._mode == M_TEXT
        self._end_line()
        self._carrying = False
        if not carrying:
            self._carry.clear()
        self._fast = False
        out = "".join(self._out).strip()
        self._out.clear()
        return out

    # -- driver ---------------------------------------------------------------------------

    def _plain_segment(self, text: str) -> str | None:
        """The clean form of a segment of plain prose, or ``None`` if it needs the full path.

        Plain means: the cleaner is at rest (at a line start, no fence open, no emphasis
        carried in) and the segment holds no markdown character or line break and starts no
        block. The full path would copy it unchanged and come back to this same state, so it
        is skipped: that is most sentences of a voice reply.
        """
        if (
            not text
            or text[0] in _BLOCK_START
            or self._mode != M_START
            or self._carry
            or self._buf
            or self._special(text) is not None
        ):
            return None
        self._nl_run = 0
        self._fast = False
        return text.strip()

    def _take(self) -> list[str]:
        out = self._out
        if not out:
            return []
        text = "".join(out)
        out.clear()
        return [text] if text else []

    def _take_holding(self) -> list[str]:
        # With emoji removed, a final space is held: an emoji may come next, and then
        # punctuation that takes the space back ("world 👨‍💻!" is said "world!").
        taken = self._take()
        if not taken or taken[0][-1] != " ":
            return taken
        self._out.append(" ")
        self._fast = False
        text = taken[0][:-1]
        return [text] if text else []


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
