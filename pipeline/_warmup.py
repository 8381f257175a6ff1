"""Warm connections: open them (TCP, TLS) before the first request needs one.

A voice agent's first reply should not pay for the CA bundle, the HTTP stack's imports, DNS,
the TCP handshake and TLS: :func:`warm_up` does all of it ahead of time, and the first request
then finds an open connection in the shared pool, exactly as the tenth does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import anyio
import httpcore
import httpx

from ._errors import ProviderError
from ._http import (
    CONNECTIONS_PER_SHARD,
    TIMEOUTS,
    acquire_client,
    release_client,
    tls_context,
    transport_error,
)
from ._transport import as_httpx_error
from ._types import ChatCompletionRequest
from ._validation import to_request

PLACEHOLDER_KEY = "warm-up-placeholder-key"
"""Lets a provider name alone resolve its base URL; nothing is ever sent with it."""


async def warm_up(
    providers: Iterable[str | ChatCompletionRequest | Mapping[str, Any]] = ("openai",),
    *,
    connections: int = 1,
    http2: bool = False,
) -> None:
    """Open ``connections`` keep-alive connections to each provider's host, and keep them.

    Each entry is a provider name (its base URL from the environment or the provider's
    default, as a request would resolve it) or a whole request (its ``provider_kwargs`` and
    fallbacks decide the hosts, through the same code that builds the real request). Nothing
    is sent: only TCP and TLS handshakes. The connections join this event loop's shared pool,
    where the next requests to those hosts find them (idle ones expire after 30 s, as any
    keep-alive connection does). Also loads the CA bundle and the HTTP stack's code.

    An HTTP/2 host (``http2=True`` for provider names, a request's own ``http2`` field) gets
    one connection whatever ``connections`` says: it carries many streams. It is opened up to
    the server's SETTINGS, so it is known to speak HTTP/2 (over ``https``, if ALPN picks
    HTTP/1.1 the connection serves HTTP/1.1 instead).

    Args:
        providers: Provider names, or requests, whose hosts to connect to.
        connections: Connections to have open per host (at most 64); ones already open
            count. An HTTP/2 host gets one (none with 0).
        http2: Warm the HTTP/2 pools of the provider names (requests say for themselves).

    Raises:
        RequestValidationError: An entry is not a valid provider name or request.
        ProviderConnectionError: A host could not be reached.
    """
    from ._attempt import prepare_all  # here: pipeline/__init__ imports this module early

    tls_context(False)  # the CA bundle: ~15 ms, otherwise paid by the first request
    wanted = min(max(connections, 0), CONNECTIONS_PER_SHARD)
    origins: dict[tuple[str, bool], str] = {}  # each (origin URL, HTTP/2): its provider
    for entry in providers:
        for prepared in prepare_all(_as_request(entry, http2), stream=True):
            parsed = httpx.URL(prepared.spec.url)
            origin = f"{parsed.scheme}://{parsed.netloc.decode()}/"
            origins.setdefault((origin, prepared.planned.request.http2), prepared.provider_name)
    failures: list[ProviderError] = []

    async def warm(url: str, provider: str, http2: bool) -> None:
        try:
            await _warm_origin(url, provider, wanted, http2=http2)
        except ProviderError as error:
            failures.append(error)  # raised as itself below, not in an exception group

    async with anyio.create_task_group() as group:
        for (url, on_http2), provider in origins.items():
            group.start_soon(warm, url, provider, on_http2)
    if failures:
        raise failures[0]


def _as_request(
    entry: str | ChatCompletionRequest | Mapping[str, Any], http2: bool
) -> ChatCompletionRequest:
    if isinstance(entry, str):
        entry = {
            "provider": entry,
            "api_key": PLACEHOLDER_KEY,
            "model": "warm-up",
            "messages": [{"role": "user", "content": "."}],
            "http2": http2,
        }
    return to_request(entry)


async def _warm_origin(url: str, provider: str, wanted: int, *, http2: bool) -> None:
    shard = acquire_client(url, http2=http2)
    release_client(shard)  # only its pool is used, for connections it will hand out later
    parsed = httpx.URL(url)
    origin = httpcore.Origin(parsed.raw_scheme, parsed.raw_host, parsed.port or _port(parsed))
    if shard.http2_pool is not None:
        if wanted:
            try:
                await shard.http2_pool.open_warm(origin, TIMEOUTS.connect)
            except Exception as exc:
                error = transport_error(as_httpx_error(exc), provider=provider)
                if error is None:
                    raise
                raise error from exc
        return
    pool = shard.pool
    if pool is None:  # a proxy: httpx's own pool, which opens on first use
        return
    have = pool.warm + sum(
        1 for c in pool.connections if c.can_handle_request(origin) and c.is_idle()
    )
    for _ in range(wanted - have):
        connection = pool.new_connection(origin)
        try:
            await connection.connect(TIMEOUTS.connect)
        except Exception as exc:
            error = transport_error(as_httpx_error(exc), provider=provider)
            if error is None:
                raise
            raise error from exc
        pool.add_warm(connection)


def _port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80
