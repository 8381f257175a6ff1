"""The one cattrs converter that turns plain data into our types and back.

Request validation and conversation (de)serialization share it, so a message dict means the
same thing in both places. The hooks are strict where cattrs is lenient on purpose: ``"1.5"`` is
not a float, ``True`` is not an int, a string is not a list. Every failure becomes one line in
our own ``"<path>: <problem>"`` format through :func:`problems_of`, which walks cattrs'
exception groups; cattrs' own messages never reach the caller.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints, is_typeddict
from urllib.parse import urlsplit

from cattrs import BaseConverter, Converter
from cattrs.cols import list_structure_factory
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from ._secrets import SECRET_KWARGS, looks_like_secret, redact, scrub
from ._types import (
    AssistantMessage,
    CompletionsProvider,
    Message,
    ProviderKwargs,
    SystemMessage,
    ToolChoice,
    ToolResultMessage,
    UserMessage,
)

ROLES: dict[str, type[Message]] = {
    "system": SystemMessage,
    "user": UserMessage,
    "assistant": AssistantMessage,
    "tool": ToolResultMessage,
}
MESSAGE_TYPES: tuple[type[Message], ...] = tuple(ROLES.values())
PROVIDER_NAMES = tuple(p.value for p in CompletionsProvider)

_HINTS: dict[Any, dict[str, Any]] = {}

_N = TypeVar("_N", AttributeValidationNote, IterableValidationNote)
_TOOL_CHOICE_TYPES = (ToolChoice, ToolChoice | None)

_MAX_SHOWN = 40
_MAX_INT_BITS = 128


class Invalid(ValueError):
    """One problem with one value, worded for the caller; the path is added by the walker.

    ``template`` may contain ``{value}``, rendered by :func:`describe` so that a secret field
    shows only its type.
    """

    def __init__(self, template: str, value: Any = None) -> None:
        super().__init__(template)
        self.template = template
        self.value = value

    def render(self, *, secret: bool) -> str:
        return self.template.replace("{value}", describe(self.value, secret=secret))


def describe(value: Any, *, secret: bool = False) -> str:
    """A short, safe rendering of a rejected value: scalars by repr, the rest by type name.

    A string that looks like a credential is redacted (``'sk-…1234'``) even where no secret
    was expected: a key pasted into the wrong field must not reach an error message.
    """
    if secret or not isinstance(value, str | int | float | bool | None):
        return type(value).__name__
    if isinstance(value, str):
        if looks_like_secret(value):
            return redact(value)
        if len(value) > _MAX_SHOWN:
            return repr(value[: _MAX_SHOWN - 1] + "…")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        # repr() of a huge int is long, and past 4300 digits it raises.
        return f"an int of ~{int(value.bit_length() * math.log10(2)) + 1} digits"
    return repr(value)


def name_of(key: Any) -> str:
    """A mapping key as shown in a path: as text, unless it looks like a secret."""
    if isinstance(key, str):
        return redact(key) if looks_like_secret(key) else key
    return describe(key)


def join(path: str, name: str) -> str:
    """``join("retry", "max_retries") == "retry.max_retries"``; a bare name at the root."""
    return f"{path}.{name}" if path else name


def is_secret(path: str) -> bool:
    """Whether any segment of ``path`` names a secret (``api_key``, credentials, ...)."""
    return any(part in SECRET_KWARGS for part in re.split(r"[.\[\]]", path))


def type_hints(cl: Any) -> dict[str, Any]:
    """``get_type_hints(cl)``, remembered: resolving hints is the slow part of a check."""
    hints = _HINTS.get(cl)
    if hints is None:
        hints = _HINTS[cl] = get_type_hints(cl)
    return hints


def problems_of(exc: BaseException, path: str, *, root: str = "value") -> list[str]:
    """Every problem in a structuring failure, as ``"<path>: <problem>"`` lines, in order.

    Args:
        exc: What the converter raised.
        path: Where the structured value sits (``""`` at the root).
        root: The name shown for a problem with the root value itself.
    """
    if isinstance(exc, ClassValidationError):
        found: list[str] = []
        for sub in exc.exceptions:
            note = _note(sub, AttributeValidationNote)
            if isinstance(sub, ForbiddenExtraKeysError):
                # Keys of mixed types do not sort among themselves; their text does.
                extra = sorted(sub.extra_fields, key=str)
                found += [f"{join(path, name_of(k))}: unknown field" for k in extra]
            elif note is None:
                found += problems_of(sub, path, root=root)
            elif isinstance(sub, KeyError) and sub.args == (note.name,):
                # cattrs reports a required key that is absent as the KeyError of its lookup.
                found.append(f"{join(path, note.name)}: missing")
            else:
                found += problems_of(sub, join(path, note.name), root=root)
        return found
    if isinstance(exc, IterableValidationError):
        found = []
        for sub in exc.exceptions:
            index = _note(sub, IterableValidationNote)
            found += problems_of(
                sub, path if index is None else f"{path}[{index.index}]", root=root
            )
        return found
    shown = path or root
    if isinstance(exc, Invalid):
        return [f"{shown}: {exc.render(secret=is_secret(path))}"]
    # An exception no hook of ours raised: still name the place, never a secret's value.
    detail = type(exc).__name__ if is_secret(path) else scrub(str(exc)) or type(exc).__name__
    return [f"{shown}: invalid ({detail})"]


def _note(exc: BaseException, kind: type[_N]) -> _N | None:
    for note in getattr(exc, "__notes__", ()):
        if type(note) is kind:
            return note
    return None


def _group(cl: type, errors: list[tuple[str, Exception]]) -> ClassValidationError:
    """Problems found by a hook of ours under named keys, shaped like cattrs' own."""
    for name, exc in errors:
        exc.__notes__ = [*getattr(exc, "__notes__", ()), AttributeValidationNote(name, name, cl)]
    return ClassValidationError(f"While structuring {cl.__name__}", [e for _, e in errors], cl)


