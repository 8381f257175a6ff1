"""Keeping secrets out of reprs, messages and logs.

A secret is shown at most as its first three and last four characters (``'sk-…1234'``), and
only when it is long enough that this reveals nothing useful; service-account credentials are
never shown at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Keys inside provider kwargs whose values must never be printed.
SECRET_KWARGS = frozenset({"service_account_credentials", "api_key", "access_token"})


def redact(secret: str | None) -> str:
    """Return a printable stand-in for ``secret``."""
    if secret is None:
        return "None"
    if len(secret) < 16:
        return "'…'"
    return f"'{secret[:3]}…{secret[-4:]}'"


def redact_provider_kwargs(kwargs: Mapping[str, Any] | None) -> str:
    """Repr of a ``ProviderKwargs`` mapping with every secret value replaced."""
    if kwargs is None:
        return "None"
    parts = []
    for provider, options in kwargs.items():
        if isinstance(options, Mapping):
            inner = ", ".join(
                f"{key!r}: {'<redacted>' if key in SECRET_KWARGS else repr(value)}"
                for key, value in options.items()
            )
            parts.append(f"{provider!r}: {{{inner}}}")
        else:
            parts.append(f"{provider!r}: {options!r}")
    return "{" + ", ".join(parts) + "}"
