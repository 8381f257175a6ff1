"""Text cleaning applied to each sentence as it is emitted: marks a listener should not hear.

The segmenter decides boundaries on the text as written; this module only tidies the text of a
sentence once its boundaries are fixed, so a rule here never moves a boundary and costs one
regex search per sentence when there is nothing to clean. The rules:

- a line break right before a lone ``.`` ``,`` ``;`` ``:`` ``!`` or ``?`` is dropped, so the
  mark joins the word it ends ("pricing\\n." is "pricing.");
- a dot leader with its page number ("About Me......5", "Score .... 16-17") is dropped at the
  end of a sentence, and a run of five or more dots between two words becomes one space;
- a run of four or more of the same separator character (``/ _ = ~ * # + -``), as in ruled
  lines and banners, is dropped;
- a literal ``\\n``, ``\\r`` or ``\\r\\n`` escape standing alone between spaces (a reply that
  double-escaped its line breaks) is dropped.

A sentence that cleaning leaves empty is not emitted.
"""

from __future__ import annotations

import re

__all__ = ("clean_sentence",)

_BREAK_BEFORE_MARK = re.compile(r"[ \t]*[\r\n]\s*(?=[.,;:!?](?:\s|$))")
_DOT_LEADER = re.compile(r"\s*\.{4,}\s*\d+(?:\s*[-–]\s*\d+)?\s*$")
_DOT_RUN = re.compile(r"(?<=\w)\.{5,}(?=\w)")
_SEPARATOR_CHAR = re.compile(r"[/_=~*#+]").search
_SEPARATOR = re.compile(r"([/_=~*#+-])\1{3,}")
_LITERAL_BREAK = re.compile(r"(?:(?<=\s)|^)(?:\\r\\n|\\n|\\r)+(?=\s|$)")


def clean_sentence(text: str) -> str:
    """Return ``text`` without the marks listed in the module docstring."""
    # Each rule runs only when a cheap test finds its mark: most sentences hold none.
    if "\n" in text or "\r" in text:
        text = _BREAK_BEFORE_MARK.sub("", text)
    if "...." in text:
        text = _DOT_RUN.sub(" ", _DOT_LEADER.sub("", text))
    if "----" in text or _SEPARATOR_CHAR(text) is not None:
        text = _SEPARATOR.sub("", text)
    if "\\" in text:
        text = _LITERAL_BREAK.sub("", text)
    return text
