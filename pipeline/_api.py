"""The two entry points: ``generate_chat_completion`` and ``generate_chat_completion_stream``.

Both validate the request, build every attempt's HTTP request before any I/O, and hand the
attempts to one :class:`~pipeline._supervisor.Supervisor`, which races them (retries,
fallbacks, hedges) until one commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._attempt import prepare_all
from ._chunks import voice_stages
from ._secrets import request_secrets
from ._stream import ChatCompletionStream, ChunkStage
from ._supervisor import Supervisor
from ._types import ChatCompletionRequest, ChatCompletionResponse, StreamOptions
from ._validation import to_request, to_stream_options


async def generate_chat_completion_stream(
    request: ChatCompletionRequest | Mapping[str, Any],
    stream_options: StreamOptions | Mapping[str, Any] | None = None,
    *,
    stages: Sequence[ChunkStage] = (),
) -> ChatCompletionStream:
    """Generate a streaming chat completion.

    Validates the request and builds every attempt's HTTP request before any I/O, so a bad
    request or a missing key raises here. The HTTP exchange starts on the first iteration.

    Chunk order: ``content_delta`` chunks (``content_sentence`` with ``stream_sentences``)
    interleaved with ``tool_call`` chunks as each completes, then ``finish_reason``,
    ``usage`` and last ``response``.

    Args:
        request: A :class:`ChatCompletionRequest` or the same shape as a dict.
        stream_options: A :class:`StreamOptions` or the same shape as a dict.
        stages: Extra synchronous chunk stages (cores with ``feed``/``flush``) run after the
            built-in ones; for stages that await, use :func:`open_stage_graph`.

    Returns:
        A :class:`ChatCompletionStream`: iterate it, ideally inside ``async with`` so the
        connection is closed the moment you stop. Cancelling an iteration closes every
        connection of the call before the cancellation propagates.

    Raises:
        RequestValidationError: The request or options are malformed.
        ConfigurationError: No API key, or a provider not available.
    """
    typed = to_request(request)
    options = to_stream_options(stream_options)
    supervisor = _supervisor(typed, stream=True)
    return ChatCompletionStream(supervisor, stages=[*voice_stages(options), *stages])


async def generate_chat_completion(
    request: ChatCompletionRequest | Mapping[str, Any],
) -> ChatCompletionResponse:
    """Generate a non-streaming chat completion.

    Retries, fallbacks and hedges follow the request's configuration; a whole response counts
    as the first token. Cancellation closes every HTTP response and propagates unchanged.

    Raises:
        RequestValidationError: The request is malformed (before any I/O).
        ConfigurationError: No API key, or a provider not available (before any I/O).
        ProviderError: Every attempt failed: the last error when they all came from one
            provider, else :class:`AllAttemptsFailedError`; ``attempts`` records each.
    """
    typed = to_request(request)
    supervisor = _supervisor(typed, stream=False)
    winner = await supervisor.run()
    response = winner.response()
    response.attempts = supervisor.records()
    return response


def _supervisor(request: ChatCompletionRequest, *, stream: bool) -> Supervisor:
    prepared = prepare_all(request, stream=stream)
    # Built once per call, before any I/O: the keys from the environment are in the headers.
    secrets = request_secrets(request, headers=[attempt.spec.headers for attempt in prepared])
    return Supervisor(prepared, stream=stream, secrets=secrets)
