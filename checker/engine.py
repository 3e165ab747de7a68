"""Check one file's text with a set of rules: prefilter, parse (CPython's ast), one walk, positioned
diagnostics; libcst only to build the fixes of the findings that have one.

This module is what worker processes run. It never raises for a bad file: syntax errors, invalid
UTF-8, trees too deep for the parser and crashing rules all become TB000 diagnostics.
"""

from __future__ import annotations

import ast
import gc
import re
import types
from typing import Any, Callable, Optional, Sequence

from checker.cache import Checked, digest  # noqa: F401 - Checked is re-exported
from checker.triggers import CALL_TRIGGERS, LANGCHAIN_MODEL_IMPORT, SEND_PATTERNS
from checker.diagnostics import Diagnostic, Edit, Fix
from checker.rule import Rule
from checker.settings import RuleSettings

PARSE_ERROR = "TB000"

_FILE_NOQA = re.compile(
    rb"#\s*tokenbudget\s*:\s*noqa(?!\w)(?:\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I
)
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


_GLOBAL_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_LITERAL_PART = re.compile(r"^(?:[A-Za-z0-9_ \-=:'\"<>,/#@!%&~`;]|\\[^A-Za-z0-9])+$")
# A whole-pattern ``(?i)`` regex without upper-case letters, flag groups, escapes that name
# characters or character classes matches where the same regex, case-sensitive, matches the
# lowered text; there the regex engine's fast search for a leading literal works again
# (``(?i)tb\d`` scans ``tb``). Not a class: a range such as ``[!-a]`` holds the upper-case letters
# but not all the lower-case ones, so ``B`` matches it and the lowered ``b`` does not.
_CASE_NEUTRAL = re.compile(r"^(?:[^A-Z\\(\[]|\\[dDsSwWbB.\\()\[\]{}*+?|^$/\-]|\((?:\?[:=!]|\?<[=!]|(?!\?)))*$")


def _scoped(pattern: str) -> str:
    """``(?i)abc`` -> ``(?i:abc)``: global flags are only allowed at the start of a whole regex,
    and triggers are joined into one."""
    match = _GLOBAL_FLAGS.match(pattern)
    if match:
        return f"(?{match.group(1)}:{pattern[match.end():]})"
    return f"(?:{pattern})"


