"""``chat``: one prompt, or an interactive conversation, streamed live from a provider."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import anyio

from .._errors import PipelineError
from .._gateway._codec import chunk_to_dict
from .._http import aclose_http_clients
from .._serialization import serialize_conversation
from .._types import ChatCompletionResponse
from . import _exit
from ._interrupts import Interrupts
from ._settings import PROVIDERS


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser(
        "chat",
        help="stream a reply to a prompt, or chat interactively",
        description=(
            "Stream a reply live. With a prompt, answer it and exit; without one, read prompts "
            "line by line (the conversation is kept). Keys come from the provider's standard "
            "environment variable (see `providers`). Ctrl-C stops the generation at once; a "
            "second Ctrl-C exits."
        ),
    )
    chat.add_argument("prompt", nargs="?", help="the prompt (omit for an interactive session)")
    chat.add_argument("--provider", default="openai", help="provider name (default: openai)")
    chat.add_argument("--model", help="model name (default depends on the provider)")
    chat.add_argument("--base-url", help="send requests here instead of the provider's API")
    chat.add_argument("--system", help="a system prompt")
    chat.add_argument("--temperature", type=float)
    chat.add_argument("--max-tokens", type=int)
    chat.add_argument("--timeout", type=float, help="seconds for each network wait")
    chat.add_argument(
        "--first-token-timeout",
        type=float,
        help="seconds from the request to the first token before the attempt fails",
    )
    chat.add_argument(
        "--hedge-after",
        type=float,
        help="seconds without a first token before a second attempt races the first",
    )
    chat.add_argument("--retries", type=int, help="retries before giving up (default: 3)")
    chat.add_argument(
        "--credentials", type=Path, help="anthropic_vertex: the service-account JSON file"
    )
    chat.add_argument("--sentences", action="store_true", help="print whole sentences, one a line")
    chat.add_argument(
        "--clean",
        action="store_true",
        help="sentences cleaned of markdown, for speech",
    )
    chat.add_argument("--json", action="store_true", help="print each chunk as one JSON line")
    chat.add_argument("--backend", choices=("trio", "asyncio"), default="trio")


def run(args: argparse.Namespace) -> int:
    if args.provider not in PROVIDERS:
        known = ", ".join(PROVIDERS)
        print(f"error (unknown provider): {args.provider!r}; known: {known}", file=sys.stderr)
        return _exit.UNKNOWN_PROVIDER
    try:
        return anyio.run(_session, args, sys.stdout, backend=args.backend)
    except KeyboardInterrupt:  # before the signal watcher started, or after it stopped
        return _exit.INTERRUPTED


def base_request(args: argparse.Namespace) -> dict[str, Any]:
    """The request every turn shares (without its messages)."""
    request: dict[str, Any] = {
        "provider": args.provider,
        "api_key": None,
        "model": args.model or PROVIDERS[args.provider].default_model,
    }
    for field in ("temperature", "max_tokens", "timeout", "first_token_timeout", "hedge_after"):
        if getattr(args, field) is not None:
            request[field] = getattr(args, field)
    if args.retries is not None:
        request["retry"] = {"enabled": args.retries > 0, "max_retries": args.retries}
    kwargs: dict[str, Any] = {}
    if args.base_url:
        kwargs["base_url"] = args.base_url
    if args.credentials:
        kwargs["service_account_credentials"] = json.loads(args.credentials.read_text())
    if kwargs:
        request["provider_kwargs"] = {args.provider: kwargs}
    return request


async def _session(args: argparse.Namespace, out: TextIO) -> int:
    interrupts = Interrupts()
    history: list[Any] = [{"role": "system", "content": args.system}] if args.system else []
    code = _exit.OK
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(interrupts.watch, tg.cancel_scope)
            code = await _turns(args, out, history, interrupts)
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await aclose_http_clients()
    return _exit.INTERRUPTED if interrupts.exit_requested else code


async def _turns(
    args: argparse.Namespace, out: TextIO, history: list[Any], interrupts: Interrupts
) -> int:
    interactive = args.prompt is None
    tty = sys.stdin.isatty()
    while True:
        if interactive:
            if tty:
                out.write("you> ")
                out.flush()
            line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            if not line:
                return _exit.OK
            prompt = line.strip()
            if not prompt:
                continue
        else:
            prompt = args.prompt
        history.append({"role": "user", "content": prompt})
        try:
            with interrupts.generation() as scope:
                response = await _stream_one(args, out, history)
        except PipelineError as exc:
            out.flush()
            history.pop()
            code = _exit.report(exc)
            if not interactive:
                return code
            continue
        if scope.cancelled_caught:
            out.write("\n[stopped]\n")
            out.flush()
            history.pop()
            if not interactive:
                return _exit.INTERRUPTED
            continue
        if response is not None:
            history.append(serialize_conversation([response.message])[0])
        if not interactive:
            return _exit.OK


async def _stream_one(
    args: argparse.Namespace, out: TextIO, history: list[Any]
) -> ChatCompletionResponse | None:
    from .._api import generate_chat_completion_stream

    request = {**base_request(args), "messages": list(history)}
    sentences = args.sentences or args.clean
    options = {"stream_sentences": sentences, "clean_sentences": args.clean}
    response: ChatCompletionResponse | None = None
    stream = await generate_chat_completion_stream(request, options)
    async with stream:
        async for chunk in stream:
            if args.json:
                out.write(json.dumps(chunk_to_dict(chunk), ensure_ascii=False) + "\n")
            elif chunk.type == "content_delta":
                out.write(chunk.content)
            elif chunk.type == "content_sentence":
                out.write(chunk.sentence + "\n")
            elif chunk.type == "tool_call":
                call = chunk.tool_call.function
                out.write(f"\n[tool call] {call.name}({json.dumps(call.arguments)})\n")
            if chunk.type == "response":
                response = chunk.response
                if not args.json and not sentences:
                    out.write("\n")
            out.flush()
    return response
