"""Qwen through DashScope's OpenAI-compatible mode: the OpenAI codec with its own settings.

DashScope streams ``reasoning_content`` before ``content`` and repeats ``"id": ""`` on tool-call
continuation fragments; the OpenAI stream decoder already handles both. Its extensions
(``enable_search``, ``enable_thinking``, ``thinking_budget``, ``parallel_tool_calls``) are plain
top-level body fields.

Thinking: DashScope answers HTTP 400 to ``enable_thinking: true`` without streaming. Rather than
send a request that must fail, or stream under the hood behind the caller's back, the codec
refuses it in ``build_request(stream=False)``, which runs before any I/O: a
``RequestValidationError`` naming ``provider_kwargs.alibaba.enable_thinking`` and asking for
``generate_chat_completion_stream``. The reasoning is exposed as ``message.reasoning`` and never
sent back, to DashScope (which takes no reasoning input) or to anyone else.
"""

from __future__ import annotations

from pipeline._types import CompletionsProvider

from .openai import OpenAICodec, OpenAICompatibleSettings

SINGAPORE = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
VIRGINIA = "https://dashscope-us.aliyuncs.com/compatible-mode/v1"
BEIJING = "https://dashscope.aliyuncs.com/compatible-mode/v1"

DASHSCOPE = OpenAICompatibleSettings(
    provider=CompletionsProvider.ALIBABA,
    api_key_env="DASHSCOPE_API_KEY",
    default_base_url=SINGAPORE,
    base_url_env="DASHSCOPE_BASE_URL",
    reasoning_models=False,
    body_options=("enable_search", "enable_thinking", "thinking_budget", "parallel_tool_calls"),
    stream_only_flags=("enable_thinking",),
)


def alibaba_codec() -> OpenAICodec:
    """The codec for Qwen models on DashScope."""
    return OpenAICodec(DASHSCOPE)
