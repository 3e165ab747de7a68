"""Runtime guard speed, each figure next to a reference measured in the same run.

1. Guard overhead on a ~2,000-token chat request whose system prompt is the same every time
   (the body decoded from JSON bytes and judged, as the guard's transport does), against a raw
   tiktoken encode of the same texts. Goals: <= 1 ms CPU per request, <= 1.1x tiktoken.
2. fit_messages on a 500-message history. Goal: <= 20 ms.
3. MemoryWindow.consume. Goal: <= 20 us per consume.
4. RedisWindow.consume against a local redis-server (if installed): client commands (round trips) per consume (goal:
   one round trip) and time against a PING, which is one round trip.

Run: python bench/bench_guard.py
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

from bench_counting import paired_ratios, text_of

from pytest_tokenbudget import Budget, MemoryWindow, fit_messages
from pytest_tokenbudget._guard import Guard, parse_body
from pytest_tokenbudget._tokenizers import get_encoding


def cpu_per_call(action, calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        action()
    return (time.process_time() - start) / calls


def main() -> None:
    rng = random.Random(20261202)
    encoding = get_encoding("o200k_base")
    system = text_of(1500, rng)

    def batch() -> list[bytes]:
        # A new question each request: only the system prompt repeats.
        return [json.dumps({"model": "gpt-4o", "max_tokens": 256, "messages": [
            {"role": "system", "content": system}, {"role": "user", "content": text_of(500, rng)}]}).encode()
            for _ in range(50)]

    batches = [batch() for _ in range(22)]
    current = [batches[0]]
    guard = Guard(Budget(max_input_tokens=8000, max_output_tokens=1000), log=False)
    print(f"request: {guard.admit(parse_body(batches[0][0]), 'openai.chat').count.input_tokens:,} input tokens")

    def ours():
        for raw in current[0]:
            guard.admit(parse_body(raw), "openai.chat")

    def reference():  # runs first in each pair: it takes the next batch, which ours then judges
        current[0] = batches.pop()
        for raw in current[0]:
            body = json.loads(raw)
            for message in body["messages"]:
                encoding.encode(message["content"])

    ratio, ours_time, raw_time = paired_ratios(21, ours, reference)
    print(f"1. guard (decode + count + judge) / tiktoken encode = {ratio:.3f}x  (goal <= 1.1x; median of 21 paired runs of 50 requests)")
    fresh = iter([raw for _ in range(10) for raw in batch()])
    cpu = cpu_per_call(lambda: guard.admit(parse_body(next(fresh)), "openai.chat"), 500)
    print(f"   guard CPU per request = {cpu * 1e3:.3f} ms  (goal <= 1 ms; process_time over 500 requests);"
          f" wall medians: guard {ours_time / 50 * 1e3:.3f} ms, tiktoken {raw_time / 50 * 1e3:.3f} ms per request")

    history = []
    for turn in range(250):
        history += [{"role": "user", "content": text_of(60, rng)}, {"role": "assistant", "content": text_of(60, rng)}]
    fit_messages(history, "gpt-4o", max_input_tokens=8000)  # warm the tokenizer
    times = []
    for _ in range(21):
        start = time.perf_counter()
        kept = fit_messages(history, "gpt-4o", max_input_tokens=8000, system=system)
        times.append(time.perf_counter() - start)
    print(f"2. fit_messages, 500 messages -> {len(kept)} kept = {statistics.median(times) * 1e3:.2f} ms  (goal <= 20 ms; median of 21)")

    window = MemoryWindow(max_tokens=10**12, seconds=60)
    calls = 100_000
    start = time.perf_counter()
    for n in range(calls):
        window.consume(f"user-{n % 100}", 2000)
    print(f"3. MemoryWindow.consume = {(time.perf_counter() - start) / calls * 1e6:.2f} us  (goal <= 20 us; mean of {calls:,})")

    redis_bench()


def redis_bench() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from conftest import loopback_redis_server

    try:
        with loopback_redis_server() as port:
            redis_figures(port)
    except (ImportError, FileNotFoundError) as missing:
        print(f"4. RedisWindow: skipped ({missing}; the redis client: pip install redis)")


def redis_figures(port: int) -> None:
    import redis

    from pytest_tokenbudget import RedisWindow

    client = redis.Redis(host="127.0.0.1", port=port)
    window = RedisWindow(client, max_tokens=10**12, seconds=60)
    window.consume("warm", 1)  # loads the script once
    calls = 2000
    client.config_resetstat()
    for n in range(calls):
        window.consume(f"user-{n % 100}", 2000)
    stats = client.info("commandstats")
    # Commands the client sent (the script's own TIME/HMGET/HSET run inside the server).
    per_consume = sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval", "script|load")) / calls
    ratio, consume_time, ping_time = paired_ratios(21, lambda: [window.consume("k", 1) for _ in range(50)],
                                                   lambda: [client.ping() for _ in range(50)])
    print(f"4. RedisWindow: {per_consume:.2f} client commands (round trips) per consume (goal: 1 round trip);"
          f" consume / PING = {ratio:.2f}x ({consume_time / 50 * 1e6:.0f} us vs {ping_time / 50 * 1e6:.0f} us; median of 21)")


if __name__ == "__main__":
    main()
