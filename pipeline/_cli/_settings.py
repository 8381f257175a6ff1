"""What the CLI knows about each provider: default model and the environment it reads.

Checked against the codecs in ``providers/`` (the variables are read there, per request).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """One provider as the CLI presents it.

    Attributes:
        name: The request's ``provider`` value.
        speaks: The API it speaks.
        default_model: The model ``chat`` uses without ``--model``.
        key_variables: Variables holding the key, in the order they are tried.
        base_url_variable: The variable that replaces the default endpoint, if any.
        default_base_url: Where requests go without ``base_url`` or the variable.
        other_variables: Further variables it reads.
        credentials: How it authenticates, in words.
    """

    name: str
    speaks: str
    default_model: str
    key_variables: tuple[str, ...]
    base_url_variable: str | None
    default_base_url: str
    other_variables: tuple[str, ...] = ()
    credentials: str = "API key"


PROVIDERS: dict[str, ProviderInfo] = {
    info.name: info
    for info in (
        ProviderInfo(
            "openai", "Chat Completions", "gpt-4o-mini", ("OPENAI_API_KEY",),
            "OPENAI_BASE_URL", "https://api.openai.com/v1",
        ),
        ProviderInfo(
            "anthropic", "Messages API", "claude-sonnet-4-5", ("ANTHROPIC_API_KEY",),
            "ANTHROPIC_BASE_URL", "https://api.anthropic.com",
        ),
        ProviderInfo(
            "google", "Gemini API", "gemini-2.5-flash", ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
            "GOOGLE_GEMINI_BASE_URL", "https://generativelanguage.googleapis.com",
        ),
        ProviderInfo(
            "anthropic_vertex", "Messages API on Vertex AI", "claude-sonnet-4-5", (), None,
            "https://aiplatform.googleapis.com/v1 (region global), else https://{region}-aiplatform.googleapis.com/v1",
            other_variables=("ANTHROPIC_VERTEX_PROJECT_ID", "CLOUD_ML_REGION"),
            credentials="service-account JSON in provider_kwargs (chat: --credentials FILE)",
        ),
        ProviderInfo(
            "alibaba", "DashScope (OpenAI-compatible)", "qwen-plus", ("DASHSCOPE_API_KEY",),
            "DASHSCOPE_BASE_URL", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        ),
    )
}  # fmt: skip
