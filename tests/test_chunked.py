"""The bulk chunked-framing core: any split gives the same body; errors name byte offsets."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.chunked import MAX_LINE_BYTES, ChunkedDecoder, ChunkedFramingError


def frame(pieces: list[bytes], *, extension: bool = False, trailers: bool = False) -> bytes:
    ext = b";name=value" if extension else b""
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(p), ext, p) for p in pieces if p)
    return body + b"0\r\n" + (b"x-trailer: 1\r\n" if trailers else b"") + b"\r\n"


def decode_in(parts: list[bytes]) -> tuple[bytes, ChunkedDecoder]:
    decoder = ChunkedDecoder()
    return b"".join(decoder.feed(part) for part in parts), decoder


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.binary(max_size=40), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=20),
    extension=st.booleans(),
    trailers=st.booleans(),
    after=st.binary(max_size=5),
)
def test_any_split_gives_the_same_body(
    pieces: list[bytes], cuts: list[int], extension: bool, trailers: bool, after: bytes
) -> None:
    framed = frame(pieces, extension=extension, trailers=trailers)
    body, decoder = decode_in(split(framed + after, cuts))
    assert body == b"".join(pieces)
    assert decoder.finished
    assert decoder.extra == after


@settings(max_examples=100, deadline=None)
@given(pieces=st.lists(st.binary(min_size=1, max_size=30), min_size=1, max_size=8))
def test_agrees_with_h11(pieces: list[bytes]) -> None:
    """h11, the reference parser, reads the same payload from the same framing."""
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    framed = frame(pieces)
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(head + framed)
    reference = b""
    while not isinstance(event := client.next_event(), h11.EndOfMessage):
        if isinstance(event, h11.Data):
            reference += event.data
    assert decode_in([framed])[0] == reference


def test_bare_line_feeds_are_accepted() -> None:
    assert decode_in([b"3\nabc\n0\n\n"])[0] == b"abc"


def test_an_unfinished_body_is_not_finished() -> None:
    body, decoder = decode_in([b"5\r\nhel"])
    assert body == b"hel"
    assert not decoder.finished


@pytest.mark.parametrize(
    ("framed", "offset"),
    [
        (b"ZZ\r\nnot chunked", 0),
        (b"3\r\nabc\r\nQ\r\n", 8),
        (b"3\r\nabcX\r\n", 6),
        (b"3\r\nabc\r\n0\r\nno colon here\r\n\r\n", 11),
        (b"-1\r\n", 0),
    ],
)
def test_errors_name_the_byte_offset(framed: bytes, offset: int) -> None:
    decoder = ChunkedDecoder()
    with pytest.raises(ChunkedFramingError) as caught:
        for byte in range(len(framed)):  # one byte at a time: the offset must not drift
            decoder.feed(framed[byte : byte + 1])
    assert caught.value.offset == offset
    assert f"(at byte {offset})" in str(caught.value)


def test_a_size_line_without_end_is_bounded() -> None:
    decoder = ChunkedDecoder()
    with pytest.raises(ChunkedFramingError, match="too long"):
        decoder.feed(b"1" * (MAX_LINE_BYTES + 1))


def test_bytes_after_the_end_are_extra() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"0\r\n\r\nHTTP/1.1") == b""
    assert decoder.feed(b" 200") == b""
    assert decoder.extra == b"HTTP/1.1 200"