class _Trigger:
    """One trigger regex. Alternations of plain words are searched with ``bytes.find``, which is
    an order of magnitude faster than the regex engine on large files.

    Regexes and word groups are built when first searched: most files are answered by the word
    pass, and a run checking one file would spend ~15 ms compiling triggers it never reaches."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        flags = ""
        body = pattern
        match = _GLOBAL_FLAGS.match(pattern)
        if match:
            flags, body = match.group(1), pattern[match.end() :]
        self.words: Optional[tuple[bytes, ...]] = None
        self._groups: Optional[tuple[tuple[bytes, tuple[bytes, ...]], ...]] = None
        self.ignore_case = False
        parts = body.split("|")
        if set(flags) <= {"i"} and all(_LITERAL_PART.match(part) for part in parts):
            words = tuple(re.sub(r"\\(.)", r"\1", part).encode() for part in parts)
            self.ignore_case = "i" in flags
            self.words = tuple(w.lower() for w in words) if self.ignore_case else words
        self._regex: Optional[re.Pattern[bytes]] = None
        # Searched case-sensitively in the lowered text (see _CASE_NEUTRAL).
        self._lowered_body = body if self.words is None and flags == "i" and _CASE_NEUTRAL.match(body) else None

    @property
    def regex(self) -> re.Pattern[bytes]:
        if self._regex is None:
            if self._lowered_body is not None:
                self._regex = re.compile(self._lowered_body.encode())
            else:
                self._regex = re.compile(_scoped(self.pattern).encode())
        return self._regex

    @property
    def groups(self) -> tuple[tuple[bytes, tuple[bytes, ...]], ...]:
        if self._groups is None:
            self._groups = _anchor_groups(self.words or ())
        return self._groups

    def search(self, data: bytes, lowered: bytes) -> bool:
        """``lowered``: ``data.lower()``."""
        if self.words is None:
            return self.regex.search(lowered if self._lowered_body is not None else data) is not None
        haystack = lowered if self.ignore_case else data
        # Plain loops: this runs for every trigger the word pass leaves, and generator frames
        # cost more than the scans.
        for anchor, words in self.groups:
            if anchor in haystack:
                if len(words) == 1:
                    return True  # the anchor is the word
                for word in words:
                    if word in haystack:
                        return True
        return False


# Most files contain none of a trigger's words, and each word missing costs a scan of the whole
# file: words sharing a piece (`"o1`, `'o1`, `/o1`, `:o1`; `.invoke(`, `.ainvoke(`) are looked
# for through that piece first, one scan for the group. Short pieces (`ate`, `e(`) are in almost
# every file and would save nothing: a piece stands for two words from 5 bytes on, for three from
# 3 bytes on, and one with a digit (rare in code) for three from 2 bytes on.


def _enough(piece: bytes, words: int) -> bool:
    if any(48 <= byte <= 57 for byte in piece):
        return words >= 3
    return words >= 2 if len(piece) >= 5 else words >= 3 and len(piece) >= 3


def _anchor_groups(words: tuple[bytes, ...]) -> tuple[tuple[bytes, tuple[bytes, ...]], ...]:
    groups = []
    remaining = list(dict.fromkeys(words))
    while remaining:
        shared: dict[bytes, int] = {}
        for word in remaining:
            for piece in {word[i:j] for i in range(len(word)) for j in range(i + 2, len(word) + 1)}:
                shared[piece] = shared.get(piece, 0) + 1
        eligible = [(count, len(piece), piece) for piece, count in shared.items() if _enough(piece, count)]
        if not eligible:
            groups.extend((word, (word,)) for word in remaining)
            break
        # Words covered weighed by length: longer pieces are rarer (their words then need looking
        # for less often) and scan faster.
        _, _, anchor = max(eligible, key=lambda item: (item[0] * (item[1] - 2), item[1]))
        groups.append((anchor, tuple(word for word in remaining if anchor in word)))
        remaining = [word for word in remaining if anchor not in word]
    return tuple(groups)


def rule_triggers(rule: type[Rule]) -> tuple[tuple[str, ...], ...]:
    """The rule's triggers as alternatives of conjunctions: a plain string is one alternative,
    a tuple of strings is an alternative that needs all of them."""
    alternatives: list[tuple[str, ...]] = []
    for trigger in rule.triggers:
        alternatives.append((trigger,) if isinstance(trigger, str) else tuple(trigger))
    if rule.uses_llm_calls:
        alternatives.extend(CALL_TRIGGERS)
    return tuple(alternatives)


class _WordPass:
    """The answers of many plain-word triggers from one pass over a file: an Aho-Corasick
    automaton over the lowered bytes finds every occurrence of every word at once (one scan of
    ~40 words costs what two ``bytes.find`` do). A case-sensitive word is found where its lowered
    form is and the original bytes there are the word itself."""

    _built: dict[tuple[_Trigger, ...], "_WordPass"] = {}

    def __init__(self, triggers: tuple[_Trigger, ...]) -> None:
        import ahocorasick_rs

        patterns: dict[bytes, int] = {}
        # Per trigger: whether it ignores case, and what a match must include to count: the
        # pattern numbers of its words, or (case-sensitive) the words themselves.
        self.keys: list[tuple[_Trigger, bool, frozenset]] = []
        checked_exactly: set[int] = set()
        for trigger in triggers:
            assert trigger.words is not None
            numbers = [patterns.setdefault(word.lower(), len(patterns)) for word in trigger.words]
            if trigger.ignore_case:
                self.keys.append((trigger, True, frozenset(numbers)))
            else:
                checked_exactly.update(numbers)
                self.keys.append((trigger, False, frozenset(trigger.words)))
        self.checked_exactly = frozenset(checked_exactly)
        self.automaton = ahocorasick_rs.BytesAhoCorasick(list(patterns)) if patterns else None

    @classmethod
    def of(cls, triggers: tuple[_Trigger, ...]) -> "_WordPass":
        built = cls._built.get(triggers)
        if built is None:
            built = cls._built[triggers] = cls(triggers)
        return built

    def answers(self, data: bytes, lowered: bytes) -> dict[_Trigger, bool]:
        numbers: set[int] = set()
        exact: set[bytes] = set()
        if self.automaton is not None:
            checked_exactly = self.checked_exactly
            # Overlapping: a word inside or across another (`tok` in `tokens *`) is found too.
            for number, start, end in self.automaton.find_matches_as_indexes(lowered, overlapping=True):
                numbers.add(number)
                if number in checked_exactly:
                    exact.add(data[start:end])
        return {trigger: not keys.isdisjoint(numbers if ignore_case else exact)
                for trigger, ignore_case, keys in self.keys}


class RuleSet:
    """The rules selected for a file plus their compiled prefilter.

    The first trigger of each conjunction, when plain words, is answered by one shared word pass
    over the file (:class:`_WordPass`); the others are searched, in the order written, only in
    the files where the conjunction's word-pass triggers all matched. Words in a later place are
    kept out of the pass because they are the common ones (``append``, ``except``, ``+``): the
    pass would hand every occurrence back to Python."""

    _compiled: dict[str, _Trigger] = {}

    def __init__(self, rules: Sequence[type[Rule]]) -> None:
        self.rules = list(rules)
        written = [(rule, rule_triggers(rule)) for rule in self.rules]
        compiled = {pattern: self._trigger(pattern)
                    for _, alternatives in written for conjunction in alternatives for pattern in conjunction}
        compiled.update((p, self._trigger(p)) for conjunction in CALL_TRIGGERS for p in conjunction)
        first_words = dict.fromkeys(
            compiled[conjunction[0]] for conjunction in [c for _, alts in written for c in alts] + list(CALL_TRIGGERS)
            if conjunction and compiled[conjunction[0]].words is not None)
        self._word_pass = _WordPass.of(tuple(first_words))

        def ordered(conjunction: Sequence[str]) -> list[_Trigger]:
            # The pass answers its triggers for free: they go first; the rest keep the order
            # written (RULES_API.md, "Performance").
            triggers = [compiled[p] for p in conjunction]
            return [t for t in triggers if t in first_words] + [t for t in triggers if t not in first_words]

        self._per_rule: list[tuple[type[Rule], Optional[list[list[_Trigger]]]]] = []
        # For files that call the project's own LLM wrappers: "sends a request" is known already.
        self._per_rule_sending: list[tuple[type[Rule], Optional[list[list[_Trigger]]]]] = []
        for rule, alternatives in written:
            if alternatives:
                self._per_rule.append((rule, [ordered(conjunction) for conjunction in alternatives]))
                self._per_rule_sending.append((rule, [ordered([p for p in conjunction if p not in SEND_PATTERNS])
                                                      for conjunction in alternatives]))
            else:
                self._per_rule.append((rule, None))
                self._per_rule_sending.append((rule, None))
        self._calls = [ordered(conjunction) for conjunction in CALL_TRIGGERS]

    @classmethod
    def _trigger(cls, pattern: str) -> _Trigger:
        trigger = cls._compiled.get(pattern)
        if trigger is None:
            trigger = cls._compiled[pattern] = _Trigger(pattern)
        return trigger

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(rule.code for rule in self.rules)

    _last: tuple[Optional[bytes], bytes, dict] = (None, b"", {})

    def _answers(self, data: bytes) -> tuple[bytes, dict[_Trigger, bool]]:
        """(``data.lower()``, the triggers answered so far); shared by the calls on the same bytes."""
        last = self._last  # read once: another thread may replace it
        if last[0] is not data:
            lowered = data.lower()
            last = self._last = (data, lowered, self._word_pass.answers(data, lowered))
        return last[1], last[2]

    @staticmethod
    def _holds(conjunction: list[_Trigger], data: bytes, lowered: bytes, results: dict[_Trigger, bool]) -> bool:
        # Plain loops: this runs for every conjunction of every file.
        for trigger in conjunction:
            found = results.get(trigger)
            if found is None:
                found = results[trigger] = trigger.search(data, lowered)
            if not found:
                return False
        return True

    def may_call_llm(self, data: bytes) -> bool:
        """Whether ``data`` has the text of an SDK call (``checker.triggers.CALL_TRIGGERS``);
        reuses the answers of the last :meth:`applicable` on the same bytes."""
        lowered, results = self._answers(data)
        for conjunction in self._calls:
            if self._holds(conjunction, data, lowered, results):
                return True
        return False

    def applicable(self, data: bytes, sends: bool = False) -> list[type[Rule]]:
        """The rules whose triggers occur in ``data`` (cheap: no parsing). ``sends``: the file
        calls one of the project's LLM wrappers, which counts as the text of a request."""
        lowered, results = self._answers(data)
        holds = self._holds
        chosen = []
        for rule, alternatives in (self._per_rule_sending if sends else self._per_rule):
            if alternatives is None:
                chosen.append(rule)
                continue
            for conjunction in alternatives:
                if holds(conjunction, data, lowered, results):
                    chosen.append(rule)
                    break
        return chosen


