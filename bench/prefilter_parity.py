"""Does the text prefilter pick the same rules as its definition, file by file on the bench corpus?

A trigger is a regex (RULES_API.md, "Prefilter"); the engine answers them with word passes and
substring searches instead. This runs every trigger as the plain regex it is and checks that
`RuleSet.applicable` (also with ``sends=True``) and `RuleSet.may_call_llm` agree on every file,
for all rules together and for each rule alone (each selection makes its own word pass).

    python bench/prefilter_parity.py                   # against the regex definition
    python bench/prefilter_parity.py --dump old.json   # record this tree's answers ...
    python bench/prefilter_parity.py --compare old.json  # ... and compare another tree with them

Run with ``PYTHONPATH`` set to the tree to test (e.g. ``PYTHONPATH=/work/main`` for --dump).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def corpus_files() -> list[Path]:
    sys.path.insert(0, str(HERE))
    from bench_checker import ensure_corpus

    return sorted(ensure_corpus().rglob("*.py"))


def selections():
    from checker.registry import all_rules

    rules = list(all_rules().values())
    yield "all", rules
    for rule in rules:
        yield rule.code, [rule]


def answers(files: list[Path]) -> dict[str, dict[str, list]]:
    """Per selection, per file: [applicable codes, applicable codes when sending, may_call_llm]."""
    from checker.engine import RuleSet

    datas = {str(path.relative_to(HERE)): path.read_bytes() for path in files}
    found: dict[str, dict[str, list]] = {}
    for name, rules in selections():
        rule_set = RuleSet(rules)
        found[name] = {
            key: [[r.code for r in rule_set.applicable(data)], [r.code for r in rule_set.applicable(data, sends=True)],
                  rule_set.may_call_llm(data)]
            for key, data in datas.items()
        }
    return found


def defined_answers(files: list[Path]) -> dict[str, dict[str, list]]:
    """The same answers, each trigger searched as the regex it is."""
    from checker.engine import _scoped, rule_triggers
    from checker.triggers import CALL_TRIGGERS, SEND_PATTERNS

    compiled: dict[str, re.Pattern[bytes]] = {}

    def regex(pattern: str) -> re.Pattern[bytes]:
        if pattern not in compiled:
            compiled[pattern] = re.compile(_scoped(pattern).encode())
        return compiled[pattern]

    found: dict[str, dict[str, list]] = {name: {} for name, _ in selections()}
    for path in files:
        data = path.read_bytes()
        memo: dict[str, bool] = {}

        def holds(conjunction) -> bool:
            for pattern in conjunction:
                if pattern not in memo:
                    memo[pattern] = regex(pattern).search(data) is not None
                if not memo[pattern]:
                    return False
            return True

        def chosen(rules, sends: bool) -> list[str]:
            codes = []
            for rule in rules:
                alternatives = rule_triggers(rule)
                if not alternatives or any(holds([p for p in c if not (sends and p in SEND_PATTERNS)])
                                           for c in alternatives):
                    codes.append(rule.code)
            return codes

        calls = any(holds(conjunction) for conjunction in CALL_TRIGGERS)
        key = str(path.relative_to(HERE))
        for name, rules in selections():
            found[name][key] = [chosen(rules, False), chosen(rules, True), calls]
    return found


def compare(expected: dict, actual: dict, label: str) -> int:
    mismatches = 0
    for name, per_file in expected.items():
        for key, answer in per_file.items():
            if actual.get(name, {}).get(key) != answer:
                mismatches += 1
                if mismatches <= 20:
                    print(f"MISMATCH [{name}] {key}: {label} {answer} != this tree {actual.get(name, {}).get(key)}")
    checked = sum(len(per_file) for per_file in expected.values())
    print(f"{checked} (selection, file) answers x 3 checked against {label}: {mismatches} mismatches")
    return mismatches


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dump", type=Path, help="write this tree's answers to a JSON file")
    parser.add_argument("--compare", type=Path, help="compare this tree's answers with a --dump file")
    args = parser.parse_args()
    files = corpus_files()
    started = time.perf_counter()
    found = answers(files)
    print(f"{len(files)} files, {len(found)} selections answered in {time.perf_counter() - started:.1f} s")
    if args.dump:
        args.dump.write_text(json.dumps(found, sort_keys=True))
        return 0
    if args.compare:
        return 1 if compare(json.loads(args.compare.read_text()), found, str(args.compare)) else 0
    return 1 if compare(defined_answers(files), found, "the regex definition") else 0


if __name__ == "__main__":
    sys.exit(main())
