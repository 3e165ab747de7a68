"""Counting speed, as ratios against raw tiktoken measured in the same run.

1. One ~100k-token chat request (system prompt, 60 history messages, tools) counted with
   count_request, against tiktoken encoding the same texts. Goal: <= 1.1x.
2. The same request shape with an unchanged 5k-token system prompt counted 100 times (each time
   freshly decoded from JSON, as the plugin sees it), against re-encoding it every time.
   Goal: >= 10x faster.
3. ASCII text before tiktoken's encoder is built: the pure-Python counter (`_ascii_bpe`, ranks
   looked up in the cache copy's index) against tiktoken, in microseconds per character over this
   project's own ASCII sources. No goal: it is the figure `_ascii_bpe.WORK_BUDGET_CHARS` rests on.

Run: python bench/bench_counting.py
"""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path

from pytest_tokenbudget import _ascii_bpe, _rank_cache, count_request
from pytest_tokenbudget._tokenizers import counter_for, get_encoding

WORDS = ("order refund shipping customer policy invoice warehouse delivery tracking account "
         "password reset subscription plan upgrade discount coupon return label carrier "
         "damaged missing package address billing card payment receipt support agent "
         "escalate manager weekend holiday Berlin Tokyo São Paulo 42 2024-11-28 #A-1933 "
         "{\"sku\": \"X-1\", \"qty\": 3} def handle(order): return order.total * 1.19").split()


def text_of(tokens_wanted: int, rng: random.Random) -> str:
    # About 1.2 words per token for this vocabulary; close enough, the count is measured below.
    return " ".join(rng.choice(WORDS) for _ in range(int(tokens_wanted * 0.8)))


def big_request(rng: random.Random) -> dict:
    history = []
    for turn in range(60):
        history.append({"role": "user" if turn % 2 == 0 else "assistant", "content": text_of(1500, rng)})
    tools = [{"type": "function", "function": {"name": f"tool_{i}", "description": text_of(40, rng),
              "parameters": {"type": "object", "properties": {
                  "order_id": {"type": "string", "description": "The order"},
                  "mode": {"type": "string", "description": "How", "enum": ["fast", "slow"]}}}}} for i in range(8)]
    return {"model": "gpt-4o", "max_tokens": 1024, "tools": tools,
            "messages": [{"role": "system", "content": text_of(8000, rng)}, *history]}


def texts_in(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"]] + [t["function"]["description"] for t in body["tools"]]


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def paired_ratios(rounds: int, ours, reference) -> tuple[float, float, float]:
    """Median ratio ours/reference over rounds that time both back to back, so that load from
    other processes on this shared machine hits both sides alike. Also the medians of each side."""
    ratios, ours_times, reference_times = [], [], []
    for _ in range(rounds):
        reference_time = timed(reference)
        ours_time = timed(ours)
        ratios.append(ours_time / reference_time)
        ours_times.append(ours_time)
        reference_times.append(reference_time)
    return statistics.median(ratios), statistics.median(ours_times), statistics.median(reference_times)


def main() -> None:
    rng = random.Random(20261128)
    encoding = get_encoding("o200k_base")
    counter = counter_for("o200k_base")

    body = big_request(rng)
    texts = texts_in(body)
    counted = count_request(body)
    print(f"request: {counted.input_tokens:,} input tokens in {len(body['messages'])} messages + tools")

    def ours() -> None:
        counter.clear_cache()  # every run counts from scratch: no credit for the repeat cache
        count_request(body)

    ratio, ours_time, raw_time = paired_ratios(21, ours, lambda: [encoding.encode(t) for t in texts])
    print(f"1. count_request / tiktoken encode          = {ratio:.3f}x  (goal <= 1.1x; median of 21 paired runs)")
    print(f"   (medians: count_request {ours_time * 1e3:.1f} ms, encode {raw_time * 1e3:.1f} ms)")
    ratio, _, _ = paired_ratios(21, ours, lambda: [encoding.encode_ordinary(t) for t in texts])
    print(f"   count_request / tiktoken encode_ordinary = {ratio:.3f}x")

    system = text_of(5000, rng)
    template = {"model": "gpt-4o", "max_tokens": 256, "messages": [
        {"role": "system", "content": system}, {"role": "user", "content": "Where is my order #{n}?"}]}
    bodies = []
    for n in range(100):
        fresh = json.loads(json.dumps(template))  # new string objects each time, as from the wire
        fresh["messages"][1]["content"] = fresh["messages"][1]["content"].format(n=n)
        bodies.append(fresh)
    print(f"\nsystem prompt: {len(encoding.encode(system)):,} tokens, request counted 100 times")

    def repeated_ours() -> None:
        counter.clear_cache()  # the first of the 100 pays for the system prompt
        for fresh in bodies:
            count_request(fresh)

    def repeated_raw() -> None:
        for fresh in bodies:
            for message in fresh["messages"]:
                encoding.encode(message["content"])

    ratio, ours_time, raw_time = paired_ratios(9, repeated_ours, repeated_raw)
    print(f"2. re-encoding / count_request x100 = {1 / ratio:.1f}x faster  (goal >= 10x; median of 9 paired runs)")
    print(f"   (medians: count_request x100 {ours_time * 1e3:.1f} ms, re-encoding x100 {raw_time * 1e3:.1f} ms)")

    sources = [path.read_text(encoding="utf-8") for path in sorted(Path(__file__).resolve().parents[1].glob("**/*.py"))]
    ranks = _rank_cache.RankIndex(_rank_cache.encode(encoding._mergeable_ranks))
    # Files it declines (not ASCII, or a piece too long to merge in Python) go to tiktoken anyway.
    sources = [text for text in sources
               if _ascii_bpe.AsciiBpeCounter(ranks, work_budget=len(text)).count(text) is not None]
    characters = sum(map(len, sources))

    def pure_python() -> None:
        fresh = _ascii_bpe.AsciiBpeCounter(ranks, work_budget=characters)  # nothing remembered from a previous run
        assert all(fresh.count(text) is not None for text in sources)

    ratio, ours_time, raw_time = paired_ratios(5, pure_python, lambda: [encoding.encode_ordinary(t) for t in sources])
    print(f"\n3. ASCII sources ({characters:,} characters): pure Python {ours_time / characters * 1e6:.3f} us/char, "
          f"tiktoken {raw_time / characters * 1e6:.3f} us/char ({ratio:.1f}x; median of 5 paired runs)")


if __name__ == "__main__":
    main()