def file_noqa_codes(data: bytes) -> Optional[frozenset[str]]:
    """None when the file has no ``# tokenbudget: noqa``; empty set = all codes; else the codes."""
    match = _FILE_NOQA.search(data)
    if match is None:
        return None
    codes: set[str] = set()
    for found in _FILE_NOQA.finditer(data):
        if not found.group("codes"):
            return frozenset()
        codes.update(c.upper() for c in re.split(r"[\s,]+", found.group("codes").decode()) if c)
    return frozenset(codes)


class NeedsLibcst(Exception):
    """Raised instead of loading libcst in a process not allowed to (see ``allow_libcst``)."""


_libcst_allowed = True


def allow_libcst(allowed: bool) -> None:
    """Whether this process may load libcst (~0.35 s) for the few files that need it. Worker
    pools keep it to as few workers as keep up, and send such files there."""
    global _libcst_allowed
    _libcst_allowed = allowed


class _DeferredModule(types.ModuleType):
    """Stands in ``sys.modules`` for a module until one of its attributes is first used; then
    imports the real one and takes on its contents. (``importlib.util.LazyLoader`` loads on
    any attribute access, and ``import`` itself reads ``__spec__``.)"""

    def __getattr__(self, name: str) -> Any:
        import importlib
        import sys

        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, name)


