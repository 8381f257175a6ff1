"""Running a codec's credentials step before a request goes out: fetch, cache, share.

A codec whose provider needs an access token (Vertex AI) returns its request unauthorized,
with an :class:`~providers._base.Authorizer`. :func:`authorize` obtains a grant through the
shared HTTP client and adds its headers. Grants are cached per event loop (anyio's primitives
belong to one loop) and per credentials, and used until shortly before they expire; concurrent
requests with the same credentials wait for one fetch (single-flight) rather than each asking,
and share its failure too. The clock is anyio's, so a trio test with a mock clock sees tokens
expire without waiting.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import weakref
from dataclasses import dataclass, field

import anyio

from providers import HTTPRequestSpec
from providers._base import AccessGrant, Authorizer

from ._http import acquire_client, loop_key, release_client, transport_error

REFRESH_MARGIN = 60.0
"""A grant is renewed this many seconds before it expires (half its life, if that is less), so
a token is never sent that could expire in flight."""


@dataclass(slots=True)
class _Entry:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    grant: AccessGrant | None = None
    renew_at: float = 0.0
    fetches: int = 0
    failure: Exception | None = None  # how the last fetch failed, for those waiting on it

    def current(self) -> AccessGrant | None:
        return self.grant if anyio.current_time() < self.renew_at else None


_caches: weakref.WeakKeyDictionary[object, dict[str, _Entry]] = weakref.WeakKeyDictionary()


async def authorize(spec: HTTPRequestSpec, *, provider: str) -> HTTPRequestSpec:
    """``spec`` with its authorizer's headers added (``spec`` itself if it has none).

    Cancellation while a token is being fetched abandons that fetch; a request waiting for it
    then fetches itself.

    Raises:
        AuthenticationError: the token endpoint refused the credentials.
        ProviderConnectionError: the token endpoint could not be reached.
    """
    authorizer = spec.authorizer
    if authorizer is None:
        return spec
    grant = await _grant(authorizer, provider)
    headers = {**spec.headers, **grant.headers}
    return dataclasses.replace(spec, headers=headers, authorizer=None)


async def _grant(authorizer: Authorizer, provider: str) -> AccessGrant:
    cache = _caches.setdefault(loop_key(), {})
    entry = cache.get(authorizer.cache_key)
    if entry is None:
        entry = cache[authorizer.cache_key] = _Entry()
    grant = entry.current()
    if grant is not None:
        return grant
    fetches = entry.fetches
    async with entry.lock:
        grant = entry.current()
        if grant is not None:  # fetched by the request this one waited for
            return grant
        if entry.fetches != fetches and entry.failure is not None:
            # The fetch this request waited for failed: it fails alike (each request's own
            # retry policy decides what next) rather than sending one more token request.
            raise copy.copy(entry.failure)
        asked_at = anyio.current_time()
        try:
            grant = await _fetch(authorizer, provider)
        except Exception as exc:
            entry.fetches, entry.failure = entry.fetches + 1, exc
            raise
        margin = min(REFRESH_MARGIN, grant.expires_in / 2)
        entry.grant, entry.renew_at = grant, asked_at + grant.expires_in - margin
        entry.fetches, entry.failure = entry.fetches + 1, None
        return grant


async def _fetch(authorizer: Authorizer, provider: str) -> AccessGrant:
    spec = authorizer.token_request(int(time.time()))
    shard = acquire_client(spec.url)
    try:
        client = shard.client
        request = client.build_request(
            spec.method, spec.url, headers=dict(spec.headers), content=spec.body
        )
        try:
            response = await client.send(request)
        except Exception as exc:
            error = transport_error(exc, provider=provider)
            if error is None:
                raise
            raise error from exc
    finally:
        release_client(shard)
    return authorizer.read_token_response(response.status_code, response.content)


def clear_token_cache() -> None:
    """Forget every cached grant of the current event loop (the next request fetches anew)."""
    _caches.pop(loop_key(), None)
