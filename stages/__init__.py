"""Sans-IO stage cores: ``feed(item) -> list``, ``flush() -> list``; no I/O, no clock, no awaits.

Only ``pipeline`` is the documented import surface; these are importable for use on their own.
"""

from __future__ import annotations

from .aggregator import ResponseAggregator as ResponseAggregator
from .markdown import MarkdownCleaner as MarkdownCleaner
from .markdown import clean_markdown as clean_markdown
from .sentences import SentenceSegmenter as SentenceSegmenter
from .sse import SSEDecoder as SSEDecoder
from .sse import SSEEvent as SSEEvent
from .tool_calls import ToolCallAssembler as ToolCallAssembler

__all__ = (
    "MarkdownCleaner",
    "ResponseAggregator",
    "SSEDecoder",
    "SSEEvent",
    "SentenceSegmenter",
    "ToolCallAssembler",
    "clean_markdown",
)
