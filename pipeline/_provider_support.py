"""What each provider accepts of the request's optional fields: one table, read by validation.

A provider's codec maps the fields its row allows; validation refuses, before any I/O, a field
that a provider's row does not allow (naming the provider) and a value past its limits. Adding
or changing a provider means editing its row here, not the validation rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._types import CompletionsProvider

OPTIONAL_FIELDS = ("top_p", "stop", "seed")
"""The request fields that a provider may not support; each is ``None`` when not set."""


@dataclass(frozen=True, slots=True)
class RequestSupport:
    """One provider's limits on the request's generic fields.

    Attributes:
        temperature: The lowest and highest temperature the provider accepts.
        unsupported: Names from :data:`OPTIONAL_FIELDS` that the provider has no parameter for.
        max_stop_sequences: How many stop sequences it takes; ``None`` when its documentation
            sets no limit.
    """

    temperature: tuple[float, float]
    unsupported: frozenset[str] = frozenset()
    max_stop_sequences: int | None = None


_P = CompletionsProvider

REQUEST_SUPPORT: Mapping[CompletionsProvider, RequestSupport] = {
    # Chat Completions: "up to 4 sequences" for ``stop``; ``seed`` and ``top_p`` as named.
    _P.OPENAI: RequestSupport(temperature=(0.0, 2.0), max_stop_sequences=4),
    # Messages API: ``stop_sequences`` without a documented count, ``top_p``, and no seed.
    _P.ANTHROPIC: RequestSupport(temperature=(0.0, 1.0), unsupported=frozenset({"seed"})),
    # generationConfig: ``stopSequences`` takes at most 5, ``topP``, ``seed``.
    _P.GOOGLE: RequestSupport(temperature=(0.0, 2.0), max_stop_sequences=5),
    _P.ANTHROPIC_VERTEX: RequestSupport(temperature=(0.0, 1.0), unsupported=frozenset({"seed"})),
    # DashScope's OpenAI-compatible mode follows OpenAI's limit of 4 stop sequences.
    _P.ALIBABA: RequestSupport(temperature=(0.0, 2.0), max_stop_sequences=4),
}
TOP_P_RANGE = (0.0, 1.0)
