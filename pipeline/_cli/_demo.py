"""The demo: stream one reply live, from the embedded local server or a real provider.

Without an API key (or with ``--local``) it starts the built-in provider server on 127.0.0.1
and streams its demo reply; with ``OPENAI_API_KEY`` set it asks OpenAI (or the server named by
``OPENAI_BASE_URL``, and it says which). Either way the client path is the one applications
use.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from contextlib import AsyncExitStack
from typing import Any, TextIO

import anyio

from .._errors import PipelineError
from .._http import aclose_http_clients
from ._exit import INTERRUPTED, report
from ._settings import PROVIDERS

DEFAULT_PROMPT = "Introduce yourself in a few sentences, for a voice assistant demo."
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "alibaba": "qwen-plus"}
KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "alibaba": "DASHSCOPE_API_KEY"}
BASE_URL_VARIABLES = {"openai": "OPENAI_BASE_URL", "alibaba": "DASHSCOPE_BASE_URL"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="stream a reply live and print timings (no key needed)",
        description=__doc__,
    )
    demo.add_argument("--provider", choices=sorted(DEFAULT_MODELS), default="openai")
    demo.add_argument("--model", help="model name (default depends on the provider)")
    demo.add_argument("--prompt", default=DEFAULT_PROMPT)
    demo.add_argument(
        "--local", action="store_true", help="use the embedded server even with a key"
    )
    demo.add_argument("--deltas", action="store_true", help="print raw deltas instead of sentences")
    demo.add_argument(
        "--backend", choices=("trio", "asyncio"), default="trio", help="event loop to run on"
    )
    demo.add_argument(
        "--fast", action="store_true", help="local server: no pacing, as fast as it can stream"
    )


def run(args: argparse.Namespace) -> int:
    try:
        anyio.run(_demo, args, sys.stdout, backend=args.backend)
    except PipelineError as exc:
        print()
        return report(exc)
    except KeyboardInterrupt:
        return INTERRUPTED
    return 0


async def _demo(args: argparse.Namespace, out: TextIO) -> None:
    from .._api import generate_chat_completion_stream

    key = os.environ.get(KEY_VARIABLES[args.provider])
    local = args.local or not key
    async with AsyncExitStack() as stack:
        request: dict[str, Any] = {
            "provider": args.provider,
            "api_key": key,
            "model": args.model or DEFAULT_MODELS[args.provider],
            "messages": [{"role": "user", "content": args.prompt}],
        }
        if local:
            from ..testing import DEFAULT_SCENARIO, open_local_server

            server = await stack.enter_async_context(open_local_server())
            scenario = (
                dataclasses.replace(DEFAULT_SCENARIO, pace_ms=0, first_token_delay_ms=0)
                if args.fast
                else None
            )
            request["api_key"] = "sk-local-demo-key-not-secret"
            request["provider_kwargs"] = {
                args.provider: {"base_url": server.base_url(scenario, provider=args.provider)}
            }
            where = f"embedded local server at {server.root_url}"
        else:
            # Where the library will really connect: the variable replaces the default URL.
            variable = BASE_URL_VARIABLES[args.provider]
            custom = os.environ.get(variable)
            where = (
                f"{custom} (from {variable})"
                if custom
                else f"the {args.provider} API at {PROVIDERS[args.provider].default_base_url}"
            )
        out.write(f"Streaming from {where} (model {request['model']}) …\n\n")
        out.flush()
        options = {"stream_sentences": not args.deltas}
        started = anyio.current_time()
        first: float | None = None
        sentences = 0
        stream = await generate_chat_completion_stream(request, options)
        async with stream:
            async for chunk in stream:
                now = anyio.current_time() - started
                if chunk.type == "content_delta":
                    first = now if first is None else first
                    out.write(chunk.content)
                elif chunk.type == "content_sentence":
                    first = now if first is None else first
                    sentences += 1
                    out.write(f"[{now * 1000:7.1f} ms] {chunk.sentence}\n")
                elif chunk.type == "tool_call":
                    call = chunk.tool_call
                    out.write(f"\n[tool call] {call.function.name}({call.function.arguments})\n")
                elif chunk.type == "response":
                    response = chunk.response
                    usage = response.token_usage
                    tokens = (
                        f"{usage.input_tokens} in / {usage.output_tokens} out" if usage else "n/a"
                    )
                    out.write(
                        f"\n\nfinish: {response.finish_reason}   tokens: {tokens}   "
                        f"first {'sentence' if sentences else 'token'} after "
                        f"{(first or 0) * 1000:.0f} ms   total {now * 1000:.0f} ms\n"
                    )
                out.flush()
        await aclose_http_clients()
