"""One bad file never takes the run down: crashing workers, hangs, rule crashes, random programs."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import engine
from checker.engine import RuleSet, check_source
from checker.pool import check_in_pool
from checker.registry import all_rules, select_rules
from checker.rule import Rule
from checker.settings import RuleSettings

UNCAPPED = b"from openai import OpenAI\nOpenAI().chat.completions.create(model='gpt-4o', messages=[])\n"
CODES = frozenset({"TB000", "TB101", "TB102"})


def _pool_in_a_fresh_process(names: list[str], *, crash: set[str] = frozenset(), jobs: int = 2) -> dict[int, tuple[str, str]]:
    """Check ``names`` in a pool whose workers die (as a C stack overflow in a parser looks from
    outside) when they start checking a file named in ``crash``. The pool runs in a new,
    single-threaded process, whose workers are forked and so inherit the patched engine: what
    they check is the same as in the CLI, and no test thread can be forked with them."""
    import json
    import subprocess

    program = (
        "import json, os, sys\n"
        "from checker import engine\n"
        "from checker.pool import check_in_pool\n"
        "from checker.settings import RuleSettings\n"
        "names, crash, jobs, source = json.loads(sys.argv[1])\n"
        "real = engine.check_bytes\n"
        "def check_bytes(data, filename, rule_set, settings, *rest):\n"
        "    if filename in crash:\n"
        "        os._exit(139)\n"
        "    return real(data, filename, rule_set, settings, *rest)\n"
        "engine.check_bytes = check_bytes\n"
        "codes = frozenset(['TB000', 'TB101', 'TB102'])\n"
        "tasks = [(i, name, source.encode(), codes) for i, name in enumerate(names)]\n"
        "results = check_in_pool(tasks, RuleSettings(), jobs=jobs)\n"
        "print(json.dumps({i: r.diagnostics[0][:2] for i, r in results.items()}))\n"
    )
    argument = json.dumps([names, sorted(crash), jobs, UNCAPPED.decode()])
    done = subprocess.run([sys.executable, "-c", program, argument], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {int(index): tuple(found) for index, found in json.loads(done.stdout).items()}


def test_a_worker_that_dies_costs_only_its_file() -> None:
    results = _pool_in_a_fresh_process(["a.py", "boom.py", "b.py", "c.py"], crash={"boom.py"})
    assert results[1][0] == "TB000" and "crashed" in results[1][1] and "exit code 139" in results[1][1]
    assert {results[i][0] for i in (0, 2, 3)} == {"TB101"}


def test_files_queued_behind_a_crash_are_checked_by_the_replacement() -> None:
    names = [f"f{index}.py" for index in range(60)]
    names[5] = "boom.py"  # early: files are sent ahead, so several wait behind it in its worker
    results = _pool_in_a_fresh_process(names, crash={"boom.py"})
    assert sorted(results) == list(range(60))
    assert "crashed" in results[5][1]
    assert all(results[index][0] == "TB101" for index in range(60) if index != 5)


def test_several_crashes_in_a_row_and_a_single_worker() -> None:
    names = [f"f{index}.py" for index in range(30)]
    crash = {names[index] for index in (3, 4, 5, 6, 29)}
    for jobs in (1, 2):
        results = _pool_in_a_fresh_process(names, crash=crash, jobs=jobs)
        assert sorted(results) == list(range(30))
        assert {names[i] for i, (code, _) in results.items() if code == "TB000"} == crash
        assert all(code == "TB101" for i, (code, _) in results.items() if names[i] not in crash)


def test_a_file_that_hangs_is_timed_out(tmp_path) -> None:
    # A FIFO with no writer: opening it blocks for ever, as a file on a stuck network mount does.
    fifo = tmp_path / "stuck.py"
    os.mkfifo(fifo)
    tasks = [(0, str(fifo), None, CODES), (1, "fine.py", UNCAPPED, CODES), (2, "also.py", UNCAPPED, CODES)]
    # The fine files are timed too (their fix loads libcst): 4 s leaves a loaded machine room.
    results = check_in_pool(tasks, RuleSettings(), jobs=2, timeout=4)
    assert "took more than 4s" in results[0].diagnostics[0][1]
    assert [results[i].diagnostics[0][0] for i in (1, 2)] == ["TB101", "TB101"]



class _Exploding(Rule):
    """
    ## What it does
    x
    ## Why is this bad?
    x
    ## Example
    x
    ## Fix
    x
    """

    code = "TB999"
    name = "exploding"
    message = "boom"
    uses_llm_calls = True

    def visit_Call(self, node) -> None:
        raise ValueError("rule bug")


def test_a_crashing_rule_becomes_tb000_and_other_rules_still_report() -> None:
    rules = [_Exploding, *select_rules({"TB101"})]
    found = check_source(UNCAPPED.decode(), "x.py", rules, RuleSettings())
    codes = sorted(d.code for d in found)
    assert codes == ["TB000", "TB101"]
    assert "internal error in TB999 (ValueError: rule bug)" in next(d.message for d in found if d.code == "TB000")


hypothesmith = pytest.importorskip("hypothesmith")
ALL_RULES = list(all_rules().values())


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=hypothesmith.from_grammar() | hypothesmith.from_node())
def test_generated_programs_never_raise(source: str) -> None:
    # prepend provider words so every rule's trigger fires and the whole pipeline runs
    text = "import openai, anthropic, tiktoken\n" + source
    rule_set = RuleSet(ALL_RULES)
    found = engine.check_bytes(text.encode("utf-8", "surrogatepass"), "generated.py", rule_set, RuleSettings())
    assert all(d.line >= 1 and d.column >= 1 for d in found)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.text(alphabet="ao13\"'./(_x", min_size=1, max_size=6), min_size=1, max_size=12),
    text=st.text(alphabet="ao13\"'./(_x \n", max_size=80),
    ignore_case=st.booleans(),
)
def test_word_triggers_find_what_a_regex_finds(words, text, ignore_case) -> None:
    # Words sharing a piece are looked for through it first: the answer must not change.
    import re

    pattern = ("(?i)" if ignore_case else "") + "|".join(re.escape(word) for word in words)
    trigger = engine._Trigger(pattern)
    data = text.encode()
    assert trigger.words is not None
    assert trigger.search(data, data.lower()) == (re.search(pattern.encode(), data) is not None)


def test_a_process_not_allowed_libcst_hands_the_file_back() -> None:
    rule_set = RuleSet(select_rules(CODES))
    engine.allow_libcst(False)
    try:
        handed_back = engine.check_file("app.py", UNCAPPED, rule_set, RuleSettings())
        stopped_earlier = engine.check_file("plain.py", b"x = 1\n", rule_set, RuleSettings())
    finally:
        engine.allow_libcst(True)
    assert handed_back.needs_libcst and handed_back.digest is None
    assert not stopped_earlier.needs_libcst and stopped_earlier.diagnostics == ()


def test_files_needing_libcst_are_checked_by_a_worker_allowed_to_load_it() -> None:
    tasks = [(index, f"f{index}.py", UNCAPPED if index % 5 == 0 else b"x = 1\n", CODES) for index in range(80)]
    results = check_in_pool(tasks, RuleSettings(), jobs=2)
    assert sorted(results) == list(range(80))
    assert all(results[index].diagnostics[0][0] == "TB101" for index in range(0, 80, 5))
    assert all(results[index].diagnostics == () for index in range(80) if index % 5)
    assert not any(result.needs_libcst for result in results.values())


def test_importing_every_rule_does_not_load_libcst() -> None:
    # The engine defers libcst (~0.35 s) until a file needs it: a rule module that uses libcst
    # at import time would make every worker pay for it.
    import subprocess

    probe = (
        "import sys\n"
        "from checker import engine\n"
        "engine.defer_libcst_import()\n"
        "from checker.registry import all_rules\n"
        "all_rules()\n"
        "print('libcst._nodes.expression' in sys.modules)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"


def test_the_cli_reports_a_file_that_kills_its_worker_as_tb000(tmp_path) -> None:
    # As a user sees it: `tokenbudget check` over a folder in which one file takes its worker
    # down prints a TB000 for that file, checks the others and exits 1, without a traceback.
    import subprocess

    for index in range(12):
        (tmp_path / f"app{index}.py").write_bytes(UNCAPPED)
    program = (
        "import os, sys\n"
        "from checker import engine\n"
        "from checker.cli import main\n"
        "real = engine.check_bytes\n"
        "def check_bytes(data, filename, rule_set, settings, *rest):\n"
        "    if filename.endswith('app3.py'):\n"
        "        os._exit(139)\n"
        "    return real(data, filename, rule_set, settings, *rest)\n"
        "engine.check_bytes = check_bytes\n"
        "sys.exit(main(['check', '--no-cache', '-j', '2', '--output-format', 'concise', '.']))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert any("app3.py" in line and "TB000" in line and "crashed" in line for line in lines), done.stdout
    assert sum("TB101" in line for line in lines) == 11, done.stdout
