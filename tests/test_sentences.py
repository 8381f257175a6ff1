"""Tests of the streaming sentence segmenter core (synchronous: the core never awaits)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline._core import PoisonedCoreError
from pipeline._errors import RequestValidationError
from stages.sentences import SentenceSegmenter

from .conftest import GOLD


def segment(
    pieces: Iterable[str],
    *,
    language: str | None = None,
    min_len: int = 0,
    punctuation_marks: list[str] | None = None,
    clean_text: bool = False,
) -> list[str]:
    """Feed ``pieces`` one by one, then flush."""
    seg = SentenceSegmenter(
        language=language,
        min_sentence_length=min_len,
        punctuation_marks=punctuation_marks,
        clean_text=clean_text,
    )
    out = [sentence for piece in pieces for sentence in seg.feed(piece)]
    return out + seg.flush()


def split(text: str, **options: Any) -> list[str]:
    """Whole text in one delta, then flush."""
    return segment([text], **options)


def by_char(text: str, **options: Any) -> list[str]:
    """One character per delta."""
    return segment(text, **options)


def both(text: str, **kwargs: object) -> list[str]:
    """Sentences of ``text``, checked to be the same whole and one character at a time."""
    whole = split(text, **kwargs)  # type: ignore[arg-type]
    assert by_char(text, **kwargs) == whole  # type: ignore[arg-type]
    return whole


# -- early emission -----------------------------------------------------------------------


def test_sentence_is_emitted_at_the_next_non_space_character() -> None:
    seg = SentenceSegmenter(min_sentence_length=0)
    assert seg.feed("Hello there.") == []  # "." may still be "..", "3.14", "U.S." ...
    assert seg.feed(" ") == []
    assert seg.feed("W") == ["Hello there."]
    assert seg.flush() == ["W"]


def test_one_delta_holding_the_next_character_emits_at_once() -> None:
    seg = SentenceSegmenter(min_sentence_length=0)
    assert seg.feed("Hello there. W") == ["Hello there."]


def test_question_and_exclamation_runs_and_closers() -> None:
    seg = SentenceSegmenter(min_sentence_length=0)
    assert seg.feed('He asked, "Really?!"') == []
    assert seg.feed(" Y") == ['He asked, "Really?!"']


def test_cjk_needs_one_character_only() -> None:
    seg = SentenceSegmenter(min_sentence_length=0)
    assert seg.feed("你好。") == []
    assert seg.feed("我") == ["你好。"]
    seg = SentenceSegmenter(min_sentence_length=0)
    assert seg.feed("「こんにちは。」") == []
    assert seg.feed("今") == ["「こんにちは。」"]


def test_abbreviation_before_capital_waits_for_the_word() -> None:
    seg = SentenceSegmenter(language="en", min_sentence_length=0)
    assert seg.feed("I live in the U.S. Ho") == []
    assert seg.feed("w about you?") == ["I live in the U.S."]
    seg = SentenceSegmenter(language="en", min_sentence_length=0)
    assert seg.feed("I work for the U.S. Government ") == []


def test_title_decides_without_waiting() -> None:
    seg = SentenceSegmenter(min_sentence_length=0)
    assert seg.feed("Call Mr. S") == []
    assert seg.feed("mith now. Then") == ["Call Mr. Smith now."]


# -- rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Please turn to p. 55 now.",
        "Meet Dr. Watson and Mrs. Hudson today.",
        "We need water, e.g. from the tap.",
        "Das steht z.B. hier und z. B. dort.",
        "Sr. García llegó.",
        "M. Dupont est arrivé.",
        "My name is Jonas E. Smith.",
        "Pi is 3.14 and e is 2.71 roughly.",
        "Das kostet 1.000,50 Euro heute.",
        "We meet at 10.30 today.",
        "Es ist am 3. Oktober passiert.",
        "Version 2.0.1 is out.",
        "See https://example.com/a.b/c.html for more.",
        "Visit example.org today.",
        "Mail jane.doe@example.com now.",
        "Open config.prod.json first.",
        "I wonder... maybe not.",
        "He said (see sec. 4. It is long.) nothing.",
        "Run `os.path.join(a. b)` now.",
        "See [the docs](http://a.b/c.d) here.",
        "She works at Yahoo! in sales.",
        'She said "Stop. Now." and left.',
    ],
)
def test_never_splits_inside(text: str) -> None:
    assert both(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello World. My name is Jonas.", ["Hello World.", "My name is Jonas."]),
        ("Hello!! Long time. Who?! Me.", ["Hello!!", "Long time.", "Who?!", "Me."]),
        ("I live in the U.S. How about you?", ["I live in the U.S.", "How about you?"]),
        ("1. The first item 2. The second item", ["1. The first item", "2. The second item"]),
        ("1) The first item 2) The second item", ["1) The first item", "2) The second item"]),
        ("She has $100.00. It is here.", ["She has $100.00.", "It is here."]),
        ("I never meant that.... She left.", ["I never meant that....", "She left."]),
        ("The martyr.[1] The emperor came.", ["The martyr.[1]", "The emperor came."]),
        ('She said, "Great." She left.', ['She said, "Great."', "She left."]),
        ("你好！我是学生。你呢？", ["你好！", "我是学生。", "你呢？"]),
        ("こんにちは。元気ですか？はい。", ["こんにちは。", "元気ですか？", "はい。"]),
        ("안녕하세요. 반갑습니다.", ["안녕하세요.", "반갑습니다."]),
        ("Hello. 你好。Bye.", ["Hello.", "你好。", "Bye."]),
        ("¿Cómo está? ¡Muy bien! Gracias.", ["¿Cómo está?", "¡Muy bien!", "Gracias."]),
        ("Heute kommt Dr. Müller. Kommst du?", ["Heute kommt Dr. Müller.", "Kommst du?"]),
        ("Hola Srta. Ledesma. Buenos días.", ["Hola Srta. Ledesma.", "Buenos días."]),
    ],
)
def test_splits(text: str, expected: list[str]) -> None:
    assert both(text) == expected


def test_commas_colons_and_openers_never_end_a_sentence() -> None:
    text = "Well, first: this、that; «oui» ¿sí? no"
    assert both(text) == ["Well, first: this、that; «oui» ¿sí? no"]


def test_newlines_after_items_and_headings_and_blank_lines() -> None:
    seg = SentenceSegmenter(min_sentence_length=0)
    assert seg.feed("# Title\n") == ["# Title"]
    assert seg.feed("- first item\n") == ["- first item"]
    assert seg.feed("A paragraph without a period\n\nNext") == ["A paragraph without a period"]
    assert seg.flush() == ["Next"]


def test_language_selects_abbreviations() -> None:
    assert both("Wir sehen uns z. B. morgen.", language="de") == ["Wir sehen uns z. B. morgen."]
    assert both("I saw it. It was red.", language="en") == ["I saw it.", "It was red."]
    # German abbreviations are not English ones.
    assert both("Call Sen. Smith.", language="de") == ["Call Sen.", "Smith."]


def test_custom_punctuation_marks_replace_the_set() -> None:
    assert both("One; Two. Three", punctuation_marks=[";"]) == ["One;", "Two. Three"]


def test_unclosed_quote_holds_back_only_for_a_while() -> None:
    text = '"' + "Word. " * 80 + "End."
    sentences = both(text)
    assert 1 < len(sentences) < 80
    assert " ".join(sentences) == text.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A flowed line (trailing space) wraps before a lower-case word or "(".
        ("It was a cold \nnight in the city.", ["It was a cold \nnight in the city."]),
        ("Up to 400 yd \n(365.8 m).", ["Up to 400 yd \n(365.8 m)."]),
        ("See the price \n. Then call.", ["See the price \n.", "Then call."]),
        # Without the trailing space, or before a capital or a list marker, a line ends.
        ("features\ncontact manager", ["features", "contact manager"]),
        ("It was cold \nNight fell.", ["It was cold", "Night fell."]),
        ("Pick one: \na) red \nb) blue", ["Pick one:", "a) red", "b) blue"]),
        # "\r\n" and a lone "\r" are line breaks; "\r\n\r\n" is a blank line.
        ("First line\r\nSecond line", ["First line", "Second line"]),
        ("One item\rTwo item", ["One item", "Two item"]),
        ("Title\r\n\r\nBody text.", ["Title", "Body text."]),
    ],
)
def test_line_breaks_end_lines_unless_a_flowed_line_wraps(text: str, expected: list[str]) -> None:
    assert both(text) == expected


def test_a_newline_ending_a_plain_line_still_emits_at_once() -> None:
    seg = SentenceSegmenter(min_sentence_length=0)
    assert seg.feed("A line without a period\n") == ["A line without a period"]
    # A flowed line waits for one more non-space character.
    assert seg.feed("and a cold \n") == []
    assert seg.feed("n") == []
    assert seg.flush() == ["and a cold \nn"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'He said, "If you please, sir--" The Rabbit ran.',
            ['He said, "If you please, sir--"', "The Rabbit ran."],
        ),
        ('She began "to--" but stopped.', ['She began "to--" but stopped.']),
        ("Cue “wait—” Then silence.", ["Cue “wait—”", "Then silence."]),
    ],
)
def test_a_quote_interrupted_by_a_dash_ends_before_a_capital(
    text: str, expected: list[str]
) -> None:
    assert both(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("! ! !", ["! ! !"]),
        ("Wow ? ? ? Yes.", ["Wow ? ? ?", "Yes."]),
        ("A gap.11 12 Take the cold.", ["A gap.11 12", "Take the cold."]),
        ("The martyr.12 The emperor came.", ["The martyr.12", "The emperor came."]),
        ("He joined Yahoo! Research last year.", ["He joined Yahoo! Research last year."]),
        ("He loved Jeopardy! It was fun.", ["He loved Jeopardy! It was fun."]),
        ("He shouted yahoo! Then left.", ["He shouted yahoo! Then left."]),
        ("Great! Research pays.", ["Great!", "Research pays."]),
        ("Score?...... 9\nNext", ["Score?...... 9", "Next"]),
    ],
)
def test_repeated_marks_footnote_runs_and_names_with_marks(text: str, expected: list[str]) -> None:
    assert both(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("About Me........ 5\nChapter 2 .... 16-17\n", ["About Me", "Chapter 2"]),
        ("Remove dots........please.", ["Remove dots please."]),
        ("I never meant that.... She left.", ["I never meant that....", "She left."]),
        ("//////// Header here ////////", ["Header here"]),
        ("Intro\n__________\nBody.", ["Intro", "Body."]),
        ("A -- B and x--y stay.", ["A -- B and x--y stay."]),
        ("Hello World. \\r\\n Hello.", ["Hello World.", "Hello."]),
        ("Path C:\\new stays.", ["Path C:\\new stays."]),
        ("pricing \n. Next", ["pricing.", "Next"]),
        ("<b></b> ----", ["<b></b>"]),
    ],
)
def test_cleaning_drops_marks_nobody_should_hear(text: str, expected: list[str]) -> None:
    assert both(text, clean_text=True) == expected


def test_without_cleaning_every_mark_is_kept() -> None:
    assert both("About Me........ 5\n//////// Header ////////") == [
        "About Me........ 5",
        "//////// Header ////////",
    ]


def test_a_sentence_left_empty_by_cleaning_is_not_emitted() -> None:
    assert both("==========\n\nReal text.", clean_text=True) == ["Real text."]


# -- min_sentence_length ------------------------------------------------------------------


def test_short_sentences_are_merged_not_dropped() -> None:
    assert both("Hi. Ok. How are you?", min_len=6) == ["Hi. Ok.", "How are you?"]
    assert both("Hi. How are you?", min_len=6) == ["Hi. How are you?"]
    assert both("Hi. Ok.", min_len=6) == ["Hi. Ok."]
    assert both("Hi.", min_len=6) == ["Hi."]


def test_cjk_merge_adds_no_space() -> None:
    assert both("好。我是学生。", min_len=6) == ["好。我是学生。"]


def test_min_length_zero_keeps_every_sentence() -> None:
    assert both("Hi. Ok.", min_len=0) == ["Hi.", "Ok."]


# -- options validation and poisoning -----------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"language": "xx"}, "stream_options.punctuation_language"),
        ({"min_sentence_length": -1}, "stream_options.min_sentence_length"),
        ({"punctuation_marks": []}, "stream_options.punctuation_marks"),
        ({"punctuation_marks": ["ab"]}, "stream_options.punctuation_marks"),
        ({"punctuation_marks": "."}, "stream_options.punctuation_marks"),
    ],
)
def test_invalid_options_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        SentenceSegmenter(**kwargs)  # type: ignore[arg-type]
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(field + ": ")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RequestValidationError) as info:
        SentenceSegmenter(language="xx", min_sentence_length=-2, punctuation_marks=[])
    assert len(info.value.problems) == 3


@pytest.mark.parametrize("language", ["en", "zh", "ko", "ja", "es", "fr", "it", "de", "DE"])
def test_supported_languages(language: str) -> None:
    assert SentenceSegmenter(language=language).feed("ok") == []


def test_bad_input_poisons_the_core() -> None:
    seg = SentenceSegmenter()
    with pytest.raises(TypeError):
        seg.feed(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(PoisonedCoreError):
        seg.feed("text")
    with pytest.raises(PoisonedCoreError):
        seg.flush()


def test_flush_of_blank_text_emits_nothing() -> None:
    seg = SentenceSegmenter()
    assert seg.feed("  \n ") == []
    assert seg.flush() == []


# -- properties ---------------------------------------------------------------------------

_ALPHABET = st.sampled_from(
    [*"abcXYZ .!?…,:;\"'()[]`\n12", "Mr.", "U.S.", "。", "！", "你好", "「", "」", "e.g.", "’"]
)
_TEXT = st.lists(_ALPHABET, max_size=60).map("".join)


def _visible(text: str) -> str:
    """``text`` without whitespace: what must survive segmentation unchanged."""
    return "".join(text.split())


def _chunks(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(text[last:p])
        last = p
    pieces.append(text[last:])
    return pieces


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.lists(st.integers(min_value=0), max_size=12), st.sampled_from([0, 6]))
def test_no_loss_no_duplication_and_split_invariance(
    text: str, cuts: list[int], min_len: int
) -> None:
    whole = segment([text], min_len=min_len)
    pieces = segment(_chunks(text, cuts), min_len=min_len)
    assert pieces == whole
    assert _visible("".join(whole)) == _visible(text)
    assert all(s and s == s.strip() for s in whole)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_any_unicode_text_round_trips(text: str) -> None:
    out = by_char(text)
    assert _visible("".join(out)) == _visible(text)
    assert out == split(text)


# -- quality gate -------------------------------------------------------------------------

_TOKEN = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?\w+| ?\d+| ?[^\s\w\d]+|\s+(?!\S)|\s+")


def test_golden_rules_streamed_token_by_token() -> None:
    records = json.loads((GOLD / "sbd_en_golden48.json").read_text(encoding="utf-8"))
    right = 0
    for record in records:
        seg = SentenceSegmenter(language="en", min_sentence_length=0)
        out: list[str] = []
        for token in _TOKEN.findall(record["text"]):
            out.extend(seg.feed(token))
        out.extend(seg.flush())
        right += out == record["sentences"]
    assert right >= 46


@given(st.text(max_size=80), st.text(max_size=80))
def test_a_flushed_segmenter_splits_what_follows_as_a_new_one_would(
    before: str, after: str
) -> None:
    # The sentence stage flushes at every tool call and then goes on: nothing of the text
    # before the call (an open quote, code span, list or short sentence) may leak past it.
    reused = SentenceSegmenter()
    reused.feed(before)
    reused.flush()
    fresh = SentenceSegmenter()
    assert reused.feed(after) + reused.flush() == fresh.feed(after) + fresh.flush()


def _gold_cases() -> list[tuple[str | None, str]]:
    """Every gold text with the language it is written in (``None`` for the markdown)."""
    cases: list[tuple[str | None, str]] = []
    for path in sorted(GOLD.glob("sbd_*.json")):
        language = path.stem.split("_")[1]
        records = json.loads(path.read_text(encoding="utf-8"))
        cases.extend((language, record["text"]) for record in records)
    markdown = json.loads((GOLD / "markdown_livekit.json").read_text(encoding="utf-8"))
    cases.extend((None, case["input"]) for case in markdown)
    return cases


_GOLD_CASES = _gold_cases()


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(_GOLD_CASES),
    st.lists(st.integers(min_value=0), max_size=24),
    st.sampled_from([0, 6]),
    st.booleans(),
)
def test_any_split_of_a_gold_text_gives_the_same_sentences(
    case: tuple[str | None, str], cuts: list[int], min_len: int, clean_text: bool
) -> None:
    # The sentence stage hands the segmenter one read's deltas as one text: that is only
    # right because no split of a text, however it falls, changes its sentences.
    language, text = case
    options: dict[str, Any] = {"language": language, "min_len": min_len, "clean_text": clean_text}
    assert segment(_chunks(text, cuts), **options) == segment([text], **options)


@pytest.mark.parametrize(("language", "text"), _GOLD_CASES[::7])
def test_gold_text_one_character_at_a_time_gives_the_same_sentences(
    language: str | None, text: str
) -> None:
    assert by_char(text, language=language) == split(text, language=language)