def defer_libcst_import() -> None:
    """Make ``import libcst`` free until libcst is really used. Importing it costs ~0.35 s (it
    builds hundreds of node dataclasses) and only the few files that pass every prefilter need
    it; the rule modules import it at the top but touch it only when they run."""
    import importlib.util
    import sys

    if "libcst" in sys.modules:
        return
    spec = importlib.util.find_spec("libcst")
    if spec is None:
        return
    placeholder = _DeferredModule("libcst")
    placeholder.__spec__ = spec
    sys.modules["libcst"] = placeholder


def check_file(filename: str, data: Optional[bytes], rule_set: RuleSet, settings: RuleSettings) -> Checked:
    """``data`` None: read the file here, so that reading and the prefilter run in the worker
    processes too."""
    if data is None:
        try:
            with open(filename, "rb") as handle:
                data = handle.read()
        except OSError as error:
            return Checked(None, (parse_error(filename, f"cannot read file: {error.strerror or error}").to_tuple(),))
    facts: dict[str, Any] = {}
    current = getattr(settings.sinks, "current", None)
    if current is not None:  # checker.summaries.LiveSinks: the table as the parent last wrote it
        import dataclasses

        settings = dataclasses.replace(settings, sinks=current())
    try:
        found = check_bytes(data, filename, rule_set, settings, facts)
    except NeedsLibcst:
        return Checked(None, (), needs_libcst=True)
    return Checked(digest(data), tuple(d.to_tuple() for d in found), False,
                   (facts.get("imports", ()), facts.get("summary")))


