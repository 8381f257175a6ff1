"""A Google OAuth2 token endpoint for service accounts (JWT-bearer grant), on loopback.

It checks an assertion the way Google does where a test can tell the difference: the form's
``grant_type``, an RS256 JWT whose signature verifies against the public key the test trusts for
its ``iss`` (the service account's ``client_email``), an audience naming this endpoint, the
cloud-platform scope and a lifetime of at most an hour. It answers
``{"access_token", "expires_in", "token_type"}``, or Google's ``{"error",
"error_description"}``. Options ride in the query string of the token URI, so credentials can
carry them: ``expires_in`` (short-lived tokens) and ``fail`` (answer this status).

Tokens it issued are remembered with their expiry, so the server can refuse a Vertex request
whose bearer token is unknown or expired (:meth:`TokenEndpoint.accepts`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ("TOKEN_PATH", "TokenEndpoint")

TOKEN_PATH = "/_oauth2/token"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    status: int
    body: bytes


class _Refused(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.answer = TokenAnswer(
            status,
            json.dumps({"error": error, "error_description": description}).encode(),
        )


class TokenEndpoint:
    """Issues access tokens to the service accounts a test trusts.

    Args:
        trusted: ``client_email`` → the account's public key (PEM text or bytes, or a
            ``cryptography`` RSA public key).

    Attributes:
        token_requests: Requests received, valid or not.
        issued: Tokens handed out, in order.
    """

    def __init__(self, trusted: Mapping[str, Any]) -> None:
        self._keys = {email: _public_key(key) for email, key in trusted.items()}
        self._expiry: dict[str, float] = {}
        self._serial = itertools.count(1)
        self.token_requests = 0
        self.issued: list[str] = []

    @staticmethod
    def uri(root: str, *, expires_in: int | None = None, fail: int | None = None) -> str:
        """The ``token_uri`` to put in test credentials for the server at ``root``."""
        query = {
            name: str(value)
            for name, value in (("expires_in", expires_in), ("fail", fail))
            if value is not None
        }
        return root.rstrip("/") + TOKEN_PATH + (f"?{urlencode(query)}" if query else "")

    def answer(self, query: str, body: bytes, now: float) -> TokenAnswer:
        """The response to one token request received at (anyio) time ``now``."""
        self.token_requests += 1
        options = {k: v[-1] for k, v in parse_qs(query).items()}
        if "fail" in options:
            status = int(options["fail"])
            error = "internal_failure" if status >= 500 else "invalid_grant"
            return _Refused(error, "The token endpoint was told to fail.", status).answer
        try:
            self._check(body)
        except _Refused as refused:
            return refused.answer
        lifetime = int(options.get("expires_in", "3599"))
        token = f"ya29.local{next(self._serial)}.{secrets.token_urlsafe(24)}"
        self._expiry[token] = now + lifetime
        self.issued.append(token)
        payload = {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}
        return TokenAnswer(200, json.dumps(payload).encode())

    def accepts(self, authorization: str | None, now: float) -> bool:
        """Whether ``authorization`` is ``Bearer <a token issued here, not yet expired>``."""
        scheme, _, token = (authorization or "").partition(" ")
        expiry = self._expiry.get(token)
        return scheme == "Bearer" and expiry is not None and now < expiry

    def _check(self, body: bytes) -> None:
        form = {k: v[-1] for k, v in parse_qs(body.decode("ascii", "replace")).items()}
        if form.get("grant_type") != GRANT_TYPE:
            raise _Refused("unsupported_grant_type", "Invalid grant_type.")
        pieces = form.get("assertion", "").split(".")
        if len(pieces) != 3:
            raise _Refused("invalid_grant", "Invalid JWT: not three parts.")
        try:
            header, claims = json.loads(_unb64(pieces[0])), json.loads(_unb64(pieces[1]))
            signature = _unb64(pieces[2])
        except (ValueError, binascii.Error):
            raise _Refused("invalid_grant", "Invalid JWT: not base64url JSON.") from None
        if header.get("alg") != "RS256" or header.get("typ") != "JWT":
            raise _Refused("invalid_grant", "Invalid JWT header.")
        key = self._keys.get(claims.get("iss"))
        if key is None:
            raise _Refused("invalid_grant", "Invalid grant: account not found")
        signed = f"{pieces[0]}.{pieces[1]}".encode("ascii")
        try:
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _Refused("invalid_grant", "Invalid JWT Signature.") from None
        if TOKEN_PATH not in str(claims.get("aud")):
            raise _Refused("invalid_grant", "Invalid JWT: wrong audience.")
        if SCOPE not in str(claims.get("scope", "")).split():
            raise _Refused("invalid_scope", "Invalid OAuth scope.")
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int) or not isinstance(expires, int):
            raise _Refused("invalid_grant", "Invalid JWT: iat and exp must be integers.")
        if not 0 < expires - issued <= 3600:
            raise _Refused("invalid_grant", "Invalid JWT: lifetime longer than an hour.")


def _public_key(key: Any) -> rsa.RSAPublicKey:
    if isinstance(key, str):
        key = key.encode()
    if isinstance(key, bytes):
        key = serialization.load_pem_public_key(key)
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("a trusted service account needs an RSA public key")
    return key


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
