"""Content decoding of a streamed body: raw bytes in, decoded bytes out.

Streams ask for ``accept-encoding: identity`` (a compressor holds tokens back to fill its
blocks), so this core only runs when a server compresses anyway. It is a core rather than
httpx's own decoding so that a broken body fails here, outside httpx's chain of body
generators, which then unwinds cleanly when the response is closed. ``gzip`` and ``deflate``
(zlib-wrapped or raw) are decoded with the standard library; any other coding is refused.
"""

from __future__ import annotations

import zlib

from pipeline._core import Poisonable, guarded
from pipeline._errors import ProtocolError

SUPPORTED = ("gzip", "x-gzip", "deflate")


class ContentDecoder(Poisonable):
    """Undo one ``content-encoding``; errors name the byte offset in the encoded body."""

    __slots__ = ("_coding", "_decompressor", "_offset", "_provider", "_started")

    def __init__(self, coding: str, *, provider: str = "unknown") -> None:
        super().__init__()
        coding = coding.strip().lower()
        if coding not in SUPPORTED:
            raise ProtocolError(
                f"{provider} sent content-encoding {coding!r}, which a stream does not accept "
                "(the request asked for identity)",
                provider=provider,
            )
        self._coding = coding
        self._provider = provider
        self._offset = 0
        self._started = False
        wbits = 16 + zlib.MAX_WBITS if coding != "deflate" else zlib.MAX_WBITS
        self._decompressor = zlib.decompressobj(wbits)

    @guarded
    def feed(self, data: bytes, /) -> list[bytes]:
        if not self._started and self._coding == "deflate" and data:
            self._started = True
            # "deflate" is meant to be zlib-wrapped; some servers send raw deflate.
            if data[0] & 0x0F != 8:
                self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            decoded = self._decompressor.decompress(data)
        except zlib.error as exc:
            raise ProtocolError(
                f"{self._provider} sent a {self._coding} body that cannot be decoded ({exc})",
                provider=self._provider,
                offset=self._offset,
            ) from None
        self._offset += len(data)
        return [decoded] if decoded else []

    @guarded
    def flush(self) -> list[bytes]:
        try:
            rest = self._decompressor.flush()
        except zlib.error as exc:  # pragma: no cover - flush of a decompressobj rarely fails
            raise ProtocolError(
                f"{self._provider} sent a truncated {self._coding} body ({exc})",
                provider=self._provider,
                offset=self._offset,
            ) from None
        if not self._decompressor.eof and self._offset:
            raise ProtocolError(
                f"{self._provider} sent a truncated {self._coding} body",
                provider=self._provider,
                offset=self._offset,
            )
        return [rest] if rest else []