# Parsing allocates millions of short-lived objects that reference counting frees; the cyclic
# collector, left on, re-scans the tree under construction again and again (a third of ast's
# parse time on large files). Callers checking many files switch it off and call this between files.
_GARBAGE_BETWEEN_FILES = 20_000


def collect_garbage_between_files() -> None:
    if gc.get_count()[0] > _GARBAGE_BETWEEN_FILES:
        gc.collect()


def decode_source(data: bytes) -> tuple[str, str]:
    """(text, encoding). Honours a PEP 263 coding cookie; raises UnicodeDecodeError / LookupError."""
    encoding = "utf-8"
    for line in data.split(b"\n", 2)[:2]:
        match = _CODING.match(line)
        if match:
            encoding = match.group(1).decode("ascii").lower()
            break
    if encoding in ("utf-8", "utf8") and data.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    return data.decode(encoding), encoding


def parse_error(filename: str, message: str, line: int = 1, column: int = 1) -> Diagnostic:
    return Diagnostic(PARSE_ERROR, message, filename, line, column, line, column, "error")


_LANGCHAIN_MODEL_IMPORT = re.compile(LANGCHAIN_MODEL_IMPORT.encode())


def check_bytes(
    data: bytes,
    filename: str,
    rule_set: RuleSet,
    settings: RuleSettings,
    facts: Optional[dict[str, Any]] = None,
) -> list[Diagnostic]:
    """All diagnostics of one file (already filtered by ``# noqa``), never raising for bad input.
    ``facts``: filled with what the project's sink table needs to know about this file
    (``imports``; ``summary`` when the file may send LLM requests)."""
    from checker.summaries import calls_sinks, file_module, imported_modules

    imports = imported_modules(data) if facts is not None or settings.sinks else ()
    sink_caller = calls_sinks(imports, filename, settings)
    file_noqa = file_noqa_codes(data) if b"noqa" in data else None
    if file_noqa is not None and not file_noqa:
        return []
    # A LangChain model made and called in a function of this file sends without SDK text, and
    # the file's own wrappers are known only once it is summarised: the rules on its tree decide.
    langchain_model = facts is not None and _LANGCHAIN_MODEL_IMPORT.search(data) is not None
    rules = rule_set.applicable(data, sends=sink_caller or langchain_model)
    # A file calling a sink method by name (`self.llm.aask(`) is summarised: its class may be
    # the next hop of a chain (checker.summaries._Hierarchy).
    # So is a file whose own classes hold sinks from elsewhere (a base class whose abstract method
    # a provider overrides): its calls of them reach libcst only through its summary.
    summarize = facts is not None and (sink_caller or rule_set.may_call_llm(data)
                                       or langchain_model or (bool(settings.sinks) and (
        settings.sinks.mentions_methods(data)
        or file_module(filename, settings.project_root)[0] in settings.sinks.defining)))
    if facts is not None:
        facts["imports"] = imports
    selected = rule_set.codes
    if file_noqa:
        rules = [rule for rule in rules if rule.code not in file_noqa]
        selected = selected - file_noqa
    if not rules and not summarize:
        return []
    try:
        source, _ = decode_source(data)
    except (UnicodeDecodeError, LookupError) as error:
        return [parse_error(filename, f"file is not valid UTF-8 (or its declared encoding): {error}")]
    return check_source(source, filename, rules, settings, facts if summarize else None, sink_caller, selected)


# libcst's native parser recurses on the C stack: input nested deeper than this has been seen to
# crash the process. CPython >= 3.11 rejects most such input itself; 3.10 accepts more.
_MAX_DEPTH = 800




