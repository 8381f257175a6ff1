"""``serve``: the WebSocket gateway (see ``pipeline/_gateway``)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from functools import partial

import trio

from .._gateway import GatewayConfig, Policy, serve_gateway
from . import _exit

TOKEN_VARIABLE = "PIPELINE_GATEWAY_TOKEN"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the WebSocket gateway for voice clients",
        description=(
            "Serve the streaming API over WebSocket (JSON messages, see the README). Clients "
            "authenticate with 'Authorization: Bearer $" + TOKEN_VARIABLE + "'; provider "
            "keys and base URLs come from this server's environment."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--no-auth", action="store_true", help="no token (only on a loopback address)"
    )
    parser.add_argument(
        "--allow-client-keys", action="store_true", help="accept api_key from clients"
    )
    parser.add_argument(
        "--allow-client-base-url", action="store_true", help="accept base_url from clients"
    )
    parser.add_argument("--max-message-size", type=int, default=1 << 20, help="bytes")
    parser.add_argument(
        "--output-queue", type=int, default=64, help="messages queued per connection"
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=30.0,
        help="seconds a client may leave output unread before it is dropped",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_VARIABLE) or None
    if args.no_auth:
        if not _is_loopback(args.host):
            print(
                f"error (usage): --no-auth is only allowed on a loopback address, not {args.host}",
                file=sys.stderr,
            )
            return _exit.USAGE
        token = None
    elif token is None:
        print(
            f"error (missing key): set {TOKEN_VARIABLE} (clients send it as a bearer token), "
            "or pass --no-auth on a loopback address",
            file=sys.stderr,
        )
        return _exit.MISSING_KEY
    config = GatewayConfig(
        token=token,
        policy=Policy(args.allow_client_keys, args.allow_client_base_url),
        max_message_size=args.max_message_size,
        output_queue=args.output_queue,
        stall_timeout=args.stall_timeout,
    )
    try:
        trio.run(_serve, config, args.host, args.port)
    except KeyboardInterrupt:
        return _exit.OK
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return _exit.FAILURE
    return _exit.OK


async def _serve(config: GatewayConfig, host: str, port: int) -> None:
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(partial(serve_gateway, config, host, port))
        auth = "bearer token" if config.token else "no auth"
        # One line a supervisor (or a test) can wait for, with the port actually bound.
        print(f"READY ws://{host}:{bound} ({auth})", flush=True)
