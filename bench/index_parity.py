"""Parity of the rules' shared index on CPython `ast` (this checkout's checker/rules/_index.py,
_llm.py, _flow.py, _models.py) with the libcst one it replaces (another checkout, main by default).

Both indexes are built for every .py file of the perf corpus and every VALID/INVALID example of
the rules; their answers are compared by source position (start line + character column; spans
where one start is not enough: chained calls start at the same name):

    calls, functions, classes, assignments (target, value, scope, augmented), imports, subscripts,
    binops, comparisons, dicts, loops, returns (as multisets and in order); per call: is_llm_call
    (broad and not), is_tokenizer_call, is_display_call, inside_display_call, names_in, code;
    string_value / number_value on every literal; the model literals of _models; with --flow,
    flows_into_llm / base_name / in_tokenizer_fallback / behind_setting_switch per subscript.

It also times both index builds (CPU, the parses not included).

    python bench/index_parity.py [--main /work/main] [--corpus DIR] [--limit N] [--flow] [--show 5]
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import re
import sys
import textwrap
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import libcst as cst  # noqa: E402
from libcst.metadata import MetadataWrapper, PositionProvider  # noqa: E402


def _ast_dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def load_new():
    """This checkout's modules. Until checker/calls.py is on ast, its `dotted` is swapped for an
    ast one here (the harness only: the index imports it from checker.calls)."""
    import checker.calls as calls

    if calls.dotted(ast.parse("a.b", mode="eval").body) != "a.b":
        calls.dotted = _ast_dotted
    mods = {name: importlib.import_module(f"checker.rules.{name}") for name in ("_index", "_llm", "_flow", "_models")}
    return mods


def load_old(main: Path):
    """The other checkout's package, imported as `mainchecker` (its absolute `checker.` imports
    resolve to this checkout, whose summaries/triggers modules it only reads constants from)."""
    spec = importlib.util.spec_from_file_location("mainchecker", main / "checker" / "__init__.py",
                                                  submodule_search_locations=[str(main / "checker")])
    package = importlib.util.module_from_spec(spec)
    sys.modules["mainchecker"] = package
    spec.loader.exec_module(package)
    return {name: importlib.import_module(f"mainchecker.rules.{name}") for name in ("_index", "_llm", "_flow", "_models")}


_NEWLINE = re.compile(r"\r\n|\r|\n")


class Positions:
    """(line, character column) of ast nodes, whose columns are UTF-8 byte offsets."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = _NEWLINE.split(source)
        self.starts = [0]
        for match in _NEWLINE.finditer(source):
            self.starts.append(match.end())

    def char(self, line: int, col: int) -> int:
        text = self.lines[line - 1]
        if text.isascii():
            return col
        return len(text.encode("utf-8")[:col].decode("utf-8", "replace"))

    def start(self, node):
        return (node.lineno, self.char(node.lineno, node.col_offset))

    def span(self, node):
        span = (node.lineno, self.char(node.lineno, node.col_offset),
                node.end_lineno, self.char(node.end_lineno, node.end_col_offset))
        if isinstance(node, (ast.Tuple, ast.GeneratorExp)):
            return self._inside_parens(span)
        return span

    def _inside_parens(self, span):
        """ast counts a tuple's parentheses (and a lone generator argument's call parentheses)
        as the node's; libcst's positions leave all parentheses out."""
        start = self.starts[span[0] - 1] + span[1]
        end = self.starts[span[2] - 1] + span[3]
        text = self.source[start:end]
        if not (text.startswith("(") and text.endswith(")")):
            return span
        depth = 0
        for ch in text[1:-1]:
            depth += (ch == "(") - (ch == ")")
            if depth < 0:
                return span  # `(a), (b)`: the first ( is not the tuple's
        inner = text[1:-1]
        start += 1 + len(inner) - len(inner.lstrip())
        end -= 1 + len(inner) - len(inner.rstrip())
        return (*self._line_col(start), *self._line_col(end))

    def _line_col(self, offset):
        from bisect import bisect_right

        line = bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1]


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        inner = text[1:-1]
        depth = 0
        for ch in inner:  # only if the outer pair matches itself
            depth += (ch == "(") - (ch == ")")
            if depth < 0:
                return text
        if depth:
            return text
        text = inner.strip()
    return text


def _squash(code: str) -> str:
    """libcst's code of a node inside an indented block loses that block's indentation (the
    block prints it): compare with whitespace runs collapsed, outer parentheses dropped."""
    return re.sub(r"\s+", " ", _strip_parens(code))


