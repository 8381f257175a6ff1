"""Service-account credentials with an RSA key generated at run time (none is committed)."""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

EMAIL = "voice-agent@test-project.iam.gserviceaccount.com"


@functools.cache
def private_key() -> rsa.RSAPrivateKey:
    # 2048 bits: what Google issues; generated once per test session.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem() -> bytes:
    return (
        private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def private_pem() -> str:
    return (
        private_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def credentials(
    token_uri: str = "https://oauth2.googleapis.com/token", **extra: Any
) -> dict[str, Any]:
    """A service-account key JSON, parsed, as Google hands it out."""
    return {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": private_pem(),
        "client_email": EMAIL,
        "client_id": "100000000000000000000",
        "token_uri": token_uri,
        **extra,
    }
