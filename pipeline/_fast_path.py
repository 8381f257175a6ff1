"""A fused fast path for the event most of a stream is made of: one plain content delta.

Most of a streamed body is events of one shape, one per token or two: an OpenAI (or DashScope)
``choices[0].delta.content``, an Anthropic ``text_delta``, a Gemini chunk with one text part.
For those, :class:`FastDeltaCore` skips the SSE framing core, the generic JSON decode and the
event chain: it finds the event's bounds in the block with ``bytes.find``, lets the provider
decoder's :class:`PlainTextLane` decode the payload (msgspec into Struct types built once per
process: about 0.4 µs for a recorded delta, against 0.7 µs for orjson to a dict and 2.9 µs for
``json.loads``) and appends the public chunk itself, after telling the progress watch and the
aggregator what the full cores would have told them.

Everything else goes to the full cores, in order and unchanged: the bytes up to the end of the
next event (or the rest of the block, when it holds no event end) are fed to them as they are.
That covers tool calls, reasoning, refusals, finish reasons, usage-only events, errors,
unexpected field types, comments, ``id:`` lines, multi-line data, ``\\r`` line ends, terminal
events, bytes that are not UTF-8, and an event cut by a block boundary. The fast path only runs
where the full cores are between events (the SSE decoder holds nothing) and never after a core
failed; the lane itself refuses an event its decoder's state would treat differently (before
the response started, after its end, for a block that is not text). A plain delta then changes
no core's state but the decoder's (as the lane applies it), the watch's and the aggregator's,
so both paths give the same chunks, the same final response and the same first error at the
same byte offset. ``tests/test_fast_path.py`` checks it on every recorded stream and on random
ones, whole and split at random.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from stages.aggregator import ResponseAggregator
from stages.sse import SSEDecoder

from ._core import FusedCore, StageCore
from ._types import AssistantMessageDeltaChunk


@runtime_checkable
class PlainTextLane(Protocol):
    """A provider stream decoder's fast lane for its plain content deltas."""

    def plain_text(self, data: bytes, /) -> str | None:
        """The text of one event's JSON payload ``data``, if it is a plain content delta.

        Plain means: in the decoder's current state, ``feed`` would turn this event into
        one ``TextDelta`` of choice 0, or into nothing (the text is then ``""``). The lane then
        makes every change to the decoder's state that ``feed`` would have made. For any other
        event it returns ``None`` and changes nothing.
        """
        ...


_DATA = b"data: {"
_EVENT = b"event:"
_PAYLOAD_START = len(b"data: ")
_CR = ord("\r")
_LF, _CRLF = b"\n", b"\r\n"
_BLANK = (b"\n\n", b"\r\n\r\n")
# A line end right after another, in any of the three forms, makes a blank line.
_ANY_BLANK = (b"\n\n", b"\r\r", b"\n\r")
_LINE_BREAKS = (b"\n", b"\r")


