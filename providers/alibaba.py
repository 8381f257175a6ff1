"""Qwen through DashScope's OpenAI-compatible mode: the OpenAI codec with its own settings.

DashScope streams ``reasoning_content`` before ``content`` and repeats ``"id": ""`` on tool-call
continuation fragments; the OpenAI stream decoder already handles both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline._types import CompletionsProvider

from .openai import OpenAICodec, OpenAICompatibleSettings

SINGAPORE = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
VIRGINIA = "https://dashscope-us.aliyuncs.com/compatible-mode/v1"
BEIJING = "https://dashscope.aliyuncs.com/compatible-mode/v1"


def _dashscope_extras(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    # DashScope takes its extensions as plain top-level body fields.
    return {k: kwargs[k] for k in ("enable_search",) if k in kwargs}


DASHSCOPE = OpenAICompatibleSettings(
    provider=CompletionsProvider.ALIBABA,
    api_key_env="DASHSCOPE_API_KEY",
    default_base_url=SINGAPORE,
    base_url_env="DASHSCOPE_BASE_URL",
    reasoning_models=False,
    extra_body=_dashscope_extras,
)


def alibaba_codec() -> OpenAICodec:
    """The codec for Qwen models on DashScope."""
    return OpenAICodec(DASHSCOPE)
