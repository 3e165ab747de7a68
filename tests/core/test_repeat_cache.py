"""The counters' repeat cache: the same counts as counting afresh, in bounded memory."""

import threading

from pytest_tokenbudget._tokenizers import _RepeatCache, counter_for, get_encoding


def test_cached_counts_equal_fresh_counts_for_repeated_texts():
    counter = counter_for("o200k_base")
    encoding = get_encoding("o200k_base")
    texts = ["user", "", "You are a helpful assistant. " * 20, "Where is order A-7?", "<|endoftext|> ünïcödé 漢字"]
    for _ in range(3):  # the later rounds are answered from the cache
        assert [counter.count(text) for text in texts] == [len(encoding.encode_ordinary(text)) for text in texts]


def test_the_cache_is_bounded_by_size_not_only_by_entries():
    cache = _RepeatCache(max_size=10_000)
    calls = []

    def count(text):
        calls.append(text)
        return len(text)

    for index in range(5_000):  # far more than fit: 10,000 / (64 + ~5) is about 140 entries
        assert cache.get_or_count(f"t{index}", count) == len(f"t{index}")
    assert 0 < len(cache) <= 10_000 // _RepeatCache.ENTRY_OVERHEAD
    huge = "x" * 5_000  # over an eighth of the bound: counted, never kept
    assert cache.get_or_count(huge, count) == 5_000
    assert cache.get_or_count(huge, count) == 5_000
    assert calls.count(huge) == 2
    cache.get_or_count("again", count)
    cache.get_or_count("again", count)
    assert calls.count("again") == 1


def test_threads_sharing_a_cache_all_get_right_counts():
    cache = _RepeatCache(max_size=3_000)  # small: threads keep starting it over while others read
    texts = [f"text number {index}" for index in range(200)]
    wrong = []

    def work():
        for _ in range(20):
            for text in texts:
                if cache.get_or_count(text, len) != len(text):
                    wrong.append(text)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
