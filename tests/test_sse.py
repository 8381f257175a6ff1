"""SSE framing: line ends, multi-line data, comments, UTF-8 across reads, size bound."""

from __future__ import annotations

import itertools
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import ProtocolError
from pipeline._core import PoisonedCoreError
from stages.sse import SSEDecoder, SSEEvent


def events(*pieces: bytes, **options: int) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder(**options)  # type: ignore[arg-type]
    out = [event for piece in pieces for event in decoder.feed(piece)] + decoder.flush()
    return [(event.event, event.data) for event in out]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_every_line_end(end: bytes) -> None:
    body = b"event: a" + end + b"data: 1" + end + end + b"data: 2" + end + end
    assert events(body) == [("a", "1"), (None, "2")]


def test_crlf_split_between_reads_is_one_line_end() -> None:
    assert events(b"data: 1\r", b"\n\r", b"\ndata: 2\r\n\r\n") == [(None, "1"), (None, "2")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert events(b"data: a\ndata:b\ndata:  c\n\n") == [(None, "a\nb\n c")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    assert events(b": keep-alive\nretry: 10\nfoo: bar\ndata: x\n\n") == [(None, "x")]


def test_blank_line_without_data_dispatches_nothing() -> None:
    assert events(b"event: ping\n\n\n\ndata: x\n\n") == [(None, "x")]


def test_utf8_split_inside_a_character() -> None:
    body = "data: 今日は\n\n".encode()
    pieces = [body[i : i + 1] for i in range(len(body))]
    assert events(*pieces) == [(None, "今日は")]


def test_last_event_without_blank_line_is_flushed() -> None:
    assert events(b"event: message_stop\ndata: {}") == [("message_stop", "{}")]


def test_offsets_point_at_the_first_line_of_each_event() -> None:
    decoder = SSEDecoder()
    out = decoder.feed(b"data: a\n\n: c\nevent: e\ndata: b\n\n")
    assert [event.offset for event in out] == [0, 13]
    assert out[1] == SSEEvent("b", "e", None, 13)


def test_id_field_is_kept() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 7\ndata: x\n\n")[0].id == "7"


def test_overlong_line_is_a_protocol_error_with_offset() -> None:
    decoder = SSEDecoder(max_line_bytes=16)
    decoder.feed(b"data: ok\n\n")
    with pytest.raises(ProtocolError) as info:
        decoder.feed(b"data: " + b"x" * 40)
    assert info.value.offset == 10
    with pytest.raises(PoisonedCoreError):
        decoder.feed(b"\n\n")


def test_overlong_event_across_many_lines_is_a_protocol_error() -> None:
    decoder = SSEDecoder(max_line_bytes=16)
    with pytest.raises(ProtocolError, match="event data longer"):
        decoder.feed(b"data: 0123456789\ndata: 0123456789\n")


def test_invalid_utf8_names_the_offset() -> None:
    with pytest.raises(ProtocolError) as info:
        SSEDecoder().feed(b"data: ok\n\ndata: \xff\n\n")
    assert info.value.offset == 16


@given(
    st.lists(
        st.tuples(st.sampled_from([None, "a", "message_start"]), st.text(min_size=1)),
        max_size=8,
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.lists(st.integers(0, 2000), max_size=20),
)
def test_any_split_gives_the_same_events(
    sent: list[tuple[str | None, str]], end: str, cuts: list[int]
) -> None:
    # Newlines inside data become separate data lines, joined back with "\n" on dispatch.
    sent = [(name, text.replace("\r\n", "\n").replace("\r", "\n")) for name, text in sent]
    body = "".join(
        (f"event: {name}{end}" if name else "")
        + "".join(f"data: {line}{end}" for line in text.split("\n"))
        + end
        for name, text in sent
    ).encode()
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    pieces = [body[a:b] for a, b in itertools.pairwise(points)]
    assert events(*pieces) == events(body) == sent


# ---------------------------------------------------------------- linear cost of long lines


def _peak_allocation_per_read(decoder: SSEDecoder, pieces: list[bytes]) -> list[int]:
    """Bytes allocated at the peak of each ``feed``, above what was held before it.

    tracemalloc counts allocations, not time: the figure is the same on a busy machine.
    """
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    peaks = []
    try:
        for piece in pieces:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            decoder.feed(piece)
            _, peak = tracemalloc.get_traced_memory()
            peaks.append(peak - before)
    finally:
        if started:
            tracemalloc.stop()
    return peaks


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
def test_a_long_line_costs_each_read_only_its_own_bytes(line_end: bytes) -> None:
    # Re-joining (or re-splitting) the whole pending line on every read copies it once per
    # read: 64 reads of a 4 MB line then allocate a 4 MB buffer per read, quadratic in all.
    read = 64 * 1024
    body = b"data: " + b"x" * (64 * read) + line_end + line_end
    pieces = [body[i : i + read] for i in range(0, len(body), read)]
    decoder = SSEDecoder()
    peaks = _peak_allocation_per_read(decoder, pieces[:-1])
    # Each read may copy its own bytes a couple of times; none may copy what came before.
    assert max(peaks) < 3 * read, peaks
    out = decoder.feed(pieces[-1]) + decoder.flush()
    assert [len(event.data) for event in out] == [64 * read]


def test_a_long_line_within_one_read_among_short_ones_is_linear_too() -> None:
    # Many short lines after a long pending one: each line end is found once, not by
    # rescanning the pending bytes.
    decoder = SSEDecoder()
    decoder.feed(b"data: " + b"y" * 1_000_000)
    peaks = _peak_allocation_per_read(decoder, [b"y" * 1000] * 50)
    assert max(peaks) < 3 * 1000 + 4096, peaks
    assert [len(e.data) for e in decoder.feed(b"\n\n")] == [1_050_000]


def _outcome(pieces: list[bytes]) -> tuple[list[SSEEvent], tuple[str, int | None] | None]:
    decoder = SSEDecoder()
    out: list[SSEEvent] = []
    try:
        for piece in pieces:
            out += decoder.feed(piece)
        out += decoder.flush()
    except ProtocolError as exc:
        return out, (str(exc), exc.offset)
    return out, None


_SSE_WORDS = (
    [b"data", b"event", b"id", b":", b": ", b" ", b"x", b"\n", b"\r", b"\r\n", b"\n\n"],
    # "é" and "今" (the cuts split them), an invalid byte, a NUL (an id holding one is ignored)
    [b"\xc3\xa9", b"\xe4\xbb\x8a", b"\xff", b"\x00"],
)
_SSE_BYTES = st.lists(st.sampled_from([w for words in _SSE_WORDS for w in words]), max_size=60).map(
    b"".join
)


@given(_SSE_BYTES, st.lists(st.integers(0, 400), max_size=12))
def test_any_split_gives_the_same_events_offsets_and_errors(body: bytes, cuts: list[int]) -> None:
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    pieces = [body[a:b] for a, b in itertools.pairwise(points)]
    whole_events, whole_error = _outcome([body])
    split_events, split_error = _outcome(pieces)
    assert split_error == whole_error
    if whole_error is None:
        assert split_events == whole_events  # data, event name, id and byte offset
