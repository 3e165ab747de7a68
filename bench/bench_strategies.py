"""pytest_tokenbudget.strategies: generation speed, and how reliably they find the bugs in
tests/strategies/buggy_builders.py.

1. 200 chat histories of up to 30 messages (settings(max_examples=200), generation only), for
   each provider. Goal: <= 2 s. Reference, same run: 200 lists of up to 30 `st.text()`
   messages built from Hypothesis's own strategies, so the ratio says what the machine's load
   does not.
2. Each bug hunt of tests/strategies/test_finds_bugs.py with default settings (no derandomize,
   no @example) over 20 seeds: how often the bug was found, and the median number of examples
   it took. Goal: 20/20.

Run: python bench/bench_strategies.py [--hunts-only | --speed-only]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "strategies"))
import buggy_builders as bugs  # noqa: E402

from pytest_tokenbudget import count_tokens  # noqa: E402
from pytest_tokenbudget import strategies as tbst  # noqa: E402

GENERATE = settings(max_examples=200, phases=[Phase.generate], database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))
REFERENCE = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": st.text()}),
                     max_size=30)


def generation_seconds(strategy) -> float:
    @GENERATE
    @given(strategy)
    def consume(value):
        pass

    started = time.perf_counter()
    consume()
    return time.perf_counter() - started


def speed() -> None:
    count_tokens("warm", "gpt-4o"), count_tokens("warm", "claude-sonnet-4-5")  # tokenizer loading is not generation
    reference = statistics.median(generation_seconds(REFERENCE) for _ in range(3))
    print(f"reference: 200 st.lists of st.text messages   {reference:6.2f} s")
    for provider in tbst.PROVIDERS:
        took = statistics.median(generation_seconds(tbst.chat_histories(provider, max_messages=30)) for _ in range(3))
        print(f"200 {provider:9} histories, <= 30 messages    {took:6.2f} s  ({took / reference:.1f}x reference; goal <= 2 s)")


def hunts():
    def trim(history):
        assert bugs.fits_budget(bugs.trim_by_characters(history))

    def window(history):
        assert bugs.tool_pairs_intact(bugs.last_ten(history))

    def surrogate(text):
        assert bugs.sendable(bugs.preview(text))

    def special(history):
        bugs.naive_token_count(history)

    return {
        "12,000-character trim vs 4,000 tokens": (trim, tbst.chat_histories(max_messages=30, max_tokens_per_message=1_000, images=False)),
        "messages[-10:] cuts a tool pair": (window, tbst.chat_histories(max_messages=30, max_tokens_per_message=8)),
        "UTF-16 preview splits a surrogate pair": (surrogate, tbst.texts(min_tokens=10, max_tokens=200, alphabet={"emoji", "plain"})),
        "encode() raises on <|endoftext|>": (special, tbst.chat_histories(max_messages=10, max_tokens_per_message=100, images=False)),
    }


def hunt(check, strategy, run_seed: int) -> int | None:
    """Examples tried until the bug showed, or None if the default 100 never showed it."""
    tried = [0]

    @seed(run_seed)
    @settings(database=None, deadline=None, phases=[Phase.generate])
    @given(strategy)
    def property_test(value):
        tried[0] += 1
        check(value)

    try:
        property_test()
    except Exception:  # the property failed: the bug was found
        return tried[0]
    return None


def bug_hunts() -> None:
    for name, (check, strategy) in hunts().items():
        found = [hunt(check, strategy, run_seed) for run_seed in range(20)]
        hits = [examples for examples in found if examples is not None]
        median = statistics.median(hits) if hits else float("nan")
        print(f"{name:42} found {len(hits):2}/20, median {median:5.1f} examples")


if __name__ == "__main__":
    if "--hunts-only" not in sys.argv:
        speed()
    if "--speed-only" not in sys.argv:
        bug_hunts()
