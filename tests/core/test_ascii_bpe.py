"""The pure-Python o200k counter gives tiktoken's counts on ASCII text, declines what it cannot
count cheaply, and lets a suite's first texts be counted without building tiktoken's encoder."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_tokenbudget import _ascii_bpe
from pytest_tokenbudget._ascii_bpe import MAX_PIECE_BYTES, O200K_PATTERN, AsciiBpeCounter
from pytest_tokenbudget._rank_cache import CACHE_DIR_ENV, NO_CACHE_ENV, RankIndex, encode
from pytest_tokenbudget._tokenizers import _ascii_counter, get_encoding

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def o200k():
    return get_encoding("o200k_base")


@pytest.fixture(scope="module", params=["dict", "index"])
def counter(o200k, request):
    # The ranks as tiktoken's dict (no cache copy yet) and as the cache file's index.
    ranks = o200k._mergeable_ranks
    return AsciiBpeCounter(ranks if request.param == "dict" else RankIndex(encode(ranks)), work_budget=10**12)


def test_the_translated_pattern_is_the_one_tiktoken_uses():
    # When tiktoken changes its pre-tokenizer, the pure-Python counter must stop being used.
    assert get_encoding("o200k_base")._pat_str == O200K_PATTERN
    assert get_encoding("o200k_harmony")._pat_str == O200K_PATTERN
    assert _ascii_counter("o200k_base") is not None
    assert _ascii_counter("cl100k_base") is None  # another pattern: always tiktoken's encoder


# Every ASCII character, weighted towards what the pre-tokenizer treats specially: letters of both
# cases, contractions, digits, the six ASCII White_Space characters and the separators 0x1C-0x1F
# that are not White_Space (but are str.isspace()), punctuation runs and the slash.
_TRICKY = "aAzZsStTlLdDmMrReEvV'0123456789 \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f/.,!?-_()\"#*\\\x00\x7f"
ascii_text = st.text(st.one_of(st.sampled_from(_TRICKY), st.characters(max_codepoint=127)), max_size=60)


@settings(max_examples=1500, deadline=None)
@given(ascii_text)
@example("")
@example("I'm sure they'LL say it's DONE'S 'Re")
@example("  \n\n   x\r\n\r\n  /\r\n/// \t\x0b\x0c\x1c  ")
@example("1234567 12.5e-10 0x1F A-1933 #A-7?")
@example("CamelCaseWORDSAndHTTPServer mixedUP aB")
@example("   trailing spaces before a word   word\n")
def test_counts_equal_tiktoken_on_ascii_text(counter, o200k, text):
    assert counter.count(text) == len(o200k.encode_ordinary(text))


def test_counts_equal_tiktoken_on_this_project_s_sources(counter, o200k):
    # Real prose and code: the project's own ASCII files, whole and line by line.
    checked = 0
    for path in sorted([*ROOT.glob("pytest_tokenbudget/*.py"), *ROOT.glob("checker/**/*.py"), ROOT / "README.md"]):
        text = path.read_text(encoding="utf-8")
        if not text.isascii():
            continue
        for part in [text, *text.splitlines(keepends=True)]:
            tokens = counter.count(part)
            if tokens is not None:
                assert tokens == len(o200k.encode_ordinary(part)), (path, part[:80])
                checked += 1
    assert checked > 1000


def test_it_declines_what_it_cannot_count_cheaply(o200k):
    counter = AsciiBpeCounter(o200k._mergeable_ranks, work_budget=100)
    assert counter.count("naïve") is None  # not ASCII
    assert counter.count("x" * 101) is None  # more than the work left
    assert counter.count(" " + "." * MAX_PIECE_BYTES) is None  # one piece too long to merge here
    assert counter.count("forty characters of ordinary ASCII text") == 7
    assert counter.count("and another forty characters of text...") is not None
    assert counter.count("the budget is spent by now, so this goes") is None


def run_counting(tmp_path, texts, *, env=None):
    """Count ``texts`` with counter_for in a fresh process: the counts, which tiktoken encoders (the
    Rust CoreBPE) were built, and whether a dict of all ranks was."""
    code = textwrap.dedent("""
        import json, sys
        from pytest_tokenbudget import _tokenizers
        counter = _tokenizers.counter_for("o200k_base")
        counts = [counter.count(text) for text in json.load(sys.stdin)]
        print(json.dumps({"counts": counts, "built": sorted(_tokenizers._built_encodings),
                          "rank_dict": _tokenizers._shipped_definition.cache_info().currsize > 0}))
    """)
    environment = {key: value for key, value in os.environ.items() if key != NO_CACHE_ENV}
    environment.update({CACHE_DIR_ENV: str(tmp_path / "cache"), **(env or {})})
    # JSON escapes a lone surrogate (ensure_ascii), so the child counts the very same texts.
    result = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True, text=True,
                            env=environment, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_ascii_prompts_are_counted_without_building_tiktoken_s_encoder(tmp_path, o200k):
    texts = ["You are Ada, the support assistant of Acme Outdoor.", "user", "", "Where is order A-7?"]
    expected = [len(o200k.encode_ordinary(text)) for text in texts]
    # The first run on a machine parses the shipped ranks (and writes the cache copy); the next
    # ones look ranks up in the copy's index, building no dict of 200,000 ranks either.
    assert run_counting(tmp_path, texts) == {"counts": expected, "built": [], "rank_dict": True}
    assert run_counting(tmp_path, texts) == {"counts": expected, "built": [], "rank_dict": False}


def test_a_non_ascii_text_builds_the_encoder_and_counts_stay_exact(tmp_path, o200k):
    texts = ["Where is order A-7?", "ünïcödé 漢字 😀", "Where is order A-8?", "broken \ud800 pair"]
    result = run_counting(tmp_path, texts)
    expected = [len(o200k.encode_ordinary(text)) for text in texts]
    assert result == {"counts": expected, "built": ["o200k_base"], "rank_dict": True}


def test_past_its_work_budget_the_encoder_is_built(tmp_path, o200k, monkeypatch):
    monkeypatch.setattr(_ascii_bpe, "WORK_BUDGET_CHARS", 50)
    counter = AsciiBpeCounter(o200k._mergeable_ranks)
    assert counter.count("a" * 40) == len(o200k.encode_ordinary("a" * 40))
    assert counter.count("a" * 40) is None
    monkeypatch.undo()
    more_than_the_budget = "word " * (_ascii_bpe.WORK_BUDGET_CHARS // 5 + 1)
    result = run_counting(tmp_path, [more_than_the_budget])
    expected = [len(o200k.encode_ordinary(more_than_the_budget))]
    assert result == {"counts": expected, "built": ["o200k_base"], "rank_dict": True}