class FastDeltaCore:
    """The full stream cores with the fast path in front of them. See the module docstring.

    Feed it body blocks like the :class:`~pipeline._core.FusedCore` of ``cores``; it has the
    same ``feed_partial``/``flush_partial`` contract (output before a failure is kept).

    While the cores are ready (between events, nothing failed), a block is split on its blank
    lines at once and its whole events are taken in order: plain deltas here, any other event
    by the full cores, with the fast path's effects settled first so every core sees the stream
    in order. The unfinished event at the block's end, if it could be a plain delta, is held
    here, not given to the SSE decoder, so that it can take the fast path once the next block
    completes it: no event is complete before its blank line, so holding it delays nothing.
    Past :data:`HELD_LIMIT` bytes (a long line) it goes to the SSE decoder, linear in it.
    """

    __slots__ = ("_aggregator", "_full", "_held", "_lane", "_ready", "_sse", "_watch")

    def __init__(
        self,
        cores: list[StageCore[Any, Any]],
        *,
        sse: SSEDecoder,
        lane: PlainTextLane,
        watch: Any,
        aggregator: ResponseAggregator,
    ) -> None:
        """Wrap ``cores`` (``stream_chain``'s list, with ``sse``, ``lane``, ``watch`` in it)."""
        self._full = FusedCore(cores)
        self._sse, self._lane, self._watch, self._aggregator = sse, lane, watch, aggregator
        self._ready = False  # the first event always takes the full path: it starts the response
        self._held = b""

    @property
    def cores(self) -> tuple[StageCore[Any, Any], ...]:
        return self._full.cores

    def feed(self, block: bytes, /) -> list[Any]:
        output, error = self.feed_partial(block)
        if error is not None:
            raise error
        return output

    def flush(self) -> list[Any]:
        output, error = self.flush_partial()
        if error is not None:
            raise error
        return output

    def flush_partial(self) -> tuple[list[Any], Exception | None]:
        out: list[Any] = []
        held, self._held = self._held, b""
        if held:
            produced, error = self._full.feed_partial(held)
            out += produced
            if error is not None:
                return out, error
        produced, error = self._full.flush_partial()
        return out + produced, error

    def feed_partial(self, block: bytes, /) -> tuple[list[Any], Exception | None]:
        if self._held:
            block, self._held = self._held + block, b""
        out: list[Any] = []
        size = len(block)
        position = 0
        while position < size:
            if self._ready:
                position, error = self._run(block, position, out)
            else:
                stop = _event_end(block, position)
                error = self._feed_full(block, position, stop, out)
                position = stop
            if error is not None:
                return out, error
        return out, None

    def _run(self, block: bytes, start: int, out: list[Any]) -> tuple[int, Exception | None]:
        """Take the block's events from ``start`` while the cores stay ready.

        Returns the offset reached and the error of a full-path event, if one failed.
        """
        newline = block.find(b"\n", start)
        if newline < 0:
            return self._hold(block, start, out)
        eol = _CRLF if block[newline - 1] == _CR else _LF
        blank = eol + eol
        pieces = (block[start:] if start else block).split(blank)
        pieces.pop()  # what follows the last blank line: not a whole event
        plain = self._lane.plain_text
        texts: list[str] = []
        taken = 0  # bytes of plain events not yet settled
        position = start
        for event in pieces:
            text: str | None = None
            data = event
            if event.startswith(_EVENT):
                # ``event: name`` then the data line (Anthropic): the decoders read the type
                # from the payload, so the name needs no check.
                cut = event.find(eol)
                data = event[cut + len(eol) :] if cut >= 0 and b"\r" not in event[:cut] else b""
            if data.startswith(_DATA) and b"\n" not in data and b"\r" not in data:
                text = plain(data[_PAYLOAD_START:])
            stop = position + len(event) + len(blank)
            if text is not None:
                taken += stop - position
                position = stop
                if text:
                    texts.append(text)
                    out.append(AssistantMessageDeltaChunk(text))
                continue
            # Another event: what the fast path took goes first, then the full cores take it.
            self._settle(texts, taken)
            texts, taken = [], 0
            error = self._feed_full(block, position, stop, out)
            position = stop
            if error is not None or not self._ready:
                return position, error
        self._settle(texts, taken)
        return self._hold(block, position, out)

    def _settle(self, texts: list[str], taken: int) -> None:
        """Tell the cores what the fast path's plain deltas would have told them."""
        if taken:
            self._sse.skip(taken)
        if texts:
            # A TextDelta of choice 0 commits the attempt (the watch), passes the tool-call
            # assembler untouched and is recorded by the aggregator; a run's text at once.
            self._watch.seen = True
            self._aggregator.add_text("".join(texts))

    def _hold(self, block: bytes, start: int, out: list[Any]) -> tuple[int, Exception | None]:
        """Keep the unfinished event from ``start`` for the next block (see the class doc)."""
        size = len(block)
        tail = block[start:]
        takeable = tail.startswith(_DATA) or tail.startswith(_EVENT)
        # With JSON gathered line by line, any line the tail ends may dispatch at once.
        breaks = _LINE_BREAKS if self._sse.raw_json_lines else _ANY_BLANK
        if not takeable or size - start > HELD_LIMIT or any(mark in tail for mark in breaks):
            # Not an event the fast path could take (JSON lines the framing core gathers
            # itself, a comment), a long line, or complete after all (its line ends differ
            # from the block's first ones): the full cores take it now.
            return size, self._feed_full(block, start, size, out)
        self._held = tail
        return size, None

    def _feed_full(self, block: bytes, start: int, stop: int, out: list[Any]) -> Exception | None:
        produced, error = self._full.feed_partial(
            block if start == 0 and stop == len(block) else block[start:stop]
        )
        out += produced
        self._ready = error is None and self._sse.idle
        return error


HELD_LIMIT = 64 * 1024
"""Bytes of an unfinished event the fast path holds back; a longer one goes to the SSE core."""


def _event_end(block: bytes, start: int) -> int:
    """The offset after the first event that ends in ``block`` from ``start``, else its size.

    A blank line ends an event; its two usual forms are looked for (``\\n\\n``, ``\\r\\n\\r\\n``).
    With other line ends the rest of the block goes to the full cores at once.
    """
    ends = [end + len(blank) for blank in _BLANK if (end := block.find(blank, start)) >= 0]
    return min(ends) if ends else len(block)


def stream_core(
    cores: list[StageCore[Any, Any]], *, watch: Any, aggregator: ResponseAggregator
) -> FusedCore | FastDeltaCore:
    """The fused ``cores`` of a streamed body, with the fast path when the decoder has a lane.

    ``cores`` is ``stream_chain``'s list: the SSE decoder first, the provider decoder second.
    """
    sse, decoder = cores[0], cores[1]
    if isinstance(sse, SSEDecoder) and isinstance(decoder, PlainTextLane):
        return FastDeltaCore(cores, sse=sse, lane=decoder, watch=watch, aggregator=aggregator)
    return FusedCore(cores)
