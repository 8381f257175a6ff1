"""``providers``: what is available, and which environment variables each provider reads."""

from __future__ import annotations

import argparse
import json
import os

from .._types import CompletionsProvider
from ._settings import PROVIDERS


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "providers",
        help="list the providers and the environment variables each reads",
        description="List the providers, the variables each reads, and whether its key is set "
        "(never the key itself).",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per provider")


def run(args: argparse.Namespace) -> int:
    for provider in CompletionsProvider:
        info = PROVIDERS[provider.value]
        key_set = any(os.environ.get(v) for v in info.key_variables)
        if args.json:
            print(
                json.dumps(
                    {
                        "provider": info.name,
                        "speaks": info.speaks,
                        "default_model": info.default_model,
                        "key_variables": list(info.key_variables),
                        "key_set": key_set,
                        "base_url_variable": info.base_url_variable,
                        "default_base_url": info.default_base_url,
                        "other_variables": list(info.other_variables),
                        "credentials": info.credentials,
                    }
                )
            )
            continue
        keys = " or ".join(info.key_variables) or info.credentials
        state = "set" if key_set else "not set"
        print(f"{info.name}  ({info.speaks}; default model {info.default_model})")
        print(f"  key:      {keys}" + (f"  [{state}]" if info.key_variables else ""))
        base = info.base_url_variable or "provider_kwargs.anthropic_vertex.base_url"
        print(f"  base URL: {base}, else {info.default_base_url}")
        if info.other_variables:
            print(f"  also:     {', '.join(info.other_variables)}")
    return 0
