"""CPU cost per delta of the voice stages: sentence segmenter + markdown cleaner.

A long multilingual text (every gold text of ``tests/gold``: English, German, Spanish, French,
Italian, Japanese, Chinese, plus the markdown cases) is split into GPT-2-style tokens and fed one
token at a time, as an LLM stream would deliver it. Each sentence is cleaned as it is emitted.

Baseline, in the same run: a naive streaming splitter of the kind voice frameworks ship (append
the delta, search the whole buffer for ``[.!?。！？]`` followed by a space, cut there), which
re-scans the buffer and knows no abbreviation, number or markdown. Target: ≤ 3 µs per delta.

Run: ``.venv/bin/python benchmarks/bench_voice_cpu.py [--rounds 5]``
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sentences_quality import GOLD, tokens

from stages import MarkdownCleaner, SentenceSegmenter

NAIVE_END = re.compile(r"[.!?。！？]+[\"')\]」』]*\s")


def corpus() -> str:
    parts: list[str] = []
    for path in sorted(GOLD.glob("sbd_*.json")):
        parts.extend(record["text"] for record in json.loads(path.read_text()))
    parts.extend(case["input"] for case in json.loads((GOLD / "markdown_livekit.json").read_text()))
    return "\n\n".join(parts)


def ours(deltas: list[str]) -> int:
    segmenter = SentenceSegmenter(min_sentence_length=6)
    cleaner = MarkdownCleaner()
    count = 0
    for delta in deltas:
        for sentence in segmenter.feed(delta):
            if cleaner.clean_segment(sentence):
                count += 1
    for sentence in segmenter.flush():
        if cleaner.clean_segment(sentence):
            count += 1
    return count


def naive(deltas: list[str]) -> int:
    buffer = ""
    count = 0
    for delta in deltas:
        buffer += delta
        match = NAIVE_END.search(buffer)
        while match:
            count += 1
            buffer = buffer[match.end() :]
            match = NAIVE_END.search(buffer)
    return count + (1 if buffer.strip() else 0)


def per_delta(run: object, deltas: list[str], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        run(deltas)  # type: ignore[operator]
        samples.append((time.process_time() - start) / len(deltas) * 1e6)
    return statistics.median(samples)


def main(rounds: int) -> None:
    text = corpus()
    deltas = tokens(text)
    ours(deltas)  # warm-up
    naive_us = per_delta(naive, deltas, rounds)
    ours_us = per_delta(ours, deltas, rounds)
    print(f"text: {len(text)} characters, {len(deltas)} deltas, {rounds} rounds (median)")
    print(f"  baseline naive regex splitter        {naive_us:6.2f} µs per delta")
    print(
        f"  segmenter + markdown cleaner         {ours_us:6.2f} µs per delta   "
        f"ratio {ours_us / naive_us:.2f}x"
    )
    print(f"target <= 3 µs per delta: {'met' if ours_us <= 3 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    main(parser.parse_args().rounds)
