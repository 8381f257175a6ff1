"""The WebSocket gateway: voice clients reach the library over the network.

``_protocol`` is the sans-IO message core, ``_codec`` turns chunks and errors into JSON-safe
dicts, ``_server`` is the thin trio-websocket shell. ``python -m pipeline serve`` runs it.
"""

from __future__ import annotations

from ._codec import chunk_to_dict as chunk_to_dict
from ._codec import error_to_dict as error_to_dict
from ._protocol import MessageError as MessageError
from ._protocol import Policy as Policy
from ._protocol import parse_client_message as parse_client_message
from ._server import GatewayConfig as GatewayConfig
from ._server import GatewayStats as GatewayStats
from ._server import serve_gateway as serve_gateway

__all__ = (
    "GatewayConfig",
    "GatewayStats",
    "MessageError",
    "Policy",
    "chunk_to_dict",
    "error_to_dict",
    "parse_client_message",
    "serve_gateway",
)
