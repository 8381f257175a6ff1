"""The registry of wire formats the server speaks, and the base URL of each provider.

To add a provider: write one module implementing :class:`~._wire.WireFormat`, add an instance to
``FORMATS`` and its base-URL suffix to ``BASE_PATHS``.
"""

from __future__ import annotations

from ._anthropic_wire import AnthropicFormat
from ._gemini_wire import GeminiFormat
from ._openai_wire import OpenAIFormat
from ._wire import WireFormat

__all__ = ("BASE_PATHS", "FORMATS", "find_format")

FORMATS: tuple[WireFormat, ...] = (OpenAIFormat(), AnthropicFormat(), GeminiFormat())
"""Tried in order; the first whose ``matches(path)`` is true answers."""

BASE_PATHS: dict[str, str] = {
    # The client appends its normal path to these, exactly as to the real base URL.
    "openai": "/v1",  # + /chat/completions
    "alibaba": "/compatible-mode/v1",  # + /chat/completions (DashScope compatible mode)
    "anthropic": "",  # + /v1/messages
    # + /projects/{p}/locations/{r}/publishers/anthropic/models/{m}:streamRawPredict
    "anthropic_vertex": "/v1",
    "google": "",  # + /v1beta/models/{m}:streamGenerateContent?alt=sse
}
"""Per provider: what follows the scenario prefix in a base URL."""


def find_format(path: str) -> WireFormat | None:
    """The format that answers ``path`` (the part after any scenario prefix), if any."""
    for fmt in FORMATS:
        if fmt.matches(path):
            return fmt
    return None
