"""Keeping secrets out of reprs, messages and logs.

A secret is shown at most as its first three and last four characters (``'sk-…1234'``), and
only when it is long enough that this reveals nothing useful; service-account credentials are
never shown at all.

Secrets are found three ways: by the name they sit under (``api_key``, ``authorization``,
...); for a value that arrives where no secret was expected (a key pasted into ``provider`` or
``model``), by its look: a well-known key prefix, or a long random-looking token; and, in what
a provider sends back, by value: :class:`KnownSecrets` holds every secret one call carries, so
a key the provider echoes is hidden whatever its length or look (``sk-short-12`` looks like
nothing, yet ``Incorrect API key provided: sk-short-12`` must not reach a log).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, final

if TYPE_CHECKING:
    from ._types import ChatCompletionRequest

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


_MAX_PASSES = 8


@final
class KnownSecrets:
    """The secret values one call carries, to hide by value wherever a provider echoes them.

    Each is replaced by its stand-in (:func:`redact` without the quotes: ``sk-…1234``, or
    ``…`` for a short one), the longest first, so a secret inside another goes with it. The
    repr shows only how many there are, and pickling is refused: the set must never be
    written anywhere.
    """

    __slots__ = ("_pattern", "_stand_ins", "_values")

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values = frozenset(v for v in values if isinstance(v, str) and v)
        longest_first = sorted(self._values, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(map(re.escape, longest_first))) if self._values else None
        )
        self._stand_ins = {value: redact(value).strip("'") for value in self._values}

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KnownSecrets) and other._values == self._values

    def __hash__(self) -> int:
        return hash(self._values)

    def __or__(self, other: KnownSecrets) -> KnownSecrets:
        return KnownSecrets(self._values | other._values)

    def __repr__(self) -> str:
        return f"KnownSecrets(<{len(self._values)} hidden>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("KnownSecrets cannot be pickled: it holds secrets")

    def redact_text(self, text: str) -> str:
        """``text`` with every known secret replaced by its stand-in.

        Repeated until nothing changes (a few passes at most), so no secret is left even where
        a stand-in and the text beside it spell one again: redacting twice is redacting once.
        """
        pattern = self._pattern
        if pattern is None:
            return text
        stand_ins = self._stand_ins
        for _ in range(_MAX_PASSES):
            redacted = pattern.sub(lambda match: stand_ins[match[0]], text)
            if redacted == text:
                break
            text = redacted
        return text

    def redact_args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """An exception's ``args`` with every string in them redacted."""
        return tuple(self.redact_text(a) if isinstance(a, str) else a for a in args)


def header_secrets(headers: Mapping[str, str]) -> KnownSecrets:
    """The credentials in request headers (a key from the environment is only found here)."""
    values: list[str] = []
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS and isinstance(value, str):
            values.extend(_forms(value))
    return KnownSecrets(values)


def request_secrets(
    request: ChatCompletionRequest, *, headers: Iterable[Mapping[str, str]] = ()
) -> KnownSecrets:
    """Every secret a call carries: build it once per call, before any I/O.

    That is the ``api_key`` of the request and of each fallback, every string in
    ``provider_kwargs`` under a secret name (to any depth: a service account's
    ``private_key``, an ``access_token``, an ``Authorization`` header), and the credentials
    in ``headers``: pass the headers of every attempt's built HTTP request, which hold a key
    taken from the environment. Identities (``client_email``), ids and URLs are not secrets.
    """
    values: list[str] = []
    for source in (request, *(request.fallbacks or ())):
        if isinstance(source.api_key, str):
            values.extend(_forms(source.api_key))
        _collect(source.provider_kwargs, values, secret=False)
    known = KnownSecrets(values)
    for one in headers:
        known |= header_secrets(one)
    return known


def _collect(value: Any, out: list[str], *, secret: bool) -> None:
    # ``secret`` is whether ``value`` sits under a secret name. It covers the strings right
    # there (or in a list there), not a mapping: in service_account_credentials only
    # private_key is secret, and hiding its project or e-mail would only garble errors.
    if isinstance(value, str):
        if secret:
            out.extend(_forms(value))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _collect(item, out, secret=isinstance(key, str) and key.lower() in SECRET_NAMES)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, out, secret=secret)


def _forms(secret: str) -> list[str]:
    """A secret as it may come back: itself, its token without ``Bearer``, JSON-escaped."""
    forms = [secret]
    if secret.startswith("Bearer "):
        forms.append(secret.removeprefix("Bearer ").strip())
    escaped = json.dumps(secret)[1:-1]
    if escaped != secret:
        forms.append(escaped)
    return forms


def redact_known(error: BaseException, secrets: KnownSecrets) -> None:
    """Hide ``secrets`` in ``error`` in place: what its ``str``, ``repr``, pickle and
    traceback show, the errors it holds, its causes and their notes. Idempotent.

    Call it on every error leaving an attempt, before it is logged, recorded or raised.
    """
    from ._errors import AllAttemptsFailedError, PipelineError  # _errors imports this module

    if not secrets:
        return
    pending = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, PipelineError):
            current.redact_own_text(secrets)
        else:
            current.args = secrets.redact_args(current.args)
        notes = getattr(current, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [secrets.redact_text(n) if isinstance(n, str) else n for n in notes]
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        if isinstance(current, AllAttemptsFailedError):
            pending.extend(current.errors)
