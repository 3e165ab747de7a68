"""Counts remembered across runs: the same counts as the tokenizer's, no tokenizer built when all
texts were counted before, never a prompt's text on disk, and a damaged file just ignored."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from pytest_tokenbudget import _count_cache, _rank_cache
from pytest_tokenbudget._tokenizers import get_encoding

TEXTS = ["You are Ada, the support assistant of Acme Outdoor.", "user", "", "Where is order A-7?",
         "<|endoftext|> ünïcödé 漢字 😀", "broken \ud800 pair"]


def run_counting(tmp_path, *, enable=True, save=True, env=None):
    """Count TEXTS in a fresh process; prints the counts and whether an encoding had to be built."""
    code = textwrap.dedent(f"""
        import json
        from pytest_tokenbudget import _count_cache
        from pytest_tokenbudget._tokenizers import counter_for, rank_tables_loaded
        if {enable}:
            _count_cache.enable()
        counter = counter_for("o200k_base")
        counts = [counter.count(text) for text in {TEXTS!r}]
        if {save}:
            _count_cache.save()
        print(json.dumps({{"counts": counts, "built": rank_tables_loaded()}}))
    """)
    environment = {key: value for key, value in os.environ.items() if key != _rank_cache.NO_CACHE_ENV}
    environment.update({_rank_cache.CACHE_DIR_ENV: str(tmp_path / "cache"), **(env or {})})
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=False,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def expected_counts():
    encoding = get_encoding("o200k_base")  # tiktoken's own constructor over the shipped ranks
    return [len(encoding.encode_ordinary(text)) for text in TEXTS]


def count_files(tmp_path):
    return sorted((tmp_path / "cache").glob("counts-*.bin"))


def test_a_rerun_gets_the_same_counts_without_building_the_tokenizer(tmp_path):
    first = run_counting(tmp_path)
    assert first == {"counts": expected_counts(), "built": True}
    [stored] = count_files(tmp_path)
    data = stored.read_bytes()
    for text in TEXTS:
        if len(text) > 3:
            assert text.encode("utf-8", "surrogatepass") not in data  # digests only, never the text
    second = run_counting(tmp_path)
    assert second == {"counts": expected_counts(), "built": False}


def test_a_new_text_builds_the_tokenizer_and_is_remembered_too(tmp_path):
    run_counting(tmp_path)
    table = _count_cache.CountTable(count_files(tmp_path)[0])
    assert table.get(_count_cache.digest("a text no run counted")) is None
    assert table.get(_count_cache.digest(TEXTS[0])) == expected_counts()[0]


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign"])
def test_a_damaged_file_is_ignored_and_rewritten(tmp_path, damage):
    run_counting(tmp_path)
    [stored] = count_files(tmp_path)
    data = bytearray(stored.read_bytes())
    if damage == "truncate":
        data = data[:-7]
    elif damage == "flip":
        data[40] ^= 0x01  # inside an entry: the checksum no longer matches
    else:
        data = b"something else entirely"
    stored.write_bytes(bytes(data))
    assert run_counting(tmp_path) == {"counts": expected_counts(), "built": True}
    assert _count_cache.CountTable(stored).get(_count_cache.digest(TEXTS[0])) == expected_counts()[0]


def test_nothing_is_read_or_written_unless_the_plugin_switches_it_on(tmp_path):
    assert run_counting(tmp_path, enable=False) == {"counts": expected_counts(), "built": True}
    assert count_files(tmp_path) == []


def test_no_cache_switches_it_off(tmp_path):
    result = run_counting(tmp_path, env={_rank_cache.NO_CACHE_ENV: "1"})
    assert result == {"counts": expected_counts(), "built": True}
    assert not (tmp_path / "cache").exists()


def test_the_file_keeps_the_newest_entries_up_to_its_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(_count_cache, "MAX_ENTRIES", 10)
    table = _count_cache.CountTable(tmp_path / "counts.bin")
    for index in range(25):
        table.put(_count_cache.digest(f"text {index}"), index)
    table.save()
    reread = _count_cache.CountTable(tmp_path / "counts.bin")
    assert [reread.get(_count_cache.digest(f"text {index}")) for index in range(25)] == [None] * 15 + list(range(15, 25))


def run_claude_counting(tmp_path, *, refuse_to_count=False, factor_scale=1.0):
    """Count TEXTS with the Claude estimate in a fresh process, the plugin's remembered counts on.

    ``refuse_to_count``: the estimate itself fails, so only remembered counts can answer;
    ``factor_scale``: the calibration's factors changed since the counts were remembered."""
    code = textwrap.dedent(f"""
        import dataclasses, json
        from pytest_tokenbudget import _claude, _count_cache
        from pytest_tokenbudget._tokenizers import ClaudeCounter
        _count_cache.enable()
        inner = _claude.claude_counter("claude-v3", source="estimate")
        inner = dataclasses.replace(inner, factors=tuple((name, weight * {factor_scale}) for name, weight in inner.factors))
        if {refuse_to_count}:
            def refuse(self, text):
                raise AssertionError("counted instead of remembered: " + text)
            _claude.EstimateCounter.count_text = refuse
        counter = ClaudeCounter(inner)
        counts = [counter.count(text) for text in {TEXTS!r}]
        _count_cache.save()
        print(json.dumps(counts))
    """)
    environment = {key: value for key, value in os.environ.items() if key != _rank_cache.NO_CACHE_ENV}
    environment.update({_rank_cache.CACHE_DIR_ENV: str(tmp_path / "cache")})
    environment.pop("TOKENBUDGET_CLAUDE_COUNTER", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=False,
                            timeout=120)
    return result


def test_claude_estimates_are_remembered_and_forgotten_when_the_calibration_changes(tmp_path):
    from pytest_tokenbudget import _claude

    estimate = _claude.claude_counter("claude-v3", source="estimate")
    first = run_claude_counting(tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == [estimate.count_text(text) for text in TEXTS]
    [stored] = count_files(tmp_path)
    assert "claude-estimate" in stored.name
    remembered = run_claude_counting(tmp_path, refuse_to_count=True)
    assert remembered.returncode == 0, remembered.stderr
    assert json.loads(remembered.stdout) == json.loads(first.stdout)
    # Other factors give other counts: none of the remembered ones may answer for them.
    recalibrated = run_claude_counting(tmp_path, refuse_to_count=True, factor_scale=2.0)
    assert recalibrated.returncode != 0 and "counted instead of remembered" in recalibrated.stderr


def test_claude_estimates_are_kept_apart_per_unicode_database(monkeypatch):
    # The estimate asks Python's Unicode database whether a character is a letter, and every Python
    # shares the cache folder: "\u0cf3" * 100 is 102 tokens on 3.13 (a mark) and 323 on 3.11
    # (unassigned), so a count one remembered must not answer for the other.
    import types
    import unicodedata

    from pytest_tokenbudget import _claude

    estimate = _claude.claude_counter("claude-v3", source="estimate")
    here = estimate.counts_identity()
    # Another version than this Python's own (3.10 ships 13.0.0, 3.11 14.0.0, 3.13 15.1.0).
    another = types.SimpleNamespace(unidata_version=f"{unicodedata.unidata_version}-other", category=unicodedata.category)
    monkeypatch.setattr(_claude, "unicodedata", another)
    assert estimate.counts_identity() != here
