"""Every exception the library raises, in one tree.

Whose fault it is decides where an error sits::

    PipelineError                       base of everything raised on purpose
    ├── RequestValidationError          the caller's request is malformed (ValueError too)
    ├── ConfigurationError              the environment is incomplete: no key, unknown provider
    ├── ProviderError                   the provider (or the way to it) failed
    │   ├── ProviderStatusError         an HTTP error status, with the provider's own message
    │   │   ├── AuthenticationError     401 / 403
    │   │   ├── RateLimitError          429
    │   │   └── ServerError             5xx and 529 overloaded
    │   ├── ProviderConnectionError     connect / read / write failed
    │   │   └── ProviderTimeoutError    a time budget expired; ``budget`` says which
    │   ├── ProtocolError               the provider sent data we cannot decode
    │   │   └── ToolCallArgumentsError  a tool call's arguments are not a JSON object
    │   └── AllAttemptsFailedError      attempts at several providers failed; holds each error

Errors raised before any I/O (validation, configuration) name the field path. Provider errors
carry ``provider``, ``status_code``, ``retryable``, ``retry_after`` and the provider's message;
none of them ever holds an API key: a key-like token in a message is redacted to ``sk-…1234``
when the error is made, and :meth:`PipelineError.redact` hides, by value, every secret the
call carried (a short key the provider echoed included) before the error leaves the attempt.
An error raised after some output was handed to the caller carries what was received so far as
``partial_response``. When every attempt failed, the error raised is the last one itself if
they all came from one provider (``except RateLimitError`` works after retries), else an
:class:`AllAttemptsFailedError`; either way ``attempts`` records what each attempt did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._secrets import redact_known, scrub

if TYPE_CHECKING:
    from ._secrets import KnownSecrets
    from ._types import AttemptRecord, ChatCompletionResponse


class PipelineError(Exception):
    """Base class of every error this library raises on purpose.

    Every error survives ``pickle`` and ``copy`` with all its attributes (a process pool or a
    task queue moves them between processes), without running ``__init__`` again.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, dict(self.__dict__)))

    def redact(self, secrets: KnownSecrets) -> None:
        """Hide every value of ``secrets`` in this error, the errors it holds and its causes.

        In place and idempotent: the message, ``str``, ``repr``, a pickle and a traceback
        then show stand-ins only (``sk-…1234``, or ``…`` for a short key).
        """
        redact_known(self, secrets)

    def redact_own_text(self, secrets: KnownSecrets) -> None:
        """Hide ``secrets`` in this error's own text only (:func:`redact_known` walks the rest)."""
        self.args = secrets.redact_args(self.args)