def _nodes_unless_deeper_than(tree: ast.AST, limit: int) -> Optional[list[ast.AST]]:
    """Every node of ``tree`` (for the rules' ``ast`` prefilters), or None if it nests deeper
    than ``limit``: one breadth-first walk serves both, reading fields directly because
    ``ast.iter_child_nodes`` costs about as much as parsing."""
    from checker.walk import child_fields

    nodes: list[ast.AST] = []
    level = [tree]
    depth = 0
    node_type = ast.AST
    while level:
        if depth > limit:
            return None
        nodes.extend(level)
        below: list[ast.AST] = []
        for node in level:
            for name in child_fields(type(node)):
                value = getattr(node, name, None)
                if type(value) is list:
                    below.extend(item for item in value if isinstance(item, node_type))
                elif isinstance(value, node_type):
                    below.append(value)
        level = below
        depth += 1
    return nodes


def check_source(
    source: str,
    filename: str,
    rules: Sequence[type[Rule]],
    settings: RuleSettings,
    facts: Optional[dict[str, Any]] = None,
    sink_caller: Optional[bool] = None,
    selected: Optional[frozenset[str]] = None,
) -> list[Diagnostic]:
    """Parse ``source`` and run ``rules`` on it (no trigger prefilter here). ``facts``: gets the
    file's function summary. ``sink_caller``: the file calls the project's LLM wrappers (None:
    find out), so rules that need an LLM call run even where no SDK call is written. ``selected``:
    every code selected for the file, also those the prefilter left out (default: ``rules``'),
    for the ``# noqa`` audit: a rule that could not run suppressed nothing."""
    if selected is None:
        selected = frozenset(rule.code for rule in rules)
    # The rules read CPython's tree: several times faster to build than libcst's, with hard limits
    # on nesting (libcst, used for fixes only, can overflow the C stack on deeply nested input).
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as error:
        return [parse_error(filename, f"syntax error: {error.msg}", error.lineno or 1, error.offset or 1)]
    except (RecursionError, MemoryError):
        return [parse_error(filename, "code is nested too deeply to be parsed")]
    except ValueError as error:  # source contains NUL bytes
        return [parse_error(filename, f"cannot parse: {error}")]

    nodes = _nodes_unless_deeper_than(tree, _MAX_DEPTH)
    if nodes is None:
        return [parse_error(filename, "code is nested too deeply to be parsed")]
    if facts is not None:
        from checker.summaries import summarize_tree

        try:
            facts["summary"] = summarize_tree(tree, nodes)
        except Exception:  # noqa: BLE001 - code the summaries do not understand: no wrappers from it
            facts["summary"] = None
        if facts["summary"] is not None:
            # The file's own wrappers count at once: calls of them need no second round.
            import dataclasses

            from checker.summaries import with_local_sinks

            table, calls_own = with_local_sinks(settings.sinks, facts["summary"], filename, settings.project_root)
            if table is not settings.sinks:
                settings = dataclasses.replace(settings, sinks=table)
            sink_caller = sink_caller or calls_own
    if sink_caller is None and settings.sinks:
        from checker.summaries import calls_sinks, imported_modules

        sink_caller = calls_sinks(imported_modules(source.encode()), filename, settings)
    # Rules that report only at LLM call sites skip a file where no call has the shape of one
    # (one cheap pass for all of them); a file calling the project's wrappers has such calls.
    if any(rule.requires_llm_calls for rule in rules) and not sink_caller:
        from checker.calls import ast_may_call_llm

        if not ast_may_call_llm(nodes):
            rules = [rule for rule in rules if not rule.requires_llm_calls]
    # TB000 alone needs no walk: with no rule left to run, nothing went unanalysed; the
    # `# noqa` audit reads comments only.
    if all(rule.code == PARSE_ERROR or rule.audits_noqa for rule in rules):
        return _suppressed(source, filename, [], rules, selected)
    del nodes
    return _run_rules(tree, source, filename, rules, settings, selected)


