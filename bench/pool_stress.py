"""The checker pool's stress tests over many seeds: workers SIGKILLed at the protocol's points and
at random times, and every file must still get exactly one result.

    python bench/pool_stress.py [--runs 300] [--first-seed 0]

The suite runs a few seeds of each (tests/checker/test_pool_stress.py); this runs hundreds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "checker"))

from test_pool_stress import stress_at_protocol_points, stress_at_random_times  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300, help="seeds per kind of stress")
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args()
    failures = 0
    started = time.monotonic()
    for stress in (stress_at_protocol_points, stress_at_random_times):
        for seed in range(args.first_seed, args.first_seed + args.runs):
            try:
                stress(seed)
            except AssertionError as error:
                failures += 1
                print(f"FAILED {stress.__name__} seed {seed}: {error}", flush=True)
        print(f"{stress.__name__}: {args.runs} seeds done", flush=True)
    print(f"{2 * args.runs} runs, {failures} failed, {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
