"""The strategies find the prompt-builder bugs users ship (buggy_builders.HUNTS), with default
settings except derandomize=True, so that the suite is deterministic. How often each is found
over 20 random seeds, and after how many examples: bench/bench_strategies.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings


def _buggy_builders():
    # By file, not by name: `import buggy_builders` depends on pytest's import mode and on which
    # directories the run put on sys.path first (`pytest tests/plugin examples`, xdist workers).
    name = "_tokenbudget_test_buggy_builders"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("buggy_builders.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


HUNTS = _buggy_builders().HUNTS

# Generation only: the point is that the bug is found; shrinking big histories takes seconds.
# derandomize is not the same sequence in every process (Hypothesis mixes in constants of the
# modules loaded so far, which differ under xdist), so leave room far past the median examples
# needed (5-20, see the bench): a run stops at the first failure, so the room costs nothing.
FOUND = settings(derandomize=True, database=None, deadline=None, phases=[Phase.generate], max_examples=1000)


@pytest.mark.parametrize("hunt", HUNTS, ids=[hunt.name for hunt in HUNTS])
def test_the_default_strategies_find_the_bug(hunt):
    with pytest.raises(hunt.raises, match=hunt.match):
        FOUND(given(hunt.strategy)(hunt.check))()
