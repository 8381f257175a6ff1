"""Request dicts shared by the validation-style tests."""

from __future__ import annotations

from typing import Any


def minimal_request(**changes: Any) -> dict[str, Any]:
    """The smallest valid request dict (no key: the environment supplies one), then ``changes``."""
    return {
        "provider": "openai",
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
    } | changes
