"""Tool-call assembly: by index, whole or fragmented arguments, parallel calls, errors."""

from __future__ import annotations

import pytest

from pipeline import ToolCallArgumentsError
from pipeline._events import (
    Event,
    Finish,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallEnded,
    ToolCallReady,
    ToolCallStarted,
)
from stages.tool_calls import ToolCallAssembler


def run(*events: Event) -> list[Event]:
    assembler = ToolCallAssembler(provider="openai")
    out = [item for event in events for item in assembler.feed(event)]
    return out + assembler.flush()


def ready(out: list[Event]) -> list[tuple[int | None, str, str, dict[str, object]]]:
    return [
        (
            e.tool_call.index,
            e.tool_call.id,
            e.tool_call.function.name,
            e.tool_call.function.arguments,
        )
        for e in out
        if isinstance(e, ToolCallReady)
    ]


def test_fragments_are_joined_and_parsed_when_the_call_ends() -> None:
    out = run(
        ToolCallStarted(index=0, id="c1", name="f"),
        ToolCallArgumentsDelta(index=0, fragment='{"a": '),
        ToolCallArgumentsDelta(index=0, fragment="1}"),
        ToolCallEnded(index=0),
    )
    assert ready(out) == [(0, "c1", "f", {"a": 1})]


def test_whole_arguments_in_one_fragment() -> None:
    out = run(
        ToolCallStarted(index=0, id="c1", name="f"),
        ToolCallArgumentsDelta(index=0, fragment='{"city": "Paris"}'),
    )
    assert ready(out) == [(0, "c1", "f", {"city": "Paris"})]


@pytest.mark.parametrize("fragments", [[], [""], ["  "]])
def test_empty_arguments_mean_an_empty_object(fragments: list[str]) -> None:
    out = run(
        ToolCallStarted(index=0, id="c1", name="f"),
        *(ToolCallArgumentsDelta(index=0, fragment=f) for f in fragments),
        ToolCallEnded(index=0),
    )
    assert ready(out) == [(0, "c1", "f", {})]


def test_parallel_calls_interleaved_by_index_complete_on_finish_in_index_order() -> None:
    out = run(
        ToolCallStarted(index=1, id="b", name="g"),
        ToolCallStarted(index=0, id="a", name="f"),
        ToolCallArgumentsDelta(index=1, fragment='{"y":'),
        ToolCallArgumentsDelta(index=0, fragment='{"x":1}'),
        ToolCallArgumentsDelta(index=1, fragment="2}"),
        Finish(reason="tool_calls"),
    )
    assert ready(out) == [(0, "a", "f", {"x": 1}), (1, "b", "g", {"y": 2})]
    assert isinstance(out[-1], Finish)


def test_other_events_pass_through_in_order() -> None:
    out = run(
        TextDelta(text="Let me check."),
        ToolCallStarted(index=0, id="a", name="f"),
        ToolCallEnded(index=0),
        Finish(reason="tool_calls"),
    )
    assert [type(e).__name__ for e in out] == ["TextDelta", "ToolCallReady", "Finish"]


def test_open_calls_are_flushed_at_end_of_stream() -> None:
    out = run(
        ToolCallStarted(index=0, id="a", name="f"), ToolCallArgumentsDelta(index=0, fragment="{}")
    )
    assert ready(out) == [(0, "a", "f", {})]


def test_calls_of_different_choices_are_kept_apart() -> None:
    out = run(
        ToolCallStarted(index=0, id="a", name="f", choice=0),
        ToolCallStarted(index=0, id="b", name="g", choice=1),
        ToolCallArgumentsDelta(index=0, fragment='{"c":0}', choice=0),
        ToolCallArgumentsDelta(index=0, fragment='{"c":1}', choice=1),
        Finish(reason="tool_calls", choice=1),
        Finish(reason="tool_calls", choice=0),
    )
    assert ready(out) == [(0, "b", "g", {"c": 1}), (0, "a", "f", {"c": 0})]


def test_invalid_json_is_a_protocol_error_that_keeps_the_raw_string() -> None:
    with pytest.raises(ToolCallArgumentsError) as info:
        run(
            ToolCallStarted(index=0, id="a", name="get_weather"),
            ToolCallArgumentsDelta(index=0, fragment='{"city": "Par'),
            ToolCallEnded(index=0),
        )
    assert info.value.raw_arguments == '{"city": "Par'
    assert info.value.tool_name == "get_weather"
    assert "get_weather" in str(info.value)


def test_arguments_that_are_not_an_object_are_rejected() -> None:
    with pytest.raises(ToolCallArgumentsError, match="JSON list, not an object"):
        run(
            ToolCallStarted(index=0, id="a", name="f"),
            ToolCallArgumentsDelta(index=0, fragment="[1, 2]"),
        )


def test_fragment_for_an_unknown_call_is_rejected() -> None:
    with pytest.raises(ToolCallArgumentsError, match="before the call began"):
        run(ToolCallArgumentsDelta(index=3, fragment="{}"))
