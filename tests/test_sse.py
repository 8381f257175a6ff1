"""SSE framing: line ends, multi-line data, comments, UTF-8 across reads, size bound."""

from __future__ import annotations

import itertools

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