# ---------------------------------------------------------------- strict leaves


def _structure_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    raise Invalid("expected str, got {value}", value)


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise Invalid("expected bool, got {value}", value)


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise Invalid("expected int, got {value}", value)


def _structure_float(value: Any, _: Any) -> float:
    # An int is a fine float (temperature 0 or 1); a bool is not.
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise Invalid("{value} is too large for a float", value) from None
    raise Invalid("expected float, got {value}", value)


def _structure_bytes(value: Any, _: Any) -> bytes:
    # JSON has no bytes, so stored thought signatures arrive as base64 text.
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise Invalid("{value} is not valid base64", value) from None
    raise Invalid("expected bytes or a base64 string, got {value}", value)


def _structure_json_object(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid("expected dict, got {value}", value)
    for key in value:
        if not isinstance(key, str):
            raise Invalid("keys must be strings, got {value}", key)
    return dict(value)


def _structure_provider(value: Any, _: Any) -> CompletionsProvider:
    if isinstance(value, str) and value in PROVIDER_NAMES:
        return CompletionsProvider(value)
    if not isinstance(value, str):
        raise Invalid("expected str, got {value}", value)
    raise Invalid("{value} is not one of " + ", ".join(PROVIDER_NAMES), value)


def _is_tool_choice(cl: Any) -> bool:
    return cl in _TOOL_CHOICE_TYPES


def _structure_tool_choice(value: Any, _: Any) -> str | None:
    # Any string may name a tool; whether it does is checked against the request's tools.
    return None if value is None else _structure_str(value, str)


def _literal_hook(cl: Any) -> Callable[[Any, Any], Any]:
    choices = get_args(cl)
    wording = "{value} is not one of " + ", ".join(str(c) for c in choices)

    def structure_literal(value: Any, _: Any) -> Any:
        # ``type`` too, so that True never passes for 1 nor 1 for True.
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise Invalid(wording, value)

    return structure_literal


def _list_hook(cl: Any, converter: BaseConverter) -> Callable[[Any, Any], list[Any]]:
    structure_items = list_structure_factory(cl, converter)

    def structure_list(value: Any, cl: Any) -> list[Any]:
        # cattrs would happily iterate a string or a dict into a list.
        if not isinstance(value, list | tuple):
            raise Invalid("expected list, got {value}", value)
        return structure_items(value, cl)  # type: ignore[no-any-return]

    return structure_list


def _dataclass_hook(cl: Any, converter: BaseConverter) -> Callable[[Any, Any], Any]:
    structure_fields = make_dict_structure_fn(cl, converter)
    names = [f.name for f in dataclasses.fields(cl)]

    def structure_dataclass(value: Any, _: Any) -> Any:
        # A typed object is checked by the same rules as its dict form.
        if isinstance(value, cl):
            value = {name: getattr(value, name) for name in names}
        elif not isinstance(value, Mapping):
            raise Invalid("expected dict, got {value}", value)
        return structure_fields(value, cl)

    return structure_dataclass


def _structure_message(value: Any, _: Any) -> Message:
    if isinstance(value, MESSAGE_TYPES):
        return converter.structure(value, type(value))
    if not isinstance(value, Mapping):
        raise Invalid("expected dict, got {value}", value)
    role = value.get("role")
    if "role" not in value:
        raise _group(dict, [("role", Invalid("missing"))])
    if not isinstance(role, str) or role not in ROLES:
        wording = "{value} is not one of " + ", ".join(ROLES)
        raise _group(dict, [("role", Invalid(wording, role))])
    cl = ROLES[role]
    body = {k: v for k, v in value.items() if k != "role"}
    return converter.structure(body, cl)


def _structure_provider_kwargs(value: Any, _: Any) -> dict[str, dict[str, Any]]:
    # Kept as plain dicts for the codecs. The options of each provider are exactly the keys of
    # its TypedDict: a codec reads only those, so any other key would be dropped without a
    # word. Parameters this library does not model go in ``extra_body``.
    if not isinstance(value, Mapping):
        raise Invalid("expected dict, got {value}", value)
    hints = type_hints(ProviderKwargs)
    result: dict[str, dict[str, Any]] = {}
    errors: list[tuple[str, Exception]] = []
    for key, options in value.items():
        if key not in hints:
            errors.append((name_of(key), Invalid("unknown provider")))
            continue
        try:
            _check_typed_dict(options, hints[key], forbid_unknown=True)
        except (Invalid, BaseValidationError) as exc:
            errors.append((key, exc))
            continue
        result[str(key)] = dict(options)
    if errors:
        raise _group(ProviderKwargs, errors)
    return result


def _check_typed_dict(value: Any, cl: Any, *, forbid_unknown: bool = False) -> None:
    """Check the known keys of a TypedDict-shaped dict; with ``forbid_unknown``, refuse others.

    Nested option dicts (Anthropic ``thinking``, Gemini ``thinking_config``) are sent by their
    codecs as given, so a key we do not know there still reaches the provider: it is let
    through rather than refused.
    """
    if not isinstance(value, Mapping):
        raise Invalid("expected dict, got {value}", value)
    hints = type_hints(cl)
    errors: list[tuple[str, Exception]] = []
    for key, item in value.items():
        if key not in hints:
            if forbid_unknown:
                errors.append((name_of(key), _unknown_option(key, hints)))
            continue
        try:
            if is_typeddict(hints[key]):
                _check_typed_dict(item, hints[key])
            else:
                converter.structure(item, hints[key])
            if key == "base_url" and not _is_http_url(item):
                raise Invalid("{value} is not an http(s) URL", item)
        except (Invalid, BaseValidationError) as exc:
            errors.append((key, exc))
    if errors:
        raise _group(cl, errors)


def _unknown_option(key: Any, known: Collection[str]) -> Invalid:
    close = difflib.get_close_matches(key, known, n=1) if isinstance(key, str) else []
    if close:
        return Invalid(f"unknown option; did you mean {close[0]!r}?")
    return Invalid("unknown option; the options are " + ", ".join(sorted(known)))


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


# ---------------------------------------------------------------- unstructuring


def _unstructure_bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _message_unstructure_hook(cl: Any, converter: BaseConverter) -> Callable[[Any], dict[str, Any]]:
    # None-valued optional fields are left out: stored conversations stay compact.
    unstructure_fields = make_dict_unstructure_fn(cl, converter, _cattrs_omit_if_default=True)

    def unstructure_message(message: Any) -> dict[str, Any]:
        return {"role": message.role, **unstructure_fields(message)}

    return unstructure_message


def _is_dataclass(cl: Any) -> bool:
    return dataclasses.is_dataclass(cl) and isinstance(cl, type)


def _is_list(cl: Any) -> bool:
    return get_origin(cl) is list


def _is_literal(cl: Any) -> bool:
    return get_origin(cl) is Literal


def _make_converter() -> Converter:
    conv = Converter(detailed_validation=True, forbid_extra_keys=True, omit_if_default=True)
    # Later registrations win, so the general factories come first.
    conv.register_structure_hook_factory(_is_dataclass, _dataclass_hook)
    conv.register_structure_hook_factory(_is_list, _list_hook)
    conv.register_structure_hook_factory(_is_literal, _literal_hook)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(bytes, _structure_bytes)
    conv.register_structure_hook(CompletionsProvider, _structure_provider)
    conv.register_structure_hook_func(lambda cl: cl == dict[str, Any], _structure_json_object)
    conv.register_structure_hook_func(_is_tool_choice, _structure_tool_choice)
    conv.register_structure_hook_func(lambda cl: cl == Message, _structure_message)
    conv.register_structure_hook_func(lambda cl: cl is ProviderKwargs, _structure_provider_kwargs)
    conv.register_unstructure_hook(bytes, _unstructure_bytes)
    conv.register_unstructure_hook_factory(
        lambda cl: cl in MESSAGE_TYPES, _message_unstructure_hook
    )
    return conv


converter = _make_converter()
"""The shared converter; its hooks only read module constants, so sharing it is safe."""
