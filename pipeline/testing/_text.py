"""Words for synthetic replies: the demo text, generated filler, tool-call arguments, and the
ids and token counts that go with them.

Provider-neutral: each wire format turns these pieces into its own chunk shape.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any

from ._scenarios import Synthetic, encode_scenario
from ._wire import STAMP_PLACEHOLDER, compact_json

__all__ = (
    "DEFAULT_SCENARIO",
    "DEMO_TEXT",
    "ToolCallSpec",
    "output_tokens",
    "prompt_tokens",
    "scenario_digest",
    "synthetic_tokens",
    "synthetic_tool_calls",
)

DEMO_TEXT = (
    "Hi there! I'm the **local demo model**, and this reply is streaming to you token by token "
    "from a small server on your own machine. A voice agent can start speaking as soon as the "
    "first sentence is complete, long before the last word has arrived.\n\n"
    "Here is what is happening behind the scenes:\n\n"
    "- Your request travelled over a real HTTP connection, with no network beyond loopback.\n"
    "- The server answers in the provider's own wire format, so the client code is exactly the "
    "one that talks to the real API.\n"
    "- Markdown such as *this emphasis* is cleaned up before any sentence reaches "
    "text-to-speech.\n\n"
    "Thanks for trying it out. Ask me anything, and I'll answer just as quickly!"
)

# Generated text reads like English so the sentence segmenter has real work to do: every
# sentence ends with a period and the next one starts with a capital letter.
_VOCABULARY = (
    "the", "voice", "agent", "streams", "every", "token", "to", "the", "listener", "as", "soon",
    "as", "it", "arrives", "from", "the", "model", "while", "the", "next", "sentence", "is",
    "still", "being", "written", "by", "a", "fast", "and", "careful", "pipeline",
)  # fmt: skip
_SENTENCE_WORDS = 11

_TOKEN = re.compile(r"\s*\S+")


def _words_of(text: str) -> list[str]:
    """Split ``text`` into word tokens that keep their leading whitespace (they join back)."""
    tokens = _TOKEN.findall(text)
    trailing = text[len("".join(tokens)) :]
    if tokens and trailing:
        tokens[-1] += trailing
    return tokens


@functools.lru_cache(maxsize=128)
def synthetic_tokens(spec: Synthetic) -> tuple[str, ...]:
    """The ``spec.deltas`` content deltas of a synthetic reply, in order.

    With ``spec.send_stamps`` each carries :data:`~._wire.STAMP_PLACEHOLDER` after its leading
    whitespace, for the HTTP layer to overwrite with the send time.
    """
    tokens = _plain_tokens(spec)
    if not spec.send_stamps:
        return tokens
    stamped = []
    for token in tokens:
        space = len(token) - len(token.lstrip())
        stamped.append(f"{token[:space]}{STAMP_PLACEHOLDER} {token[space:]}")
    return tuple(stamped)


def _plain_tokens(spec: Synthetic) -> tuple[str, ...]:
    if spec.text is not None:
        words = _words_of(spec.text)
        out: list[str] = []
        while len(out) < spec.deltas:
            for word in words:
                if len(out) == spec.deltas:
                    break
                # A new lap of the text needs a space, or "end." and "Hello" would fuse.
                if out and len(out) % len(words) == 0 and not word[:1].isspace():
                    word = " " + word
                out.append(word)
        return tuple(out)
    generated: list[str] = []
    for i in range(spec.deltas):
        position = i % _SENTENCE_WORDS
        word = _VOCABULARY[i % len(_VOCABULARY)]
        if position == 0:
            word = word.capitalize()
        if position == _SENTENCE_WORDS - 1 or i == spec.deltas - 1:
            word += "."
        generated.append(word if i == 0 else " " + word)
    return tuple(generated)


class ToolCallSpec:
    """One synthetic tool call: its id, name and arguments split into streaming fragments."""

    __slots__ = ("arguments", "fragments", "id", "index", "name")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id = f"call_local{index:04d}"
        self.name = "get_weather"
        cities = ("Paris", "Tokyo", "San Francisco", "Nairobi", "Lima")
        self.arguments = json.dumps(
            {"location": cities[index % len(cities)], "unit": "celsius"}, separators=(",", ":")
        )
        # Real providers split arguments at arbitrary points; thirds exercise the assembler.
        third = max(1, len(self.arguments) // 3)
        self.fragments = (
            self.arguments[:third],
            self.arguments[third : 2 * third],
            self.arguments[2 * third :],
        )


def synthetic_tool_calls(spec: Synthetic) -> tuple[ToolCallSpec, ...]:
    """The tool calls of a synthetic reply (``spec.tool_calls`` of them)."""
    return tuple(ToolCallSpec(i) for i in range(spec.tool_calls))


def output_tokens(spec: Synthetic) -> int:
    """The output token count of a synthetic reply: one a delta, a quarter of the argument bytes."""
    return spec.deltas + sum(max(1, len(c.arguments) // 4) for c in synthetic_tool_calls(spec))


def prompt_tokens(body: Any) -> int:
    """A rough prompt token count of a ``messages`` request body (4 bytes a token)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    return max(1, len(compact_json(messages or [])) // 4)


def scenario_digest(spec: Synthetic, size: int = 12) -> str:
    """A hex digest of ``spec`` for response ids, the same in every process."""
    # hashlib, not hash(): str hashes change per process and the bytes should not.
    return hashlib.blake2b(encode_scenario(spec).encode(), digest_size=size).hexdigest()


DEFAULT_SCENARIO = Synthetic(
    len(_words_of(DEMO_TEXT)), text=DEMO_TEXT, pace_ms=35.0, first_token_delay_ms=300.0
)
"""What ``/v1`` without a scenario serves: the demo reply at a comfortable reading pace."""
