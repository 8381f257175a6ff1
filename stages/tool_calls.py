"""Tool-call assembly: fragments in, whole tool calls with parsed arguments out.

Calls are keyed by (choice, index). A call is complete when its provider says so
(:class:`ToolCallEnded`), when generation finishes, or at end of stream; only then are its
arguments parsed, since a prefix of JSON is not JSON. Arguments may arrive in many fragments or
whole in one; empty arguments mean ``{}``. Arguments that are not a JSON object raise
:class:`ToolCallArgumentsError`, which keeps the raw string.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline._core import Poisonable, guarded
from pipeline._errors import ToolCallArgumentsError
from pipeline._events import (
    Event,
    Finish,
    ToolCallArgumentsDelta,
    ToolCallEnded,
    ToolCallReady,
    ToolCallStarted,
)
from pipeline._types import FunctionCall, ToolCall


@dataclass(slots=True)
class _OpenCall:
    started: ToolCallStarted
    fragments: list[str] = field(default_factory=list)


class ToolCallAssembler(Poisonable):
    """Pass every event through, replacing tool-call fragments by :class:`ToolCallReady`."""

    __slots__ = ("_open", "_provider")

    def __init__(self, *, provider: str = "unknown") -> None:
        super().__init__()
        self._provider = provider
        self._open: dict[tuple[int, int], _OpenCall] = {}

    @guarded
    def feed(self, event: Event, /) -> Sequence[Event]:
        """Consume one event; return the events it releases."""
        if isinstance(event, ToolCallArgumentsDelta):
            call = self._open.get((event.choice, event.index))
            if call is None:
                raise ToolCallArgumentsError(
                    f"arguments for tool call {event.index} arrived before the call began",
                    provider=self._provider,
                    tool_name="?",
                    raw_arguments=event.fragment,
                )
            call.fragments.append(event.fragment)
            return ()
        if isinstance(event, ToolCallStarted):
            key = (event.choice, event.index)
            released = [self._complete(key)] if key in self._open else []
            self._open[key] = _OpenCall(event)
            return released
        if isinstance(event, ToolCallEnded):
            key = (event.choice, event.index)
            return [self._complete(key)] if key in self._open else ()
        if isinstance(event, Finish):
            return [*self._complete_all(event.choice), event]
        return (event,)

    @guarded
    def flush(self) -> list[Event]:
        """End of stream: complete every call still open, in index order."""
        return [self._complete(key) for key in sorted(self._open)]

    def _complete_all(self, choice: int) -> list[Event]:
        return [self._complete(key) for key in sorted(self._open) if key[0] == choice]

    def _complete(self, key: tuple[int, int]) -> ToolCallReady:
        call = self._open.pop(key)
        started = call.started
        raw = "".join(call.fragments)
        arguments = parse_arguments(raw, tool_name=started.name, provider=self._provider)
        tool_call = ToolCall(
            id=started.id,
            type="function",
            function=FunctionCall(arguments=arguments, name=started.name),
            index=started.index,
            thought_signature=started.thought_signature,
        )
        return ToolCallReady(tool_call=tool_call, choice=started.choice)


def parse_arguments(raw: str, *, tool_name: str, provider: str = "unknown") -> dict[str, Any]:
    """Parse a tool call's JSON arguments; blank means no arguments."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ToolCallArgumentsError(
            f"tool call {tool_name!r} has arguments that are not valid JSON "
            f"({exc.msg} at character {exc.pos}): {raw!r}",
            provider=provider,
            tool_name=tool_name,
            raw_arguments=raw,
        ) from None
    if not isinstance(value, dict):
        raise ToolCallArgumentsError(
            f"tool call {tool_name!r} has arguments that are a JSON "
            f"{type(value).__name__}, not an object: {raw!r}",
            provider=provider,
            tool_name=tool_name,
            raw_arguments=raw,
        )
    return value
