"""What the heuristic rules (TB2xx-TB5xx) add to the cost of `tokenbudget check`.

Reference, measured in the same run on the same files: the checker with only the TB1xx rules
(the call-site rules every run has). Printed: wall time of each selection and the ratio
`TB1 + heuristics / TB1 alone`, plus how many files each selection had to parse (the prefilter
decides that from the rules' triggers, so it is most of the story).

Corpus: the langchain-community 0.4.2 wheel that bench_checker.py fetches into bench/.corpus/
(gitignored); any directory can be given instead.

    python bench/bench_heuristic_rules.py [--repeat 3] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SELECTIONS = {"TB1 only": "TB1", "TB1 + TB2-TB5": "TB1,TB2,TB3,TB4,TB5"}


def corpus_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    from bench_checker import ensure_corpus  # same corpus as the engine's benchmark

    return ensure_corpus() / "langchain_community-0.4.2-py3-none-any"


def run(select: str, corpus: Path) -> float:
    command = [sys.executable, "-m", "checker", "check", "--select", select, "--no-cache", "--exit-zero",
               "-q", "-j", "1", str(corpus)]
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=HERE.parent)
    return time.perf_counter() - start


def parsed_files(select: str, corpus: Path) -> tuple[int, int]:
    from checker.engine import RuleSet
    from checker.registry import all_rules

    rules = [rule for code, rule in all_rules().items() if any(code.startswith(p) for p in select.split(","))]
    rule_set = RuleSet(rules)
    files = sorted(corpus.rglob("*.py"))
    return sum(1 for f in files if rule_set.applicable(f.read_bytes())), len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corpus")
    args = parser.parse_args()
    corpus = corpus_dir(args.corpus)
    times: dict[str, list[float]] = {name: [] for name in SELECTIONS}
    for _ in range(args.repeat):  # interleaved, so machine load hits both alike
        for name, select in SELECTIONS.items():
            times[name].append(run(select, corpus))
    for name, select in SELECTIONS.items():
        parsed, total = parsed_files(select, corpus)
        print(f"{name:15s} median {statistics.median(times[name]):6.2f} s   parses {parsed}/{total} files")
    ratio = statistics.median(times["TB1 + TB2-TB5"]) / statistics.median(times["TB1 only"])
    print(f"ratio (TB1 + heuristics) / TB1 alone: {ratio:.2f}")


if __name__ == "__main__":
    main()
