"""Where `tokenbudget check` spends its time on the bench corpus, stage by stage and rule by rule.

The funnel is deterministic: how many files each rule's text triggers admit, how many pass its
``ast`` gate (and so are parsed with libcst), and how many it reports in. A gate that admits many
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
from checker.engine import _MAX_DEPTH, RuleSet, _nodes_unless_deeper_than, _run_rules, decode_source  # noqa: E402
from checker.registry import rule_codes, select_rules  # noqa: E402
from checker.settings import RuleSettings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--select", default=None, help="comma-separated codes or prefixes (default: all)")
    parser.add_argument("--files-of", default=None, help="list the files this rule parses with libcst")
    args = parser.parse_args()
    import libcst as cst

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
    gated: collections.Counter[str] = collections.Counter()
    reported: collections.Counter[str] = collections.Counter()
    parsed_by: dict[str, list[str]] = collections.defaultdict(list)
    files_parsed = {"ast": 0, "libcst": 0}

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
        kept = []
        for rule in applicable:
            gate = getattr(rule, "ast_may_report", None)
            if gate is None or clock(f"gate {rule.code}", gate, nodes, settings):
                kept.append(rule)
        if any(rule.requires_llm_calls for rule in kept) and not clock("ast_may_call_llm", ast_may_call_llm, tree):
            kept = [rule for rule in kept if not rule.requires_llm_calls]
        if all(rule.code == "TB000" for rule in kept):
            continue  # as in the engine: TB000 alone needs no libcst tree
        files_parsed["libcst"] += 1
        module = clock("libcst parse", cst.parse_module, source)
        relative = str(path.relative_to(HERE / ".corpus" / "src"))
        for rule in kept:
            gated[rule.code] += 1
            parsed_by[rule.code].append(relative)
            found = clock(f"rule {rule.code}", _run_rules, module, source, relative, [rule], settings)
            if any(d.code == rule.code for d in found):
                reported[rule.code] += 1
        gc.collect()

    print(f"{len(files)} files; parsed with ast: {files_parsed['ast']}, with libcst: {files_parsed['libcst']}")
    print(f"{'rule':6} {'text admits':>11} {'ast gate passes':>16} {'reports in':>10}")
    for rule in rules:
        print(f"{rule.code:6} {admitted[rule.code]:11} {gated[rule.code]:16} {reported[rule.code]:10}")
    print("CPU seconds by stage:")
    for stage, spent in seconds.most_common():
        if spent >= 0.005:
            print(f"  {stage:24} {spent:6.2f}")
    if args.files_of:
        print(f"files {args.files_of} parses with libcst:")
        for name in parsed_by.get(args.files_of.upper(), []):
            print("  " + name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