def compare_file(source: str, old, new, counts: Counter, examples: dict, times: dict, flow: bool, name: str) -> None:
    try:
        tree = ast.parse(source)
        t0 = time.process_time()
        module = cst.parse_module(source)
        times["cst_parse"] += time.process_time() - t0
    except Exception:  # noqa: BLE001 - a file one of the parsers rejects has nothing to compare
        counts["files skipped (parse error)"] += 1
        return
    counts["files"] += 1
    # Alternate which build runs first, so neither always gets a cold cache.
    builds = [("old", lambda: old["_index"].index_module(module)),
              ("new", lambda: new["_index"].index_module(tree, source))]
    if counts["files"] % 2:
        builds.reverse()
    built = {}
    for label, build in builds:
        t0 = time.process_time()
        built[label] = build()
        times[label] += time.process_time() - t0
    oi, ni = built["old"], built["new"]
    opos = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    npos = Positions(source)

    def ostart(n):
        r = opos[n]
        return (r.start.line, r.start.column)

    def ospan(n):
        r = opos[n]
        return (r.start.line, r.start.column, r.end.line, r.end.column)

    def mismatch(kind: str, detail) -> None:
        counts[kind] += 1
        examples.setdefault(kind, []).append((name, detail))

    def same_multiset(kind: str, old_keys, new_keys, new_starts=None) -> None:
        a, b = Counter(old_keys), Counter(new_keys)
        counts[kind + " (compared)"] += len(old_keys)
        if a != b:
            for key in (a - b):
                mismatch(kind, ("only libcst", key))
            for key in (b - a):
                mismatch(kind, ("only ast", key))
        if a == b and list(old_keys) != list(new_keys):
            counts[kind + " order differs from libcst's walk (info)"] += 1
        starts = [key[:2] for key in new_keys] if new_starts is None else new_starts
        if starts != sorted(starts):
            # libcst's walk was not in source order (a def's body before its decorators and
            # return annotation); the ast lists must be.
            mismatch(kind + " not in source order", starts[:8])

    for kind in ("calls", "functions", "classes", "subscripts", "binops", "comparisons", "dicts", "loops", "returns"):
        same_multiset(kind, [ospan(n) for n in getattr(oi, kind)], [npos.span(n) for n in getattr(ni, kind)])

    def oscope(s):
        return "module" if isinstance(s, cst.Module) else ostart(s)

    def nscope(s):
        return "module" if isinstance(s, ast.Module) else npos.start(s)

    same_multiset("assignments",
                  [(a.target, ostart(a.node), a.value is not None and ospan(a.value), oscope(a.scope), a.augmented)
                   for a in oi.assignments],
                  [(a.target, npos.start(a.node), a.value is not None and npos.span(a.value), nscope(a.scope), a.augmented)
                   for a in ni.assignments], [npos.start(a.node) for a in ni.assignments])
    counts["imports (compared)"] += len(oi.imports)
    if oi.imports != ni.imports:
        for key in set(oi.imports) | set(ni.imports):
            if oi.imports.get(key) != ni.imports.get(key):
                mismatch("imports", (key, oi.imports.get(key), ni.imports.get(key)))

    # ---- per call ----------------------------------------------------------------------------
    ocalls = {ospan(c): c for c in oi.calls}
    ncalls = {npos.span(c): c for c in ni.calls}
    ol, nl = old["_llm"], new["_llm"]
    for key in ocalls.keys() & ncalls.keys():
        oc, nc = ocalls[key], ncalls[key]
        counts["per-call (compared)"] += 1
        for label, a, b in (
                ("is_llm_call", ol.is_llm_call(oc, oi), nl.is_llm_call(nc, ni)),
                ("is_llm_call narrow", ol.is_llm_call(oc, oi, broad=False), nl.is_llm_call(nc, ni, broad=False)),
                ("is_tokenizer_call", ol.is_tokenizer_call(oc), nl.is_tokenizer_call(nc)),
                ("is_display_call", ol.is_display_call(oc), nl.is_display_call(nc)),
                ("inside_display_call", ol.inside_display_call(oc, oi), nl.inside_display_call(nc, ni)),
                ("inside_raise_or_assert", ol.inside_raise_or_assert(oc, oi), nl.inside_raise_or_assert(nc, ni)),
                ("scope_of", oscope(oi.scope_of(oc)), nscope(ni.scope_of(nc))),
                ("names_in", old["_index"].names_in(oc), new["_index"].names_in(nc)),
                ("code", _squash(oi.code(oc)), _squash(ni.code(nc))),
                ("last_name", old["_index"].last_name(oc), new["_index"].last_name(nc)),
        ):
            if a != b:
                mismatch(label, (key, a, b))

    # ---- literals ----------------------------------------------------------------------------
    oidx, nidx = old["_index"], new["_index"]
    olits, nlits = {}, {}
    for node in oidx.iter_nodes(module):
        if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)) and \
                isinstance(oi.parents.get(id(node)), cst.ConcatenatedString):
            # the parts of an implicit concatenation: nodes in libcst, one Constant in ast
            counts["concatenated parts (compared)"] += 1
            continue
        if isinstance(node, cst.BaseExpression) and node in opos:
            s, n = oidx.string_value(node), oidx.number_value(node)
            if s is not None or n is not None:
                olits.setdefault(ospan(node), (s, n))
    fragments = {id(v) for n in nidx.iter_nodes(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in nidx.iter_nodes(tree):
        if id(node) in fragments and isinstance(node, ast.Constant):
            # the text between an f-string's fields: a Constant in ast, no expression in libcst
            counts["f-string fragments (compared)"] += 1
            continue
        if isinstance(node, ast.expr):
            s, n = nidx.string_value(node), nidx.number_value(node)
            if s is not None or n is not None:
                nlits.setdefault(npos.span(node), (s, n))
    counts["literals (compared)"] += len(olits)
    for key in olits.keys() | nlits.keys():
        if olits.get(key) != nlits.get(key):
            mismatch("string/number_value", (key, olits.get(key), nlits.get(key)))

    # ---- subscript keys, model literals --------------------------------------------------------
    same_multiset("subscript_key",
                  [(ospan(s), oidx.subscript_key(s)) for s in oi.subscripts],
                  [(npos.span(s), nidx.subscript_key(s)) for s in ni.subscripts], [npos.start(s) for s in ni.subscripts])
    same_multiset("model literals",
                  [(ospan(n), text) for n, text in old["_models"]._model_literals(oi)],
                  [(npos.span(n), text) for n, text in new["_models"]._model_literals(ni)], [])

    if flow:
        of, nf = old["_flow"], new["_flow"]
        osubs = {ospan(s): s for s in oi.subscripts}
        nsubs = {npos.span(s): s for s in ni.subscripts}
        has_llm = any(nl.is_llm_call(c, ni) for c in ni.calls)
        for key in osubs.keys() & nsubs.keys():
            os_, ns = osubs[key], nsubs[key]
            counts["per-subscript flow (compared)"] += 1
            pairs = [
                ("base_name", of.base_name(os_.value), nf.base_name(ns.value)),
                ("in_tokenizer_fallback", of.in_tokenizer_fallback(os_, oi), nf.in_tokenizer_fallback(ns, ni)),
                ("behind_setting_switch", of.behind_setting_switch(os_, oi), nf.behind_setting_switch(ns, ni)),
                ("tokenizer_used_on", of.tokenizer_used_on(oi, oi.scope_of(os_), of.base_name(os_.value)),
                 nf.tokenizer_used_on(ni, ni.scope_of(ns), nf.base_name(ns.value))),
            ]
            if has_llm:
                a = of.flows_into_llm(oi, oi.scope_of(os_), os_)
                b = nf.flows_into_llm(ni, ni.scope_of(ns), ns)
                pairs.append(("flows_into_llm", a is not None and ospan(a), b is not None and npos.span(b)))
            for label, a, b in pairs:
                if a != b:
                    mismatch(label, (key, a, b))


def rule_examples():
    from checker.registry import all_rules

    for code, rule in all_rules().items():
        for i, example in enumerate(list(rule.VALID) + list(rule.INVALID)):
            text = example if isinstance(example, str) else example.code
            yield f"{code} example {i}", textwrap.dedent(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--main", type=Path, default=Path("/work/main"), help="checkout with the libcst index")
    parser.add_argument("--corpus", type=Path, default=None, help="default: <main>/bench/.corpus/src")
    parser.add_argument("--limit", type=int, default=0, help="only the first N corpus files")
    parser.add_argument("--flow", action="store_true", help="also compare the _flow queries per subscript")
    parser.add_argument("--show", type=int, default=5, help="examples shown per kind of mismatch")
    args = parser.parse_args()
    new = load_new()
    old = load_old(args.main)
    corpus = args.corpus or args.main / "bench" / ".corpus" / "src"
    files = sorted(corpus.rglob("*.py"))
    if args.limit:
        files = files[:args.limit]
    counts: Counter = Counter()
    examples: dict = {}
    times: dict = defaultdict(float)
    for name, source in rule_examples():
        compare_file(source, old, new, counts, examples, defaultdict(float), args.flow, name)
    example_files = counts["files"]
    for path in files:
        try:
            source = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            counts["files skipped (not utf-8)"] += 1
            continue
        compare_file(source, old, new, counts, examples, times, args.flow, str(path.relative_to(corpus)))
    print(f"files compared: {counts['files']} ({example_files} rule examples, "
          f"{counts['files'] - example_files} corpus files of {len(files)})")
    for key in sorted(k for k in counts if k.endswith("(compared)")):
        print(f"  {key[:-11]}: {counts[key]} compared")
    for key in sorted(k for k in counts if k.endswith("(info)")):
        print(f"  {key[:-7]}: {counts[key]} files")
    bad = sorted(k for k in counts if not k.endswith(("(compared)", "(info)")) and not k.startswith("files"))
    print("mismatches:", sum(counts[k] for k in bad) or 0)
    for key in bad:
        print(f"  {key}: {counts[key]}")
        for name, detail in examples[key][:args.show]:
            print(f"      {name}: {detail}")
    for key in ("files skipped (parse error)", "files skipped (not utf-8)"):
        if counts[key]:
            print(f"{key}: {counts[key]}")
    print(f"index build CPU on the corpus: libcst {times['old']:.2f} s, ast {times['new']:.2f} s "
          f"(ratio {times['old'] / max(times['new'], 1e-9):.1f}x); libcst parse {times['cst_parse']:.2f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
