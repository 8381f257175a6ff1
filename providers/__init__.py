"""One codec per provider: request mapping, response decoding, error mapping. Pure, no I/O."""

from __future__ import annotations

from pipeline._errors import ConfigurationError
from pipeline._types import CompletionsProvider

from ._base import HTTPRequestSpec as HTTPRequestSpec
from ._base import ProviderCodec as ProviderCodec
from .alibaba import alibaba_codec
from .anthropic import anthropic_codec
from .anthropic_vertex import anthropic_vertex_codec
from .google import GoogleCodec
from .openai import OpenAICodec

__all__ = ("HTTPRequestSpec", "ProviderCodec", "codec_for")


def codec_for(provider: CompletionsProvider | str) -> ProviderCodec:
    """The codec for ``provider``; raises ConfigurationError for one not available here."""
    name = CompletionsProvider(provider)
    if name is CompletionsProvider.OPENAI:
        return OpenAICodec()
    if name is CompletionsProvider.ALIBABA:
        return alibaba_codec()
    if name is CompletionsProvider.GOOGLE:
        return GoogleCodec()
    if name is CompletionsProvider.ANTHROPIC:
        return anthropic_codec()
    if name is CompletionsProvider.ANTHROPIC_VERTEX:
        return anthropic_vertex_codec()
    raise ConfigurationError(f"provider {name.value!r} is not available in this version")
