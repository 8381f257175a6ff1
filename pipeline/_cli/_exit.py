"""Exit codes, and the one place a library error becomes a line on stderr and a code."""

from __future__ import annotations

import sys
from typing import TextIO

from .._errors import (
    AllAttemptsFailedError,
    ConfigurationError,
    PipelineError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RequestValidationError,
)

OK = 0
FAILURE = 1
"""Anything else the library raised on purpose."""
USAGE = 2
"""Bad arguments or an invalid request (argparse uses 2 as well)."""
MISSING_KEY = 3
"""No API key (or token) in the environment, or a key that cannot be sent."""
UNKNOWN_PROVIDER = 4
UNREACHABLE = 5
"""The provider (or the server at --base-url) could not be reached."""
PROVIDER_ERROR = 6
"""The provider answered with an error (status, protocol, mid-stream error), or answered and
then fell silent past a time budget (no first token, an idle read)."""
INTERRUPTED = 130
"""Stopped with Ctrl-C (128 + SIGINT, the shell's convention)."""


def code_for(exc: PipelineError) -> int:
    """The exit code for a library error."""
    if isinstance(exc, AllAttemptsFailedError) and exc.errors:
        last = exc.errors[-1]
        return code_for(last) if isinstance(last, PipelineError) else FAILURE
    if isinstance(exc, ConfigurationError):
        return MISSING_KEY
    if isinstance(exc, RequestValidationError):
        return USAGE
    if isinstance(exc, ProviderTimeoutError) and exc.budget != "connect":
        return PROVIDER_ERROR  # it answered, then fell silent: reachable, but failing
    if isinstance(exc, ProviderConnectionError):
        return UNREACHABLE
    if isinstance(exc, ProviderError):
        return PROVIDER_ERROR
    return FAILURE


LABELS = {
    MISSING_KEY: "missing key",
    USAGE: "invalid request",
    UNREACHABLE: "provider unreachable",
    PROVIDER_ERROR: "provider error",
    FAILURE: "error",
}


def report(exc: PipelineError, err: TextIO | None = None) -> int:
    """Print ``error (<kind>): <message>`` and return the exit code."""
    code = code_for(exc)
    print(f"error ({LABELS[code]}): {exc}", file=err or sys.stderr)
    return code
