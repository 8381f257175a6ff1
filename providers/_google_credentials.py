"""Service-account credentials from ``GOOGLE_APPLICATION_CREDENTIALS``, as Google's clients do.

When a request gives no ``service_account_credentials``, the key file named by the variable is
read (and parsed once per file version: its path, size and modification time). Only
service-account keys are supported; another kind of credentials file (an ``authorized_user``
from ``gcloud auth application-default login``, say) is refused by name. Errors name the
variable and the file, never its content.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from pipeline._errors import ConfigurationError

ENV_VAR = "GOOGLE_APPLICATION_CREDENTIALS"


def credentials_from_environment() -> dict[str, Any] | None:
    """The service-account key the environment names, or None when the variable is unset.

    Raises:
        ConfigurationError: the file cannot be read, is not JSON, or is not a
            service-account key.
    """
    path = os.environ.get(ENV_VAR)
    if not path:
        return None
    try:
        status = os.stat(path)
    except OSError as exc:
        raise ConfigurationError(
            f"{ENV_VAR} names {path!r}, which cannot be read: {exc.strerror}"
        ) from None
    return _read(path, status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read(path: str, size: int, modified: int) -> dict[str, Any]:
    # size and modified are part of the cache key: a rotated key file is read again.
    try:
        with open(path, encoding="utf-8") as file:
            parsed = json.load(file)
    except OSError as exc:
        raise ConfigurationError(
            f"{ENV_VAR} names {path!r}, which cannot be read: {exc.strerror}"
        ) from None
    except ValueError:  # the content is a secret: never quoted
        raise ConfigurationError(
            f"{ENV_VAR} names {path!r}, which is not a JSON key file"
        ) from None
    kind = parsed.get("type") if isinstance(parsed, dict) else None
    if not isinstance(parsed, dict) or kind != "service_account":
        raise ConfigurationError(
            f"{ENV_VAR} names {path!r}, whose credentials are of type {kind!r}: only "
            "service-account keys are supported (create one in the Cloud console, or pass "
            "service_account_credentials)"
        )
    return parsed
