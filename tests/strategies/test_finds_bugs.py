"""The strategies find the prompt-builder bugs users ship (buggy_builders.py), with default
settings except derandomize=True, so that the suite is deterministic. How often each is found
over 20 random seeds, and after how many examples: bench/bench_strategies.py."""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings

import buggy_builders as bugs
from pytest_tokenbudget import strategies as tbst

# Generation only: the point is that the bug is found; shrinking big histories takes seconds.
# derandomize is not the same sequence in every process (Hypothesis mixes in constants of the
# modules loaded so far, which differ under xdist), so leave room far past the median examples
# needed (14-27): a run stops at the first failure, so the room costs nothing when found.
FOUND = settings(derandomize=True, database=None, deadline=None, phases=[Phase.generate], max_examples=1000)


def test_a_12000_character_trim_overflows_a_4000_token_budget():
    @FOUND
    @given(tbst.chat_histories(max_messages=30, max_tokens_per_message=1_000, images=False))
    def trimmed_history_fits(history):
        assert bugs.fits_budget(bugs.trim_by_characters(history))

    with pytest.raises(AssertionError):
        trimmed_history_fits()


def test_the_last_ten_messages_cut_a_tool_result_from_its_call():
    @FOUND
    @given(tbst.chat_histories(max_messages=30, max_tokens_per_message=8))
    def window_keeps_pairs(history):
        assert bugs.tool_pairs_intact(bugs.last_ten(history))

    with pytest.raises(AssertionError):
        window_keeps_pairs()


def test_a_utf16_preview_splits_a_surrogate_pair():
    @FOUND
    # Emoji next to ASCII: the mix a chat preview cuts through (CJK alone never splits a pair).
    @given(tbst.texts(min_tokens=10, max_tokens=200, alphabet={"emoji", "plain"}))
    def preview_is_sendable(text):
        assert bugs.sendable(bugs.preview(text))

    with pytest.raises(AssertionError):
        preview_is_sendable()


def test_a_counter_using_encode_raises_on_special_token_text():
    @FOUND
    @given(tbst.chat_histories(max_messages=10, max_tokens_per_message=100, images=False))
    def counting_never_raises(history):
        bugs.naive_token_count(history)

    with pytest.raises(ValueError, match="disallowed special token"):
        counting_never_raises()
