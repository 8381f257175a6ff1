"""The stage runtime: core fusion (synchronous) and stage graphs (on trio and on asyncio)."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import pytest

from pipeline import FusedCore, StageCore, fuse, open_stage_graph
from pipeline._core import Poisonable, PoisonedCoreError, guarded
from pipeline._runtime import unwrap_single

# ---------------------------------------------------------------- simple cores of our own


class Doubler:
    """Every item twice."""

    def feed(self, item: Any, /) -> list[Any]:
        return [item, item]

    def flush(self) -> list[Any]:
        return []


class AddOne:
    def feed(self, item: int, /) -> list[int]:
        return [item + 1]

    def flush(self) -> list[int]:
        return []


class Pairer:
    """Holds items back and emits them in pairs; an odd one out comes out on flush."""

    def __init__(self) -> None:
        self.held: list[Any] = []

    def feed(self, item: Any, /) -> list[Any]:
        self.held.append(item)
        if len(self.held) == 2:
            pair, self.held = tuple(self.held), []
            return [pair]
        return []

    def flush(self) -> list[Any]:
        rest, self.held = self.held, []
        return [tuple(rest)] if rest else []


class Tagger:
    """Emits nothing until flush, then every item seen plus an end marker (order matters)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[Any] = []

    def feed(self, item: Any, /) -> list[Any]:
        self.seen.append(item)
        return []

    def flush(self) -> list[Any]:
        return [*self.seen, f"end:{self.name}"]


class Upper(Poisonable):
    """Upper-cases strings; anything else is malformed input and poisons the core."""

    __slots__ = ()

    @guarded
    def feed(self, item: Any, /) -> Sequence[str]:
        if not isinstance(item, str):
            raise TypeError(f"not a string: {item!r}")
        return (item.upper(),)

    @guarded
    def flush(self) -> Sequence[str]:
        return ()


class Boom:
    """A core that fails on one particular item."""

    def __init__(self, bad: Any) -> None:
        self.bad = bad

    def feed(self, item: Any, /) -> list[Any]:
        if item == self.bad:
            raise ValueError(f"core refused {item!r}")
        return [item]

    def flush(self) -> list[Any]:
        return []


def run_one_by_one(cores: Sequence[StageCore[Any, Any]], items: Sequence[Any]) -> list[Any]:
    """Reference semantics: run each core over the whole input (fed + flushed) in turn."""
    current = list(items)
    for core in cores:
        out: list[Any] = []
        for item in current:
            out.extend(core.feed(item))
        out.extend(core.flush())
        current = out
    return current


