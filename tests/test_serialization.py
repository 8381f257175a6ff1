"""Conversation serialization: exact round trips, JSON safety, and rejection messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline._errors import RequestValidationError
from pipeline._serialization import deserialize_conversation, serialize_conversation
from pipeline._types import (
    AssistantMessage,
    CacheBreakpoint,
    FunctionCall,
    Message,
    ReasoningBlock,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from pipeline._validation import to_request

ROLES = "system, user, assistant, tool"

# ---------------------------------------------------------------- strategies

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(), json_values, max_size=4)
cache = st.none() | st.builds(CacheBreakpoint, st.sampled_from(["5m", "1h"]))
maybe_text = st.none() | st.text()
signature = st.none() | st.binary(max_size=40)

tool_calls = st.builds(
    ToolCall,
    id=st.text(min_size=1),
    type=st.just("function"),
    function=st.builds(FunctionCall, arguments=json_objects, name=st.text(min_size=1)),
    index=st.none() | st.integers(min_value=0, max_value=20),
    thought_signature=signature,
)
reasoning_blocks = st.builds(
    ReasoningBlock, text=st.text(), signature=maybe_text, redacted_data=maybe_text
)
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(SystemMessage, content=st.text(), cache_breakpoint=cache),
    st.builds(UserMessage, content=st.text(), cache_breakpoint=cache),
    st.builds(
        AssistantMessage,
        content=maybe_text,
        tool_calls=st.none() | st.lists(tool_calls, max_size=3),
        cache_breakpoint=cache,
        thought_signature=signature,
        reasoning=st.none() | st.lists(reasoning_blocks, max_size=2),
        refusal=maybe_text,
    ),
    st.builds(
        ToolResultMessage,
        tool_call_id=st.text(min_size=1),
        content=json_objects,
        name=maybe_text,
        cache_breakpoint=cache,
    ),
)
conversations = st.lists(messages, max_size=6)


# ---------------------------------------------------------------- round trips


@settings(max_examples=300, deadline=None)
@given(conversations)
def test_round_trip_is_exact_and_json_safe(conversation: list[Message]) -> None:
    serialized = serialize_conversation(conversation)
    assert deserialize_conversation(serialized) == conversation
    through_json = json.loads(json.dumps(serialized))
    assert through_json == serialized
    assert deserialize_conversation(through_json) == conversation


@settings(max_examples=100, deadline=None)
@given(conversations)
def test_output_is_role_tagged_and_has_no_none_fields(conversation: list[Message]) -> None:
    serialized = serialize_conversation(conversation)
    assert [entry["role"] for entry in serialized] == [m.role for m in conversation]
    for entry in serialized:
        assert None not in [v for k, v in entry.items() if k != "content"]
        assert entry.get("content", "") is not None


def test_stored_conversation_is_accepted_as_request_messages() -> None:
    conversation: list[Message] = [
        UserMessage("hi"),
        AssistantMessage(
            tool_calls=[ToolCall("c1", "function", FunctionCall({"q": 1}, "f"), 0, b"\xff\x00")]
        ),
        ToolResultMessage("c1", {"ok": True}),
    ]
    stored = json.loads(json.dumps(serialize_conversation(conversation)))
    request = to_request({"provider": "google", "model": "gemini", "messages": stored})
    assert request.messages == conversation


# ---------------------------------------------------------------- the format, explicitly


def test_simple_messages_are_compact() -> None:
    assert serialize_conversation(
        [SystemMessage("Be brief."), UserMessage("Hi", CacheBreakpoint("1h"))]
    ) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi", "cache_breakpoint": {"ttl": "1h"}},
    ]


def test_assistant_message_with_everything() -> None:
    message = AssistantMessage(
        content="Checking.",
        tool_calls=[
            ToolCall(
                id="call_1",
                type="function",
                function=FunctionCall(arguments={"city": "Paris", "days": [1, 2]}, name="weather"),
                index=0,
                thought_signature=b"sig-bytes",
            )
        ],
        thought_signature=b"\x00\x01\x02",
        reasoning=[
            ReasoningBlock("Need weather.", signature="abc"),
            ReasoningBlock(redacted_data="xyz"),
        ],
    )
    assert serialize_conversation([message]) == [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"arguments": {"city": "Paris", "days": [1, 2]}, "name": "weather"},
                    "index": 0,
                    "thought_signature": "c2lnLWJ5dGVz",
                }
            ],
            "thought_signature": "AAEC",
            "reasoning": [
                {"text": "Need weather.", "signature": "abc"},
                {"redacted_data": "xyz"},
            ],
        }
    ]


def test_tool_result_message() -> None:
    assert serialize_conversation([ToolResultMessage("call_1", {"temp": None}, "weather")]) == [
        {"role": "tool", "tool_call_id": "call_1", "content": {"temp": None}, "name": "weather"}
    ]


def test_empty_strings_and_lists_are_kept_apart_from_none() -> None:
    conversation: list[Message] = [AssistantMessage(content="", tool_calls=[], reasoning=[])]
    serialized = serialize_conversation(conversation)
    assert serialized == [{"role": "assistant", "content": "", "tool_calls": [], "reasoning": []}]
    assert deserialize_conversation(serialized) == conversation


def test_output_shares_nothing_with_the_conversation() -> None:
    arguments: dict[str, Any] = {"nested": {"a": [1]}}
    conversation: list[Message] = [
        AssistantMessage(tool_calls=[ToolCall("c", "function", FunctionCall(arguments, "f"))])
    ]
    serialized = serialize_conversation(conversation)
    serialized[0]["tool_calls"][0]["function"]["arguments"]["nested"]["a"].append(2)
    assert arguments == {"nested": {"a": [1]}}


def test_empty_conversation() -> None:
    assert serialize_conversation([]) == []
    assert deserialize_conversation([]) == []


def test_deserialize_accepts_raw_bytes_for_signatures() -> None:
    stored = [{"role": "assistant", "thought_signature": b"\x01"}]
    assert deserialize_conversation(stored) == [AssistantMessage(thought_signature=b"\x01")]


# ---------------------------------------------------------------- rejections


def rejected(data: Any) -> list[str]:
    with pytest.raises(RequestValidationError) as info:
        deserialize_conversation(data)
    return list(info.value.problems)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "x"}],
            [f"[2].role: 'x' is not one of {ROLES}"],
        ),
        ([{"content": "a"}], ["[0].role: missing"]),
        ([{"role": None}], [f"[0].role: None is not one of {ROLES}"]),
        (
            [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "a", "type": "function", "function": {"arguments": {}, "name": "f"}},
                        {"id": "b", "type": "function", "function": {"arguments": {}}},
                    ],
                }
            ],
            ["[0].tool_calls[1].function.name: missing"],
        ),
        (
            [{"role": "assistant", "tool_calls": [{"id": "a", "function": "f"}]}],
            [
                "[0].tool_calls[0].type: missing",
                "[0].tool_calls[0].function: expected dict, got 'f'",
            ],
        ),
        (
            [{"role": "assistant", "thought_signature": "%%%"}],
            ["[0].thought_signature: '%%%' is not valid base64"],
        ),
        ([{"role": "user", "content": "a", "extra": 1}], ["[0].extra: unknown field"]),
        ([{"role": "tool", "content": {}}], ["[0].tool_call_id: missing"]),
        (
            [{"role": "assistant", "reasoning": [{"text": 1}]}],
            ["[0].reasoning[0].text: expected str, got 1"],
        ),
        (["hello", 3], ["[0]: expected dict, got 'hello'", "[1]: expected dict, got 3"]),
        ({"role": "user"}, ["conversation: expected list, got dict"]),
        ("[]", ["conversation: expected list, got '[]'"]),
    ],
)
def test_malformed_entries_are_rejected_with_paths(data: Any, expected: list[str]) -> None:
    assert rejected(data) == expected


def test_every_malformed_entry_is_reported_at_once() -> None:
    found = rejected(
        [
            {"role": "robot"},
            {"role": "user", "content": "fine"},
            {"role": "system"},
            {"role": "tool", "tool_call_id": 5, "content": []},
        ]
    )
    assert found == [
        f"[0].role: 'robot' is not one of {ROLES}",
        "[2].content: missing",
        "[3].tool_call_id: expected str, got 5",
        "[3].content: expected dict, got list",
    ]


def test_rejection_is_not_chained_to_cattrs_internals() -> None:
    with pytest.raises(RequestValidationError) as info:
        deserialize_conversation([{"role": "robot"}])
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


def test_serialize_rejects_entries_that_are_not_messages() -> None:
    with pytest.raises(RequestValidationError) as info:
        serialize_conversation([UserMessage("a"), {"role": "user", "content": "b"}])  # type: ignore[list-item]
    assert info.value.problems == ("[1]: expected a message, got dict",)
    with pytest.raises(RequestValidationError) as info:
        serialize_conversation("hello")  # type: ignore[arg-type]
    assert info.value.problems == ("conversation: expected list, got 'hello'",)
