"""Base URLs that select a scenario, and taking them apart again on the server side."""

from __future__ import annotations

from ._formats import BASE_PATHS
from ._scenarios import Scenario, decode_scenario, encode_scenario
from ._text import DEFAULT_SCENARIO

__all__ = ("SCENARIO_PREFIX", "route", "scenario_base_url")

SCENARIO_PREFIX = "/_s/"


def scenario_base_url(root: str, scenario: Scenario | None = None, provider: str = "openai") -> str:
    """The base URL a client should use to get ``scenario`` from the server at ``root``.

    Works without a server object, e.g. for a server in another process.

    Args:
        root: ``http://host:port`` (a trailing slash is ignored).
        scenario: What to serve; ``None`` serves the default demo reply.
        provider: A key of ``_formats.BASE_PATHS``: ``"openai"`` (``…/v1``), ``"alibaba"``
            (``…/compatible-mode/v1``), ``"anthropic"``, ``"anthropic_vertex"`` or ``"google"``.

    Returns:
        e.g. ``http://127.0.0.1:PORT/_s/synthetic,deltas=5/v1``; the client appends its normal
        path (``/chat/completions``).

    Raises:
        ValueError: unknown provider.
    """
    try:
        suffix = BASE_PATHS[provider]
    except KeyError:
        known = ", ".join(sorted(BASE_PATHS))
        raise ValueError(f"the local server has no {provider!r} format (known: {known})") from None
    root = root.rstrip("/")
    if scenario is None:
        return root + suffix
    return f"{root}{SCENARIO_PREFIX}{encode_scenario(scenario)}{suffix}"


def route(path: str) -> tuple[str, Scenario, str]:
    """Split a request path into (scenario key, scenario, provider path).

    The key is the encoded scenario segment (``""`` for the default scenario); ``fail_times`` is
    counted per key.

    Raises:
        ScenarioDecodeError: the scenario segment is malformed.
    """
    if not path.startswith(SCENARIO_PREFIX):
        return "", DEFAULT_SCENARIO, path
    segment, _, rest = path[len(SCENARIO_PREFIX) :].partition("/")
    # Percent-decoding happens per value in decode_scenario: commas inside values stay escaped.
    return segment, decode_scenario(segment), "/" + rest