def _run_rules(tree: ast.Module, source: str, filename: str, rules: Sequence[type[Rule]], settings: RuleSettings,
               selected: Optional[frozenset[str]] = None) -> list[Diagnostic]:
    if selected is None:
        selected = frozenset(rule.code for rule in rules)
    try:
        return _suppressed(source, filename, _run_rules_unguarded(tree, source, filename, rules, settings), rules,
                           selected)
    except NeedsLibcst:
        raise
    except RecursionError:
        return [parse_error(filename, "code is nested too deeply to be checked")]
    except Exception as error:  # the engine itself failed on this file: keep the run going
        return [parse_error(filename, f"internal error ({type(error).__name__}: {error}); please report it")]


def _run_rules_unguarded(
    tree: ast.Module, source: str, filename: str, rules: Sequence[type[Rule]], settings: RuleSettings
) -> list[Diagnostic]:
    from checker.context import RuleContext

    context = RuleContext(filename, source, tree, settings)
    from checker import summaries

    summaries.use_lookup(context.sink_of if settings.sinks else None)
    instances = [rule(context) for rule in rules]
    failures: list[Diagnostic] = []
    failed: set[str] = set()

    def guard(rule: Rule, call: Callable[[], object]) -> None:
        if rule.code in failed:
            return
        try:
            call()
        except RecursionError:
            failed.add(rule.code)
            failures.append(parse_error(filename, f"{rule.code} gave up: code is nested too deeply"))
        except Exception as error:  # a crashing rule must not lose the other rules' findings
            failed.add(rule.code)
            failures.append(
                parse_error(filename, f"internal error in {rule.code} ({type(error).__name__}: {error}); please report it")
            )

    from checker.walk import Dispatcher

    # One walk feeds every rule's visit_/leave_ handlers.
    dispatcher = Dispatcher(instances, guard=guard)
    if dispatcher:
        dispatcher.run(tree)
    for instance in instances:
        guard(instance, instance.finish)

    diagnostics = []
    for report in context.reports:
        if report.code in failed:
            continue
        fix: Optional[Fix] = None
        if report.fix is not None:
            try:
                fix = _build_fix(context, report)
            except NeedsLibcst:
                raise
            except Exception as error:  # the finding stands; its fix is the rule's bug
                failures.append(parse_error(
                    filename, f"internal error in {report.code}'s fix ({type(error).__name__}: {error}); please report it"))
        diagnostics.append(_diagnostic(context, report, fix))
    return failures + diagnostics


def _diagnostic(context, report, fix: Optional[Fix]) -> Diagnostic:
    span = context.position(report.node)
    return Diagnostic(report.code, report.message, context.path, span.line, span.column + 1, span.end_line,
                      span.end_column + 1, report.severity, fix)


def _build_fix(context, report) -> Optional[Fix]:
    """The report's fix as one minimal text edit, built on the module's libcst tree."""
    if not _libcst_allowed:
        raise NeedsLibcst
    from checker.cst_view import CstUnavailable

    try:
        view = context.cst_view
    except CstUnavailable:
        return None  # syntax libcst does not know yet: the finding stands, without a fix
    built = report.fix(view)
    if built is None:
        return None
    target, replacement = built
    # Render the replacement inside the whole module: a node rendered alone loses the
    # indentation of the block it sits in.
    where = view.position(target)
    start = context.lines.offset(where.start.line, where.start.column)
    end = context.lines.offset(where.end.line, where.end.column)
    new_code = view.module.deep_replace(target, replacement).code
    source = context.source
    old = source[start:end]
    new = new_code[start : len(new_code) - (len(source) - end)]
    edit = _minimal_edit(old, new, where.start.line, where.start.column + 1)
    if edit is None:
        return None
    return Fix("safe" if report.fix_safe else "unsafe", report.fix_message or "apply fix", (edit,))


def _advance(line: int, column: int, text: str) -> tuple[int, int]:
    newlines = text.count("\n")
    if newlines == 0:
        return line, column + len(text)
    return line + newlines, len(text) - text.rfind("\n")


