"""The compact rank copy in the user's cache: used only when verified, never a reason to fail."""

import hashlib
import os

import pytest
import tiktoken

from pytest_tokenbudget import _rank_cache
from pytest_tokenbudget._tokenizers import (
    COMPACT_RANK_HASHES,
    SHIPPED_RANK_FILES,
    _read_shipped_ranks,
    _shipped_ranks,
    get_encoding,
)

FILE = "cl100k_base.tiktoken"  # the smaller shipped file keeps these tests fast


@pytest.fixture(scope="module")
def parsed_ranks():
    return _read_shipped_ranks(FILE, SHIPPED_RANK_FILES[FILE])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(_rank_cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(_rank_cache.NO_CACHE_ENV, raising=False)
    return _rank_cache.cache_path(FILE, COMPACT_RANK_HASHES[FILE])


def count_with(ranks, text):
    """Tokens of ``text`` with cl100k_base's own pattern over ``ranks``."""
    pattern = get_encoding("cl100k_base")._pat_str
    encoding = tiktoken.Encoding(name="check", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    return len(encoding.encode_ordinary(text))


@pytest.mark.parametrize("file_name", sorted(SHIPPED_RANK_FILES))
def test_pinned_hash_is_the_compact_layout_of_the_shipped_file(file_name):
    ranks = _read_shipped_ranks(file_name, SHIPPED_RANK_FILES[file_name])
    data = _rank_cache.encode(ranks)
    assert hashlib.sha256(data).hexdigest() == COMPACT_RANK_HASHES[file_name]
    assert _rank_cache.decode(data) == ranks


@pytest.mark.parametrize("file_name", sorted(SHIPPED_RANK_FILES))
def test_the_index_finds_every_rank_and_nothing_else(file_name):
    ranks = _read_shipped_ranks(file_name, SHIPPED_RANK_FILES[file_name])
    index = _rank_cache.RankIndex(_rank_cache.encode(ranks))
    assert all(index.get(token) == rank for token, rank in ranks.items())
    # Pair joins a merge looks up and misses, and bytes no encoding has.
    absent_tokens = [b"", b"\xff\xfe\xfd\xfc", b"hello world, my friend", b"\x00" * 9,
                     *(token + b"\xff" for token in list(ranks)[:500])]
    for absent in absent_tokens:
        assert absent not in ranks and index.get(absent) is None and absent not in index


@pytest.mark.parametrize("cut", [1, 7, 100])
def test_a_truncated_or_foreign_copy_is_not_a_layout(parsed_ranks, cut):
    data = _rank_cache.encode(parsed_ranks)
    older_layout = b"pytest-tokenbudget ranks 1\n" + data[27:]
    for bad in [data[:-cut], data[: len(data) // (cut + 1)], data + b"x" * cut, older_layout]:
        with pytest.raises(ValueError):
            _rank_cache.decode(bad)
        with pytest.raises(ValueError):
            _rank_cache.RankIndex(bad)


def test_load_index_uses_only_a_verified_copy(cache, parsed_ranks):
    assert _rank_cache.load_index(FILE, COMPACT_RANK_HASHES[FILE]) is None  # no copy yet
    _shipped_ranks(FILE, SHIPPED_RANK_FILES[FILE])
    index = _rank_cache.load_index(FILE, COMPACT_RANK_HASHES[FILE])
    assert index is not None and index.get(b"hello") == parsed_ranks[b"hello"]
    tampered = dict(parsed_ranks)
    tampered[b"hello"], tampered[b" world"] = parsed_ranks[b" world"], parsed_ranks[b"hello"]
    cache.write_bytes(_rank_cache.encode(tampered))
    assert _rank_cache.load_index(FILE, COMPACT_RANK_HASHES[FILE]) is None


def test_first_load_writes_the_copy_and_the_next_reads_it(cache, parsed_ranks, monkeypatch):
    assert not cache.exists()
    assert _shipped_ranks(FILE, SHIPPED_RANK_FILES[FILE]) == parsed_ranks
    assert cache.is_file()
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary file left behind

    def no_parsing(*args):
        raise AssertionError("the shipped file was parsed although a verified copy exists")

    monkeypatch.setattr("pytest_tokenbudget._tokenizers._read_shipped_ranks", no_parsing)
    assert _shipped_ranks(FILE, SHIPPED_RANK_FILES[FILE]) == parsed_ranks


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_corrupt_copy_falls_back_to_parsing_and_is_rewritten(cache, parsed_ranks, damage):
    _shipped_ranks(FILE, SHIPPED_RANK_FILES[FILE])
    good = cache.read_bytes()
    cache.write_bytes({"truncated": good[: len(good) // 2], "garbage": os.urandom(4096), "empty": b""}[damage])
    ranks = _shipped_ranks(FILE, SHIPPED_RANK_FILES[FILE])
    assert ranks == parsed_ranks
    assert count_with(ranks, "hello world") == 2  # tiktoken's cl100k_base count
    assert cache.read_bytes() == good


def test_a_well_formed_copy_with_other_ranks_is_ignored(cache, parsed_ranks):
    # Same layout, two ranks swapped: decodes fine, but its hash is not the pinned one.
    tampered = dict(parsed_ranks)
    tampered[b"hello"], tampered[b" world"] = parsed_ranks[b" world"], parsed_ranks[b"hello"]
    cache.parent.mkdir(parents=True)
    cache.write_bytes(_rank_cache.encode(tampered))
    assert _rank_cache.load(FILE, COMPACT_RANK_HASHES[FILE]) is None
    assert _shipped_ranks(FILE, SHIPPED_RANK_FILES[FILE]) == parsed_ranks


def test_ranks_that_do_not_match_the_pin_are_never_written(cache, parsed_ranks):
    _rank_cache.store(FILE, COMPACT_RANK_HASHES[FILE], {b"a": 0, b"b": 1})
    assert not cache.exists()


def test_an_unwritable_cache_directory_still_counts(tmp_path, monkeypatch, parsed_ranks):
    # A regular file where the directory should be: mkdir fails for root too (unlike chmod).
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv(_rank_cache.CACHE_DIR_ENV, str(blocker / "cache"))
    assert _shipped_ranks(FILE, SHIPPED_RANK_FILES[FILE]) == parsed_ranks
    assert blocker.read_text() == ""


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_cache_directory_still_counts(tmp_path, monkeypatch, parsed_ranks):
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o500)
    monkeypatch.setenv(_rank_cache.CACHE_DIR_ENV, str(folder))
    try:
        assert _shipped_ranks(FILE, SHIPPED_RANK_FILES[FILE]) == parsed_ranks
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_caching_can_be_switched_off(cache, monkeypatch, parsed_ranks):
    monkeypatch.setenv(_rank_cache.NO_CACHE_ENV, "1")
    assert _shipped_ranks(FILE, SHIPPED_RANK_FILES[FILE]) == parsed_ranks
    assert not cache.parent.exists()


def test_default_location_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv(_rank_cache.CACHE_DIR_ENV, raising=False)
    monkeypatch.delenv(_rank_cache.NO_CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("sys.platform", "linux")
    assert _rank_cache.cache_dir() == tmp_path / "pytest-tokenbudget"
