"""The complete prefix of a cut-off JSON value, for a tool input that ``max_tokens`` stopped.

When generation stops inside a tool input, the API sends no ``content_block_stop`` and the
input is a prefix of JSON. Like the official SDK's partial-JSON reading, what is complete is
kept and what was cut is dropped: an unfinished string, number, key or literal disappears with
its key; containers are closed where the text ends.
"""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
_DELIMITERS = frozenset(",]}:" + _WHITESPACE)


class _Cut(Exception):
    """The text ended inside this value."""


def complete_prefix(text: str) -> Any:
    """The value ``text`` begins, keeping only its complete parts (``{}`` for blank text).

    Raises:
        ValueError: the text is not a prefix of a JSON value at all.
    """
    position = _skip(text, 0)
    if position == len(text):
        return {}
    try:
        value, _ = _value(text, position)
    except _Closed as closed:
        return closed.value
    except _Cut:
        return {}
    return value


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


def _value(text: str, position: int) -> tuple[Any, int]:
    if position >= len(text):
        raise _Cut
    char = text[position]
    if char == "{":
        return _object(text, position + 1)
    if char == "[":
        return _array(text, position + 1)
    if char == '"':
        try:
            return _DECODER.raw_decode(text, position)
        except json.JSONDecodeError:
            raise _Cut from None
    # A number or literal runs to the next delimiter; cut short, it is dropped unless what
    # arrived is already a valid one (as the SDK reads it: "12" of "125" stays 12).
    end = position
    while end < len(text) and text[end] not in _DELIMITERS:
        end += 1
    try:
        return json.loads(text[position:end]), end
    except ValueError:
        if end == len(text):
            raise _Cut from None
        raise


def _object(text: str, position: int) -> tuple[dict[str, Any], int]:
    result: dict[str, Any] = {}
    while True:
        position = _skip(text, position)
        if position >= len(text):
            raise _Closed(result)
        if text[position] == "}":
            return result, position + 1
        if text[position] == ",":
            position = _skip(text, position + 1)
        try:
            key, position = _value(text, position)
            position = _skip(text, position)
            if position >= len(text) or text[position] != ":":
                raise _Cut
            value, position = _value(text, _skip(text, position + 1))
        except _Closed as inner:
            result[key] = inner.value
            raise _Closed(result) from None
        except _Cut:
            raise _Closed(result) from None
        if not isinstance(key, str):
            raise ValueError("an object key is not a string")  # noqa: TRY004 - bad JSON, not a bad call
        result[key] = value


def _array(text: str, position: int) -> tuple[list[Any], int]:
    result: list[Any] = []
    while True:
        position = _skip(text, position)
        if position >= len(text):
            raise _Closed(result)
        if text[position] == "]":
            return result, position + 1
        if text[position] == ",":
            position = _skip(text, position + 1)
        try:
            value, position = _value(text, position)
        except _Closed as inner:
            result.append(inner.value)
            raise _Closed(result) from None
        except _Cut:
            raise _Closed(result) from None
        result.append(value)


class _Closed(_Cut):
    """The text ended inside a container; ``value`` is the container closed there."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value
