"""Where `tokenbudget check` spends its time on the bench corpus, stage by stage and rule by rule.

The funnel is deterministic: how many files each rule's text triggers admit, how many it runs on
after the shared ``requires_llm_calls`` pass, and how many it reports in. A rule that runs on many
files and reports in none is where the next speed-up is. Stage times are CPU seconds of one
process with the cyclic collector off, as in the workers; compare them with each other, not
across runs.

    python bench/checker_stages.py [--select TB401,TB5] [--files-of TB401]
"""

from __future__ import annotations

import argparse
import ast
import collections
import gc
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench_checker import ensure_corpus  # noqa: E402

from checker.calls import ast_may_call_llm  # noqa: E402
from checker.context import RuleContext  # noqa: E402
from checker.engine import _MAX_DEPTH, RuleSet, _build_fix, _nodes_unless_deeper_than, decode_source  # noqa: E402
from checker.registry import rule_codes, select_rules  # noqa: E402
from checker.settings import RuleSettings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--select", default=None, help="comma-separated codes or prefixes (default: all)")
    parser.add_argument("--files-of", default=None, help="list the files this rule runs on")
    args = parser.parse_args()

    codes = frozenset(rule_codes())
    if args.select:
        prefixes = tuple(args.select.split(","))
        codes = frozenset(c for c in codes if c.startswith(prefixes))
    rules = select_rules(codes)
    rule_set = RuleSet(rules)
    settings = RuleSettings()
    files = sorted(ensure_corpus().rglob("*.py"))

    seconds: collections.Counter[str] = collections.Counter()
    admitted: collections.Counter[str] = collections.Counter()
    ran: collections.Counter[str] = collections.Counter()
    reported: collections.Counter[str] = collections.Counter()
    parsed_by: dict[str, list[str]] = collections.defaultdict(list)
    files_parsed = {"ast": 0, "rules": 0, "fixes": 0}

    def clock(stage: str, function, *arguments):
        start = time.process_time()
        result = function(*arguments)
        seconds[stage] += time.process_time() - start
        return result

    gc.disable()
    for path in files:
        data = clock("read", path.read_bytes)
        applicable = clock("text prefilter", rule_set.applicable, data)
        if not applicable:
            continue
        for rule in applicable:
            admitted[rule.code] += 1
        try:
            source, _ = decode_source(data)
            tree = clock("ast.parse", ast.parse, source)
        except (SyntaxError, ValueError, UnicodeDecodeError, LookupError, RecursionError):
            continue
        files_parsed["ast"] += 1
        nodes = clock("node walk", _nodes_unless_deeper_than, tree, _MAX_DEPTH)
        if nodes is None:
            continue
        kept = list(applicable)
        if any(rule.requires_llm_calls for rule in kept) and not clock("ast_may_call_llm", ast_may_call_llm, nodes):
            kept = [rule for rule in kept if not rule.requires_llm_calls]
        if all(rule.code == "TB000" for rule in kept):
            continue  # as in the engine: TB000 alone needs no walk
        files_parsed["rules"] += 1
        relative = str(path.relative_to(HERE / ".corpus" / "src"))
        context = RuleContext(relative, source, tree, settings)
        clock("shared index", lambda: context.index)
        if any(rule.uses_llm_calls for rule in kept):
            clock("call finder", lambda: context.llm_calls)
        for rule in kept:
            ran[rule.code] += 1
            parsed_by[rule.code].append(relative)
            before = len(context.reports)
            clock(f"rule {rule.code}", rule(context).finish)
            if len(context.reports) > before:
                reported[rule.code] += 1
        for report in context.reports:
            if report.fix is not None:
                files_parsed["fixes"] += 1
                clock("fixes (libcst)", _build_fix, context, report)
        gc.collect()

    print(f"{len(files)} files; parsed with ast: {files_parsed['ast']}, rules run on: {files_parsed['rules']}, "
          f"fixes built: {files_parsed['fixes']}")
    print(f"{'rule':6} {'text admits':>11} {'runs on':>8} {'reports in':>10}")
    for rule in rules:
        print(f"{rule.code:6} {admitted[rule.code]:11} {ran[rule.code]:8} {reported[rule.code]:10}")
    print("CPU seconds by stage:")
    for stage, spent in seconds.most_common():
        if spent >= 0.005:
            print(f"  {stage:24} {spent:6.2f}")
    if args.files_of:
        print(f"files {args.files_of} runs on:")
        for name in parsed_by.get(args.files_of.upper(), []):
            print("  " + name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
