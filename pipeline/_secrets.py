"""Keeping secrets out of reprs, messages and logs.

A secret is shown at most as its first three and last four characters (``'sk-…1234'``), and
only when it is long enough that this reveals nothing useful; service-account credentials are
never shown at all.

Secrets are found two ways: by the name they sit under (``api_key``, ``authorization``, ...),
and, for a value that arrives where no secret was expected (a key pasted into ``provider`` or
``model``), by its look: a well-known key prefix, or a long random-looking token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Request fields and provider kwargs whose values are never shown, not even in an error.
SECRET_KWARGS = frozenset({"service_account_credentials", "api_key", "access_token"})

# HTTP headers (lower case) that carry a provider credential.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})

# Names (compared in lower case) whose values are hidden wherever they sit in a repr.
SECRET_NAMES = (
    SECRET_KWARGS
    | SECRET_HEADERS
    | {
        "private_key",
        "client_secret",
        "refresh_token",
        "password",
        "secret",
        "token",
        "assertion",  # a signed JWT grant (Vertex service accounts): it buys a token
    }
)

# Prefixes of the keys and tokens of the supported providers (OpenAI, Anthropic and DashScope
# ``sk-``, Google ``AIza``, Google OAuth ``ya29.``, JWTs, PEM private keys).
_SECRET_PREFIXES = ("sk-", "sk_", "AIza", "ya29.", "eyJ", "-----BEGIN", "Bearer ")
_TOKEN_LENGTH = 32
_TOKEN = re.compile(r"[A-Za-z0-9_\-.+/=:]{16,}")


def looks_like_secret(text: str) -> bool:
    """Whether ``text`` looks like a credential: a known key prefix, or a long random token.

    A long token is at least 32 characters with no whitespace that mixes upper case, lower
    case and digits, which tool names, model names and UUIDs do not.
    """
    if text.startswith(_SECRET_PREFIXES):
        return True
    return (
        len(text) >= _TOKEN_LENGTH
        and not any(c.isspace() for c in text)
        and any(c.isupper() for c in text)
        and any(c.islower() for c in text)
        and any(c.isdigit() for c in text)
    )


def is_header_safe(text: str) -> bool:
    """Whether ``text`` holds only printable ASCII without spaces, as a key in a header must.

    h11 refuses any other header value and quotes it whole in its error: the key would leak.
    """
    return all("!" <= c <= "~" for c in text)


def redact(secret: Any) -> str:
    """Return a printable stand-in for ``secret`` (any value: a mistyped one shows its type)."""
    if secret is None:
        return "None"
    if not isinstance(secret, str):
        return f"<{type(secret).__name__}>"
    if len(secret) < 16:
        return "'…'"
    return f"'{secret[:3]}…{secret[-4:]}'"


def scrub(text: str) -> str:
    """``text`` with every token that looks like a secret replaced by its redacted form."""
    return _TOKEN.sub(lambda m: redact(m[0]).strip("'") if looks_like_secret(m[0]) else m[0], text)


def safe_repr(value: Any) -> str:
    """``repr(value)`` with secrets hidden: values under secret names, and secret-like strings.

    Mappings, lists and tuples are walked to any depth, so a credential nested in
    ``provider_kwargs`` (or in a header dict passed through it) is hidden too.
    """
    if isinstance(value, str):
        return redact(value) if looks_like_secret(value) else repr(value)
    if isinstance(value, Mapping):
        inner = ", ".join(
            f"{safe_repr(key)}: "
            + (
                "<redacted>"
                if isinstance(key, str) and key.lower() in SECRET_NAMES
                else safe_repr(item)
            )
            for key, item in value.items()
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(safe_repr(item) for item in value) + "]"
    if isinstance(value, tuple):
        items = [safe_repr(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return repr(value)
