"""The command line: ``python -m pipeline`` (or ``voxstream``), one module per command.

Exit codes are in ``_exit``: 0 done, 2 usage, 3 missing key, 4 unknown provider, 5 provider
unreachable, 6 provider error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from . import _bench, _chat, _demo, _providers, _serve

PROG = "python -m pipeline"


def _version() -> str:
    from .. import __version__

    return f"voxstream {__version__}"


def parser() -> argparse.ArgumentParser:
    """The whole command line."""
    root = argparse.ArgumentParser(
        prog=PROG,
        description="voxstream: one streaming API for chat completions across LLM providers, "
        "for real-time voice agents.",
        epilog="Exit codes: 0 done, 2 usage or invalid request, 3 missing key, "
        "4 unknown provider, 5 provider unreachable, 6 provider error, 130 interrupted.",
    )
    root.add_argument("--version", action="version", version=_version())
    sub = root.add_subparsers(dest="command", metavar="COMMAND")
    _chat.add_parser(sub)
    _demo.add_parser(sub)
    _serve.add_parser(sub)
    _bench.add_parser(sub)
    _providers.add_parser(sub)
    sub.add_parser("version", help="print the version and the providers it speaks")
    return root


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        return _bench.run(argv[1:])  # the harness parses its own options
    root = parser()
    args = root.parse_args(argv)
    if args.command is None:
        root.print_help()
        return 0
    if args.command == "version":
        from .._types import CompletionsProvider

        print(_version())
        print("providers: " + ", ".join(p.value for p in CompletionsProvider))
        return 0
    runners = {
        "chat": _chat.run,
        "demo": _demo.run,
        "serve": _serve.run,
        "providers": _providers.run,
    }
    return runners[args.command](args)
