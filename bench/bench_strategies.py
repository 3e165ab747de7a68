"""pytest_tokenbudget.strategies: generation speed, and how reliably they find the bugs in
tests/strategies/buggy_builders.py.

1. 200 chat histories of up to 30 messages (settings(max_examples=200), generation only), for
   each provider. Goal: <= 2 s. Reference, same run: 200 lists of up to 30 `st.text()`
   messages built from Hypothesis's own strategies, so the ratio says what the machine's load
   does not.
2. Each bug hunt of tests/strategies/buggy_builders.py (HUNTS) with default settings (no derandomize,
   no @example) over 20 seeds: how often the bug was found, and the median number of examples
   it took. Goal: 20/20.

Wall and CPU seconds, medians of 3 runs; the ratio is of CPU times.

Run: python bench/bench_strategies.py [--hunts-only | --speed-only]
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
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


def generation_seconds(strategy) -> tuple[float, float]:
    """Wall and CPU seconds (CPU time is what the machine's other load changes least)."""
    @GENERATE
    @given(strategy)
    def consume(value):
        pass

    wall, cpu = time.perf_counter(), time.process_time()
    consume()
    return time.perf_counter() - wall, time.process_time() - cpu


def median_seconds(strategy, runs: int = 3) -> tuple[float, float]:
    walls, cpus = zip(*(generation_seconds(strategy) for _ in range(runs)))
    return statistics.median(walls), statistics.median(cpus)


def speed() -> None:
    count_tokens("warm", "gpt-4o"), count_tokens("warm", "claude-sonnet-4-5")  # tokenizer loading is not generation
    wall, reference = median_seconds(REFERENCE)
    print(f"reference: 200 st.lists of st.text messages   {wall:6.2f} s wall {reference:6.2f} s CPU")
    for provider in tbst.PROVIDERS:
        wall, cpu = median_seconds(tbst.chat_histories(provider, max_messages=30))
        print(f"200 {provider:9} histories, <= 30 messages    {wall:6.2f} s wall {cpu:6.2f} s CPU  "
              f"({cpu / reference:.1f}x reference; goal <= 2 s)")


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
    # A found bug's report prints its history; the large ones warn about their size.
    warnings.filterwarnings("ignore", message="Generating overly large repr")
    for bug in bugs.HUNTS:
        found = [hunt(bug.check, bug.strategy, run_seed) for run_seed in range(20)]
        hits = [examples for examples in found if examples is not None]
        median = statistics.median(hits) if hits else float("nan")
        print(f"{bug.name:42} found {len(hits):2}/20, median {median:5.1f} examples")


if __name__ == "__main__":
    if "--hunts-only" not in sys.argv:
        speed()
    if "--speed-only" not in sys.argv:
        bug_hunts()