def _minimal_edit(old: str, new: str, line: int, column: int) -> Optional[Edit]:
    """The smallest single text edit turning ``old`` (starting at line/column) into ``new``."""
    if old == new:
        return None
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    start_line, start_column = _advance(line, column, old[:prefix])
    end_line, end_column = _advance(line, column, old[: len(old) - suffix])
    return Edit(new[prefix : len(new) - suffix], start_line, start_column, end_line, end_column)


def _apply_line_noqa(source: str, diagnostics: list[Diagnostic], used: set[tuple[int, str]]) -> list[Diagnostic]:
    """Drops the findings a ``# noqa`` suppresses; adds the (line, code) pairs that did to ``used``."""
    from checker.noqa import line_noqa

    noqa = line_noqa(source)
    if not noqa:
        return diagnostics
    kept = []
    for diagnostic in diagnostics:
        suppressed = False
        for line in {diagnostic.line, diagnostic.end_line}:
            if line in noqa:
                codes = noqa[line]
                if codes is None or diagnostic.code in codes:
                    suppressed = True
                    used.add((line, diagnostic.code))
        if not suppressed:
            kept.append(diagnostic)
    return kept


def _suppressed(source: str, filename: str, diagnostics: list[Diagnostic], rules: Sequence[type[Rule]],
                selected: frozenset[str]) -> list[Diagnostic]:
    """The findings ``# noqa`` leaves, sorted; then the rules that audit the directives
    themselves (TB001) report those that suppressed nothing."""
    used: set[tuple[int, str]] = set()
    if diagnostics and "noqa" in source:
        diagnostics = _apply_line_noqa(source, diagnostics, used)
    for rule in rules:
        if rule.audits_noqa:
            audit = rule.audit(source, filename, used, selected)  # type: ignore[attr-defined]
            diagnostics = diagnostics + _apply_line_noqa(source, audit, set())
    return sorted(diagnostics, key=Diagnostic.sort_key)


def apply_edits(source: str, fixes: Sequence[Fix]) -> tuple[str, int]:
    """Apply non-overlapping edits (first come, first served); returns (new source, fixes applied)."""
    from checker.noqa import physical_lines

    # Lines as libcst numbers them: str.splitlines also splits at form feeds inside strings.
    lines = physical_lines(source)
    offsets = [0]
    for text in lines:
        offsets.append(offsets[-1] + len(text))

    def offset(line: int, column: int) -> int:
        return offsets[line - 1] + column - 1 if line - 1 < len(offsets) else len(source)

    spans = []
    for fix in fixes:
        edits = sorted((offset(e.line, e.column), offset(e.end_line, e.end_column), e.content) for e in fix.edits)
        spans.append(edits)
    spans.sort(key=lambda edits: edits[0][0])
    out: list[str] = []
    cursor = 0
    applied = 0
    for edits in spans:
        if edits[0][0] < cursor:
            continue  # overlaps a fix already applied: the next round picks it up
        for start, end, content in edits:
            out.append(source[cursor:start])
            out.append(content)
            cursor = end
        applied += 1
    out.append(source[cursor:])
    return "".join(out), applied


def fix_source(
    source: str,
    filename: str,
    rules: Sequence[type[Rule]],
    settings: RuleSettings,
    *,
    unsafe: bool = False,
    codes: Optional[frozenset[str]] = None,
    max_rounds: int = 10,
) -> tuple[str, int, list[Diagnostic]]:
    """Apply fixes until none is left (or ``max_rounds``); returns (source, fixes applied, remaining)."""
    total = 0
    diagnostics = check_source(source, filename, rules, settings)
    for _ in range(max_rounds):
        fixes = [
            d.fix
            for d in diagnostics
            if d.fix is not None and (unsafe or d.fix.is_safe) and (codes is None or d.code in codes)
        ]
        if not fixes:
            break
        source, applied = apply_edits(source, fixes)
        total += applied
        if not applied:
            break
        diagnostics = check_source(source, filename, rules, settings)
    return source, total, diagnostics
