"""OAuth2 access tokens from a Google service-account key (JWT-bearer grant, RFC 7523).

Sans-IO, in the manner of httpx's ``Auth`` flows: :class:`ServiceAccountAuthorizer` builds the
token request (an RS256-signed JWT assertion, PROVIDERS.md §4.2) and reads the token response
into an :class:`AccessGrant`; ``pipeline._auth`` sends the request, caches the grant and shares
one fetch among concurrent requests. Signing uses ``cryptography`` (the maintained library
OpenSSL bindings; PyJWT would only wrap it).

The private key and every token stay out of reprs, errors and logs: the key is loaded once
into an opaque key object, the credentials dict is never echoed, and a token endpoint error
shows only Google's ``error`` code and description.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pipeline._errors import AuthenticationError, ConfigurationError, ProtocolError
from pipeline._secrets import scrub

from ._base import AccessGrant, HTTPRequestSpec, json_body

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
TOKEN_LIFETIME = 3600
"""Seconds an assertion asks for (Google's maximum, and google-auth's default)."""
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_REQUIRED = ("client_email", "private_key")


@dataclass(frozen=True, slots=True, repr=False)
class ServiceAccountAuthorizer:
    """Turns one service account into bearer tokens; equal for equal credentials.

    Attributes:
        provider: Whose request it authorizes (for error messages).
        client_email: The account (shown in errors: it is an identity, not a secret).
        token_uri: Where assertions are exchanged.
        cache_key: A digest of the credentials: requests with the same key share tokens.
    """

    provider: str
    client_email: str
    token_uri: str
    key_id: str | None
    cache_key: str
    _key: rsa.RSAPrivateKey = field(compare=False)
    scopes: tuple[str, ...] = (CLOUD_PLATFORM_SCOPE,)

    def __repr__(self) -> str:
        return (
            f"ServiceAccountAuthorizer(client_email={self.client_email!r}, "
            f"token_uri={self.token_uri!r}, private_key=<redacted>)"
        )

    def assertion(self, issued_at: int) -> str:
        """The signed JWT that asks for a token, issued at Unix time ``issued_at``."""
        header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
        if self.key_id:
            header["kid"] = self.key_id
        claims = {
            "iss": self.client_email,
            "scope": " ".join(self.scopes),
            "aud": self.token_uri,
            "iat": issued_at,
            "exp": issued_at + TOKEN_LIFETIME,
        }
        signing_input = f"{_b64(_json(header))}.{_b64(_json(claims))}".encode("ascii")
        signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode('ascii')}.{_b64(signature)}"

    def token_request(self, issued_at: int) -> HTTPRequestSpec:
        """The form POST that exchanges a fresh assertion for an access token."""
        form = urlencode({"grant_type": GRANT_TYPE, "assertion": self.assertion(issued_at)})
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "accept": "application/json",
        }
        return HTTPRequestSpec("POST", self.token_uri, headers, form.encode("ascii"))

    def read_token_response(self, status_code: int, body: bytes) -> AccessGrant:
        """The grant in a token response.

        Raises:
            AuthenticationError: the endpoint refused (its ``error`` and description only).
            ProtocolError: a 2xx answer without a usable token.
        """
        payload = json_body(body)
        if status_code >= 400:
            raise self._refused(status_code, payload)
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token or not token.isascii() or " " in token:
            raise ProtocolError(
                f"the token endpoint of {self.client_email} answered without an access_token",
                provider=self.provider,
            )
        expires_in = payload.get("expires_in", TOKEN_LIFETIME)
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
            expires_in = TOKEN_LIFETIME
        return AccessGrant({"authorization": f"Bearer {token}"}, float(expires_in))

    def _refused(self, status_code: int, payload: Any) -> AuthenticationError:
        error = description = None
        if isinstance(payload, dict):
            error, description = payload.get("error"), payload.get("error_description")
        # Only Google's own short fields are quoted, and scrubbed: a body that echoed the
        # assertion or a token must not carry it into the message.
        said = scrub(str(description or error or "no error description"))[:300]
        message = (
            f"the token endpoint refused the service account {self.client_email} "
            f"(HTTP {status_code}): {said}"
        )
        return AuthenticationError(
            message,
            provider=self.provider,
            status_code=status_code,
            retryable=status_code >= 500 or status_code == 429,
            provider_message=said,
            error_type=scrub(str(error))[:100] if error else None,
        )


def service_account_authorizer(
    credentials: Any, *, provider: str, path: str
) -> ServiceAccountAuthorizer:
    """The authorizer for a parsed service-account key JSON (checked before any I/O).

    Raises:
        ConfigurationError: a field is missing or the private key cannot be read; the
            message names the field (``path``) and never shows a value.
    """
    if not isinstance(credentials, Mapping):
        raise ConfigurationError(f"{path}: expected the service-account key JSON as a dict")
    missing = [k for k in _REQUIRED if not isinstance(credentials.get(k), str)]
    if missing:
        raise ConfigurationError(f"{path}: missing {', '.join(missing)}")
    token_uri = credentials.get("token_uri") or DEFAULT_TOKEN_URI
    if not isinstance(token_uri, str) or not token_uri.startswith(("https://", "http://")):
        raise ConfigurationError(f"{path}.token_uri: not an http(s) URL")
    key_id = credentials.get("private_key_id")
    pem = credentials["private_key"]
    digest = hashlib.sha256(
        "\0".join([credentials["client_email"], token_uri, str(key_id), pem]).encode()
    ).hexdigest()
    return ServiceAccountAuthorizer(
        provider=provider,
        client_email=credentials["client_email"],
        token_uri=token_uri,
        key_id=key_id if isinstance(key_id, str) else None,
        cache_key=digest,
        _key=_load_key(pem, path),
    )


@functools.lru_cache(maxsize=32)
def _load_key(pem: str, path: str) -> rsa.RSAPrivateKey:
    # Cached: parsing an RSA key costs about a millisecond, and every request builds its spec.
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        key = None  # the library's message is not shown: it may quote the key
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError(f"{path}.private_key: not a PEM-encoded RSA private key")
    return key


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