def run_fused(core: StageCore[Any, Any], items: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.extend(core.feed(item))
    out.extend(core.flush())
    return out


# ---------------------------------------------------------------- FusedCore, fuse


def test_fused_feed_equals_cores_applied_one_by_one() -> None:
    items = [1, 2, 3, 4, 5]
    expected = run_one_by_one([Doubler(), AddOne(), Pairer(), Doubler()], items)
    fused = FusedCore([Doubler(), AddOne(), Pairer(), Doubler()])
    assert run_fused(fused, items) == expected
    pairs = [(2, 2), (3, 3), (4, 4), (5, 5), (6, 6)]
    assert expected == [pair for pair in pairs for _ in range(2)]  # the reference is right
    odd = run_one_by_one([AddOne(), Pairer(), Doubler()], items)
    assert run_fused(FusedCore([AddOne(), Pairer(), Doubler()]), items) == odd
    assert odd == [(2, 3), (2, 3), (4, 5), (4, 5), (6,), (6,)]


def test_fused_feed_returns_outputs_as_soon_as_they_are_certain() -> None:
    fused = FusedCore([AddOne(), Pairer()])
    assert fused.feed(1) == []
    assert fused.feed(2) == [(2, 3)]
    assert fused.feed(3) == []
    assert fused.flush() == [(4,)]


def test_fused_feed_returns_a_list_even_when_a_core_returns_a_tuple() -> None:
    fused = FusedCore([Upper(), Doubler()])
    out = fused.feed("a")
    assert out == ["A", "A"]
    assert isinstance(out, list)


def test_flush_cascades_remainders_through_later_cores() -> None:
    # Pairer holds 3 back; on flush (3,) goes through Tagger, which then flushes last.
    tagger_b = Tagger("b")
    fused = FusedCore([Pairer(), Tagger("a"), tagger_b])
    assert fused.feed(1) == []
    assert fused.feed(2) == []
    assert fused.feed(3) == []
    assert fused.flush() == [(1, 2), (3,), "end:a", "end:b"]
    assert tagger_b.seen == [(1, 2), (3,), "end:a"]


def test_flush_cascade_matches_one_by_one_reference() -> None:
    items = list(range(7))
    expected = run_one_by_one([Pairer(), Tagger("x"), Pairer(), Tagger("y")], items)
    fused = FusedCore([Pairer(), Tagger("x"), Pairer(), Tagger("y")])
    assert run_fused(fused, items) == expected


def test_nested_fused_core_flattens() -> None:
    a, b, c, d = AddOne(), Doubler(), Pairer(), AddOne()
    nested = FusedCore([a, FusedCore([b, FusedCore([c])]), d])
    assert nested.cores == (a, b, c, d)
    assert all(not isinstance(core, FusedCore) for core in nested.cores)
    fused = fuse(fuse(a, b), fuse(c, d))
    assert isinstance(fused, FusedCore)
    assert fused.cores == (a, b, c, d)


def test_empty_fused_core_passes_items_through() -> None:
    empty = FusedCore([])
    assert empty.feed("x") == ["x"]
    assert empty.flush() == []


def test_fuse_of_one_core_returns_it() -> None:
    core = AddOne()
    assert fuse(core) is core
    fused = FusedCore([AddOne()])
    assert fuse(fused) is fused


def test_fuse_of_several_is_a_fused_core_and_a_stage_core() -> None:
    fused = fuse(AddOne(), AddOne())
    assert isinstance(fused, FusedCore)
    assert isinstance(fused, StageCore)
    assert fused.feed(1) == [3]


def test_poisoned_core_fails_fast_with_the_cause() -> None:
    core = Upper()
    assert core.feed("ok") == ("OK",)
    with pytest.raises(TypeError, match="not a string") as first:
        core.feed(42)
    with pytest.raises(PoisonedCoreError, match="Upper already failed") as later:
        core.feed("fine")
    assert later.value.__cause__ is first.value
    with pytest.raises(PoisonedCoreError, match="not a string") as on_flush:
        core.flush()
    assert on_flush.value.__cause__ is first.value


def test_poisoned_core_inside_a_fused_core_fails_fast_too() -> None:
    fused = fuse(Doubler(), Upper())
    with pytest.raises(TypeError):
        fused.feed(1)
    with pytest.raises(PoisonedCoreError) as later:
        fused.feed("a")
    assert isinstance(later.value.__cause__, TypeError)
    with pytest.raises(PoisonedCoreError):
        fused.flush()


def test_poisoned_core_error_is_a_pipeline_error() -> None:
    from pipeline import PipelineError

    assert issubclass(PoisonedCoreError, PipelineError)


def test_unwrap_single_unwraps_nested_single_groups_only() -> None:
    error = ValueError("x")
    assert unwrap_single(ExceptionGroup("g", [ExceptionGroup("h", [error])])) is error
    two = ExceptionGroup("g", [ValueError("a"), KeyError("b")])
    assert unwrap_single(two) is two
    inner_two = ExceptionGroup("h", [ValueError("a"), KeyError("b")])
    assert unwrap_single(ExceptionGroup("g", [inner_two])) is inner_two


# ---------------------------------------------------------------- graph helpers


class Source:
    """An async iterable source that records being closed and how much was pulled from it."""

    def __init__(self, items: Sequence[Any], *, gate: anyio.Event | None = None) -> None:
        self.items = list(items)
        self.gate = gate
        self.pulled = 0
        self.closed = False
        self.close_calls = 0

    def __aiter__(self) -> Source:
        return self

    async def __anext__(self) -> Any:
        if self.gate is not None:
            await self.gate.wait()
        else:
            await anyio.lowlevel.checkpoint()
        if self.pulled >= len(self.items):
            raise StopAsyncIteration
        self.pulled += 1
        return self.items[self.pulled - 1]

    async def aclose(self) -> None:
        self.close_calls += 1
        self.closed = True


class EndlessSource(Source):
    def __init__(self) -> None:
        super().__init__([])

    async def __anext__(self) -> Any:
        await anyio.lowlevel.checkpoint()
        self.pulled += 1
        return self.pulled


async def tts(sentences: AsyncIterator[str]) -> AsyncIterator[str]:
    """Simulates one awaited call (a TTS request) per sentence."""
    async for sentence in sentences:
        await anyio.lowlevel.checkpoint()
        yield f"<audio {sentence}>"


async def exclaim(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for item in items:
        await anyio.lowlevel.checkpoint()
        yield f"{item}!"


async def collect(source: Any, stages: Sequence[Any], **options: Any) -> list[Any]:
    async with open_stage_graph(source, stages, **options) as out:
        return [item async for item in out]


def task_count() -> int:
    return len(anyio.get_running_tasks())


# ---------------------------------------------------------------- graphs


@pytest.mark.anyio
async def test_source_through_cores_only() -> None:
    source = Source([1, 2, 3])
    out = await collect(source, [AddOne(), Pairer(), Tagger("t")])
    assert out == [(2, 3), (4,), "end:t"]
    assert source.closed


@pytest.mark.anyio
async def test_no_stages_passes_the_source_through() -> None:
    assert await collect(Source(["a", "b"]), []) == ["a", "b"]


@pytest.mark.anyio
async def test_async_stage_between_two_cores() -> None:
    source = Source(["hi", "there", "you"])
    out = await collect(source, [Upper(), tts, Doubler()])
    assert out == [
        "<audio HI>",
        "<audio HI>",
        "<audio THERE>",
        "<audio THERE>",
        "<audio YOU>",
        "<audio YOU>",
    ]
    assert source.closed


@pytest.mark.anyio
async def test_cores_after_an_async_stage_are_flushed_at_end() -> None:
    out = await collect(Source(["a", "b", "c"]), [tts, Pairer()])
    assert out == [("<audio a>", "<audio b>"), ("<audio c>",)]


@pytest.mark.anyio
async def test_several_async_stages_in_order() -> None:
    out = await collect(Source(["a", "b"]), [Upper(), tts, exclaim, Doubler(), exclaim])
    assert out == ["<audio A>!!", "<audio A>!!", "<audio B>!!", "<audio B>!!"]


@pytest.mark.anyio
async def test_async_stage_may_batch_and_emit_after_its_input_ends() -> None:
    async def count_all(items: AsyncIterator[Any]) -> AsyncIterator[int]:
        n = 0
        async for _ in items:
            n += 1
        yield n

    assert await collect(Source(range(5)), [Doubler(), count_all, AddOne()]) == [11]


@pytest.mark.parametrize(
    ("stages", "async_stages"),
    [
        ([], 0),
        ([AddOne, Doubler, Pairer], 0),
        ([AddOne, "tts", Doubler, Doubler], 1),
        (["tts", "exclaim"], 2),
        ([AddOne, "tts", Doubler, Doubler, "exclaim", Doubler], 2),
    ],
)
@pytest.mark.anyio
async def test_adjacent_cores_are_fused_into_one_task(stages: list[Any], async_stages: int) -> None:
    named = {"tts": tts, "exclaim": exclaim}
    built = [named[s] if isinstance(s, str) else s() for s in stages]
    gate = anyio.Event()
    before = task_count()
    async with open_stage_graph(Source([1], gate=gate), built) as out:
        await anyio.wait_all_tasks_blocked()
        assert task_count() - before == 1 + async_stages
        gate.set()
        assert len([item async for item in out]) >= 1
    assert task_count() == before


@pytest.mark.anyio
async def test_consumer_leaving_early_ends_producers_quietly_and_closes_source() -> None:
    source = EndlessSource()
    before = task_count()
    received = []
    async with open_stage_graph(source, [AddOne(), tts, exclaim], buffer=1) as out:
        async for item in out:
            received.append(item)
            if len(received) == 3:
                break
    assert received == ["<audio 2>!", "<audio 3>!", "<audio 4>!"]
    assert source.closed
    assert source.close_calls == 1
    assert task_count() == before
    pulled = source.pulled
    await anyio.wait_all_tasks_blocked()  # anything still pulling would have pulled by now
    assert source.pulled == pulled


@pytest.mark.anyio
async def test_consumer_leaving_before_reading_anything() -> None:
    source = EndlessSource()
    before = task_count()
    async with open_stage_graph(source, [tts]):
        await anyio.wait_all_tasks_blocked()
    assert source.closed
    assert task_count() == before


@pytest.mark.anyio
async def test_async_stage_stopping_early_ends_its_producer_quietly() -> None:
    async def first_two(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in items:
            yield item
            if item >= 2:
                return

    source = EndlessSource()
    assert await collect(source, [first_two, AddOne()]) == [2, 3]
    assert source.closed


@pytest.mark.anyio
async def test_async_generator_source_is_closed_early() -> None:
    events: list[str] = []

    async def numbers() -> AsyncIterator[int]:
        try:
            n = 0
            while True:
                await anyio.lowlevel.checkpoint()
                n += 1
                yield n
        finally:
            events.append("closed")

    async with open_stage_graph(numbers(), [Doubler()]) as out:
        assert await out.receive() == 1
        assert await out.receive() == 1
    assert events == ["closed"]


@pytest.mark.anyio
async def test_error_in_user_stage_propagates_as_itself() -> None:
    class TTSFailed(Exception):
        pass

    async def flaky_tts(items: AsyncIterator[str]) -> AsyncIterator[str]:
        async for item in items:
            await anyio.lowlevel.checkpoint()
            if item == "B":
                raise TTSFailed("voice unavailable")
            yield item

    source = Source(["a", "b", "c"])
    before = task_count()
    received: list[Any] = []
    with pytest.raises(TTSFailed, match="voice unavailable") as info:
        async with open_stage_graph(source, [Upper(), flaky_tts, Doubler()]) as out:
            async for item in out:
                received.append(item)
    assert type(info.value) is TTSFailed
    assert received == ["A", "A"]
    assert source.closed
    assert task_count() == before


@pytest.mark.anyio
async def test_error_keeps_its_own_cause() -> None:
    async def failing(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for _ in items:
            try:
                raise KeyError("root cause")
            except KeyError as exc:
                raise RuntimeError("wrapped") from exc
        yield  # pragma: no cover

    with pytest.raises(RuntimeError, match="wrapped") as info:
        await collect(Source([1]), [failing])
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.__context__ is info.value.__cause__  # not the task group's wrapper


@pytest.mark.anyio
async def test_error_raised_in_the_block_propagates_unchanged() -> None:
    source = EndlessSource()
    error = ValueError("consumer failed")
    error.__cause__ = KeyError("why")
    with pytest.raises(ValueError, match="consumer failed") as info:
        async with open_stage_graph(source, [tts]) as out:
            await out.receive()
            raise error
    assert info.value is error
    assert isinstance(info.value.__cause__, KeyError)
    assert source.closed


@pytest.mark.anyio
async def test_several_errors_propagate_as_a_group() -> None:
    class FailingClose(Source):
        async def aclose(self) -> None:
            await super().aclose()
            raise RuntimeError("close failed")

    async def failing(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for _ in items:
            raise ValueError("stage failed")
        yield  # pragma: no cover

    source = FailingClose(["a", "b"])
    with pytest.raises(ExceptionGroup) as info:
        await collect(source, [failing])
    assert source.closed
    assert info.group_contains(ValueError, match="stage failed")
    assert info.group_contains(RuntimeError, match="close failed")


@pytest.mark.anyio
async def test_error_in_a_leading_core_propagates() -> None:
    source = Source(["ok", 3, "never"])
    with pytest.raises(TypeError, match="not a string: 3"):
        await collect(source, [Upper(), tts])
    assert source.closed


@pytest.mark.anyio
async def test_error_in_a_core_after_an_async_stage_propagates() -> None:
    with pytest.raises(ValueError, match="core refused") as info:
        await collect(Source(["a", "b", "c"]), [tts, Boom("<audio b>")])
    assert type(info.value) is ValueError


@pytest.mark.anyio
async def test_error_in_the_source_propagates() -> None:
    class Broken(Source):
        async def __anext__(self) -> Any:
            if self.pulled == 2:
                raise ConnectionResetError("source broke")
            return await super().__anext__()

    source = Broken(["a", "b", "c"])
    with pytest.raises(ConnectionResetError, match="source broke"):
        await collect(source, [exclaim])
    assert source.closed


@pytest.mark.anyio
async def test_broken_resource_error_from_a_user_stage_is_not_swallowed() -> None:
    # A TTS stage talking over an anyio stream sees BrokenResourceError when the connection
    # drops: that is a failure, not a consumer that left, and must not end the graph quietly.
    async def tts_over_socket(items: AsyncIterator[str]) -> AsyncIterator[str]:
        async for item in items:
            if item == "b":
                raise anyio.BrokenResourceError("TTS connection dropped")
            yield item

    with pytest.raises(anyio.BrokenResourceError, match="TTS connection dropped"):
        await collect(Source(["a", "b", "c"]), [tts_over_socket])


@pytest.mark.anyio
async def test_broken_resource_error_from_the_source_is_not_swallowed() -> None:
    class Dropping(Source):
        async def __anext__(self) -> Any:
            if self.pulled == 1:
                raise anyio.BrokenResourceError("upstream dropped")
            return await super().__anext__()

    with pytest.raises(anyio.BrokenResourceError, match="upstream dropped"):
        await collect(Dropping(["a", "b"]), [Upper()])


@pytest.mark.anyio
async def test_cancelling_the_enclosing_scope_cancels_the_graph() -> None:
    source = EndlessSource()
    before = task_count()
    received: list[Any] = []
    with anyio.CancelScope() as scope:
        async with open_stage_graph(source, [AddOne(), tts, exclaim]) as out:
            async for item in out:
                received.append(item)
                if len(received) == 2:
                    scope.cancel()
        pytest.fail("the cancelled block went on")  # pragma: no cover
    assert scope.cancelled_caught
    assert received == ["<audio 2>!", "<audio 3>!"]
    assert source.closed
    assert task_count() == before


@pytest.mark.anyio
@pytest.mark.autojump_clock
async def test_deadline_on_a_stalled_graph() -> None:
    async def stall(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in items:
            await anyio.sleep_forever()
            yield item  # pragma: no cover

    source = EndlessSource()
    with anyio.move_on_after(0.05) as scope:
        await collect(source, [stall])
    assert scope.cancelled_caught
    assert source.closed


@pytest.mark.parametrize("buffer", [0, 1, 3])
@pytest.mark.anyio
async def test_buffer_lets_the_producer_run_ahead(buffer: int) -> None:
    source = Source(list(range(10)))
    async with open_stage_graph(source, [AddOne()], buffer=buffer) as out:
        await anyio.wait_all_tasks_blocked()
        # ``buffer`` items wait in the channel; one more is pulled and waits to be sent.
        assert source.pulled == buffer + 1
        assert [item async for item in out] == list(range(1, 11))


@pytest.mark.anyio
async def test_buffer_applies_to_every_channel() -> None:
    source = Source(list(range(10)))
    async with open_stage_graph(source, [exclaim], buffer=2) as out:
        await anyio.wait_all_tasks_blocked()
        # 2 in the last channel + 1 held by the stage + 2 in the first channel + 1 pulled.
        assert source.pulled == 6
        assert len([item async for item in out]) == 10


@pytest.mark.parametrize("bad", [object(), 42, "not a stage", None])
@pytest.mark.anyio
async def test_non_stage_object_raises_type_error(bad: Any) -> None:
    source = Source([1])
    with pytest.raises(TypeError, match="a stage must have feed/flush"):
        async with open_stage_graph(source, [AddOne(), bad]):
            pytest.fail("the graph started")  # pragma: no cover


@pytest.mark.anyio
async def test_many_items_with_interleaved_async_stages() -> None:
    n = 500
    out = await collect(Source(list(range(n))), [AddOne(), exclaim, Doubler()], buffer=4)
    assert len(out) == 2 * n
    assert out[:4] == ["1!", "1!", "2!", "2!"]
    assert out[-1] == f"{n}!"


# ---------------------------------------------------------------- built-in chunk stages

_HAVE_VOICE_STAGES = (
    importlib.util.find_spec("stages.sentences") is not None
    and importlib.util.find_spec("stages.markdown") is not None
)


@pytest.mark.skipif(not _HAVE_VOICE_STAGES, reason="stages.sentences/markdown not there yet")
@pytest.mark.anyio
async def test_sentences_translate_clean_speak() -> None:
    from pipeline import (
        AssistantMessageDeltaChunk,
        AssistantMessageSentenceChunk,
        ChatCompletionChunk,
        CleanStage,
        FinishReasonChunk,
        SentenceStage,
    )

    async def translate(chunks: AsyncIterator[ChatCompletionChunk]) -> AsyncIterator[Any]:
        async for chunk in chunks:
            await anyio.lowlevel.checkpoint()
            if isinstance(chunk, AssistantMessageSentenceChunk):
                yield AssistantMessageSentenceChunk(chunk.sentence.replace("Hello", "**Hallo**"))
            else:
                yield chunk

    text = "Hello there, my friend. How are you doing today? Fine"
    deltas: list[Any] = [
        AssistantMessageDeltaChunk(text[i : i + 3]) for i in range(0, len(text), 3)
    ]
    source = Source([*deltas, FinishReasonChunk("stop")])
    out = await collect(source, [SentenceStage(), translate, CleanStage()])
    assert [c.type for c in out][-1] == "finish_reason"
    sentences = [c.sentence for c in out if isinstance(c, AssistantMessageSentenceChunk)]
    assert "".join(sentences).replace(" ", "") == text.replace("Hello", "Hallo").replace(" ", "")
    assert not any("*" in s for s in sentences)
    assert len(sentences) >= 2