def _restore(cls: type[PipelineError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class RequestValidationError(PipelineError, ValueError):
    """The request (or a serialized conversation) is malformed: the caller's fault.

    ``problems`` lists every problem found, each as ``"<path>: <what is wrong>"``.
    """

    def __init__(self, problems: Sequence[str], *, subject: str = "request") -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        count = len(self.problems)
        header = f"invalid {subject}" if count == 1 else f"invalid {subject} ({count} problems)"
        super().__init__(header + ":\n  " + "\n  ".join(self.problems))


class ConfigurationError(PipelineError):
    """The environment does not allow the request: a missing API key, an unknown provider.

    A token in the message that looks like a key is redacted (``sk-…1234``).
    """

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


class ProviderError(PipelineError):
    """A provider, or the network on the way to it, failed to produce a response.

    Attributes:
        provider: The provider name (``"openai"``, ...).
        status_code: The HTTP status, or ``None`` when no response arrived.
        retryable: Whether the same request may succeed when sent again.
        retry_after: Seconds the provider asked us to wait, if it said.
        provider_message: The provider's own error message, verbatim but for the secrets of
            the call (a key it echoed), which :meth:`redact` hides.
        partial_response: What was received before the failure, if anything was handed on.
        attempts: What each attempt of the call did, in the order they started (empty until
            the call gives up).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        provider_message: str | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        # The message may quote a transport error, and h11 quotes a bad header value whole:
        # a token that looks like a key is redacted. ``provider_message`` stays verbatim until
        # :meth:`redact` hides the call's own secrets in it.
        super().__init__(scrub(message))
        self.provider = provider
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after
        self.provider_message = provider_message
        self.error_type = error_type
        self.error_code = error_code
        self.request_id = request_id
        self.partial_response: ChatCompletionResponse | None = None
        self.attempts: tuple[AttemptRecord, ...] = ()

    def redact_own_text(self, secrets: KnownSecrets) -> None:
        """Hide ``secrets`` in the message and in every field quoting the provider."""
        super().redact_own_text(secrets)
        for name in ("provider_message", "error_type", "error_code", "request_id"):
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, secrets.redact_text(value))

    def __str__(self) -> str:
        text = super().__str__()
        details = [f"provider={self.provider}"]
        if self.status_code is not None:
            details.append(f"status={self.status_code}")
        if self.error_type:
            details.append(f"type={self.error_type}")
        if self.error_code:
            details.append(f"code={self.error_code}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        if self.retry_after is not None:
            details.append(f"retry_after={self.retry_after:g}s")
        return f"{text} ({', '.join(details)})"


class ProviderStatusError(ProviderError):
    """The provider answered with an HTTP error status."""


class AuthenticationError(ProviderStatusError):
    """401 or 403: the key is wrong, expired, or lacks permission."""


class RateLimitError(ProviderStatusError):
    """429: too many requests, or (not retryable) the quota is exhausted."""


class ServerError(ProviderStatusError):
    """5xx, or 529 / a mid-stream ``overloaded_error``: the provider's side failed."""


class ProviderConnectionError(ProviderError):
    """The connection failed or timed out before a complete response arrived."""


class ProviderTimeoutError(ProviderConnectionError):
    """A time budget of one attempt expired; always retryable.

    ``budget`` names it: ``"connect"`` (opening the connection), ``"response head"`` (waiting
    for the status line), ``"idle read"`` (waiting for more of the body), ``"write"`` (sending
    the request) or ``"first token"`` (``first_token_timeout``: no content, tool-call or
    reasoning event in time).
    """

    def __init__(self, message: str, *, provider: str, budget: str) -> None:
        super().__init__(message, provider=provider, retryable=True)
        self.budget = budget


class ProtocolError(ProviderError):
    """The provider sent bytes or JSON we cannot decode.

    ``offset`` is the byte offset in the response body where the problem was found, when known.
    """

    def __init__(
        self, message: str, *, provider: str = "unknown", offset: int | None = None
    ) -> None:
        if offset is not None:
            message = f"{message} (at byte {offset})"
        super().__init__(message, provider=provider, retryable=False)
        self.offset = offset


class ToolCallArgumentsError(ProtocolError):
    """A completed tool call's arguments are not a JSON object; ``raw_arguments`` keeps them."""

    def __init__(
        self, message: str, *, provider: str = "unknown", tool_name: str, raw_arguments: str
    ) -> None:
        super().__init__(message, provider=provider)
        self.tool_name = tool_name
        self.raw_arguments = raw_arguments


class AllAttemptsFailedError(ProviderError):
    """Attempts at several providers failed; ``errors`` holds each one, in order.

    ``provider``, ``status_code`` and ``retry_after`` are the last attempt's. It is not
    ``retryable``: the whole plan was tried.
    """

    def __init__(self, errors: Sequence[BaseException]) -> None:
        self.errors: tuple[BaseException, ...] = tuple(errors)
        last = self.errors[-1] if self.errors else None
        lines = [f"  attempt {i}: {type(e).__name__}: {e}" for i, e in enumerate(self.errors, 1)]
        super().__init__(
            f"all {len(self.errors)} attempts failed:\n" + "\n".join(lines),
            provider=getattr(last, "provider", "unknown"),
            status_code=getattr(last, "status_code", None),
            retry_after=getattr(last, "retry_after", None),
        )
        self.partial_response = getattr(last, "partial_response", None)

    def __str__(self) -> str:
        return Exception.__str__(self)
