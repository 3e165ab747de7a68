"""How much the pytest plugin adds to a test suite that talks to LLM APIs.

Generates a suite of N budgeted tests (default 500), each making two calls
through the real SDKs (an OpenAI chat completion and an Anthropic message), and
times it two ways in this one run:

- plugin: pytest-tokenbudget active, every request intercepted, counted with
  the model's tokenizer, checked against the budget and answered locally;
- reference: the plugin disabled (-p no:tokenbudget) and the SDKs' HTTP
  transports stubbed to return a canned response, i.e. the cheapest way the
  same suite could run offline.

Each variant runs --rounds times, alternating, and the best time of each is
compared, as CPU time (robust on a shared, busy machine) and as wall time, over
three spans: the whole pytest process (what CI sees, including interpreter start
and SDK imports, which both variants share), the test session (collection to
the last test), and the steady state (from the end of the first test, which
pays the one-time loading of tokenizer tables, to the end), which isolates the
plugin's per-test cost. The runs use a cache folder of their own, filled by one
untimed plugin run first, so they measure a re-run of the suite; with --cold the
token counts the plugin remembers are forgotten before each plugin run, as a
suite's first run (or one whose prompts all changed) sees it.
Goal: ratio <= 1.10.

With --coverage a third variant runs in each round: the plugin with --tokenbudget-coverage
(every request's stack collected, the call sites listed and matched at the end), compared with
the plugin alone. Goal: coverage / plugin <= 1.03.

With --instructions each variant runs once under valgrind's callgrind, which counts the
instructions of the first test and of the steady state: the same figures however loaded the
machine is (CPU-time ratios on a shared 2-core machine move by 20% between rounds). It is ~50x
slower than a plain run, so use --tests 100.

    python bench/bench_plugin.py [--tests 500] [--rounds 3] [--coverage] [--cold] [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TEST_MODULE = '''
import pytest

SYSTEM = "You are Ada, the support assistant of Acme Outdoor. Answer in at most three sentences."
HISTORY = [
    {"role": "user", "content": "Hi, I ordered a tent last week."},
    {"role": "assistant", "content": "Thanks! Could you give me the order number?"},
]

@pytest.mark.token_budget(max_input_tokens=2_000, max_output_tokens=512, max_calls=2)
@pytest.mark.parametrize("case", range(COUNT))
def test_support(case, openai_client, anthropic_client):
    question = f"Where is order A-{case}? It was due yesterday."
CALLS
'''

# One call of each kind, as the test body writes it.
CALL_SOURCE = {
    "openai": '''
    openai_client.chat.completions.create(
        model="gpt-4o-mini", max_tokens=256,
        messages=[{"role": "system", "content": SYSTEM}, *HISTORY, {"role": "user", "content": question}],
    )''',
    "anthropic": '''
    anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=256, system=SYSTEM,
        messages=[*HISTORY, {"role": "user", "content": question}],
    )''',
}

CONFTEST = '''
import json, os, time
import anthropic, openai, pytest

@pytest.fixture(scope="session")
def openai_client():
    return openai.OpenAI(api_key="bench-key", max_retries=0)

@pytest.fixture(scope="session")
def anthropic_client():
    return anthropic.Anthropic(api_key="bench-key", max_retries=0)

_marks = {}

def _now():
    # CPU time of this process: unlike wall time it does not count the time other
    # processes on a busy machine take from us.
    return {"wall": time.perf_counter(), "cpu": time.process_time()}

def _callgrind(*command):
    # Under valgrind (--instructions): dump the instruction count of the span that just ended.
    if os.environ.get("BENCH_CALLGRIND"):
        import subprocess
        subprocess.run(["callgrind_control", *command, str(os.getpid())], capture_output=True, check=True)

def pytest_sessionstart(session):
    _marks["start"] = _now()
    _callgrind("--instr=on")

def pytest_runtest_logfinish(nodeid):
    # The first test pays one-time costs (tokenizer tables, lazy imports); the
    # steady state is measured from its end.
    if "first_done" not in _marks:
        _marks["first_done"] = _now()
        _callgrind("--dump")

def pytest_sessionfinish(session):
    end = _now()
    _callgrind("--dump")
    _callgrind("--instr=off")
    timing = {}
    for clock in ("wall", "cpu"):
        timing[f"session_{clock}"] = end[clock] - _marks["start"][clock]
        timing[f"steady_{clock}"] = end[clock] - _marks["first_done"][clock]
    with open(os.environ["BENCH_TIMING_FILE"], "w") as handle:
        json.dump(timing, handle)

if os.environ.get("BENCH_STUB_TRANSPORT"):
    # The reference: the SDK transports answer with a canned body and nothing else.
    import importlib

    CHAT = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
    MESSAGE = json.dumps({"id": "m", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1}}).encode()

    for name in ("httpx2", "httpx"):
        try:
            http = importlib.import_module(name)
        except ImportError:
            continue

        def handle_request(self, request, http=http):
            request.read()
            body = MESSAGE if request.url.path.endswith("/messages") else CHAT
            return http.Response(200, headers={"content-type": "application/json"}, content=body, request=request)

        http.HTTPTransport.handle_request = handle_request
'''


def run(suite: Path, variant: str, cold: bool = False, instructions: bool = False) -> dict[str, float]:
    timing_file = suite / f"timing-{variant}.json"
    # The suite's own cache folder (compact rank copies, remembered counts), filled by the priming
    # run: the figures do not depend on what earlier runs left in the user's cache.
    cache = suite / "cache"
    if cold:
        for remembered in cache.glob("counts-*"):
            remembered.unlink()
    env = dict(os.environ, BENCH_TIMING_FILE=str(timing_file), LITELLM_LOCAL_MODEL_COST_MAP="True",
               TOKENBUDGET_CACHE_DIR=str(cache))
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(suite)]
    if variant == "reference":
        env["BENCH_STUB_TRANSPORT"] = "1"
        args += ["-p", "no:tokenbudget"]
    elif variant == "coverage":
        args += ["--tokenbudget-coverage"]
    counts = suite / f"callgrind-{variant}.out"
    if instructions:
        # Instructions are counted only from the session's start (the conftest switches counting
        # on there and dumps at the first test's end and at the session's end).
        env["BENCH_CALLGRIND"] = "1"
        args = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={counts}",
                sys.executable, *args[1:]]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(args, cwd=suite, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{variant} run failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    timing = {"process_wall": wall, "process_cpu": cpu, **json.loads(timing_file.read_text())}
    if instructions:
        first_test, steady = (_callgrind_total(Path(f"{counts}.{part}")) for part in (1, 2))
        timing.update(first_test_instructions=first_test, steady_instructions=steady)
        for dump in suite.glob(f"{counts.name}*"):
            dump.unlink()
    return timing


def _callgrind_total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    sys.exit(f"no totals line in {dump}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", default="openai,anthropic",
                        help="the two calls each test makes, e.g. openai,openai (default: openai,anthropic)")
    parser.add_argument("--coverage", action="store_true",
                        help="also run the plugin with --tokenbudget-coverage and compare it with the plugin alone")
    parser.add_argument("--cold", action="store_true",
                        help="forget the remembered token counts before each plugin run, as a suite's first run "
                             "(or one whose prompts all changed) sees it; the default measures a re-run")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under valgrind's callgrind instead of timing: one run per "
                             "variant, the same count whatever else loads the machine (use fewer --tests)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tokenbudget-bench-") as folder:
        suite = Path(folder)
        calls = [name.strip() for name in options.calls.split(",")]
        if len(calls) != 2 or any(name not in CALL_SOURCE for name in calls):
            parser.error(f"--calls takes two of {', '.join(CALL_SOURCE)}, e.g. openai,anthropic")
        module = TEST_MODULE.replace("COUNT", str(options.tests)).replace("CALLS", "".join(CALL_SOURCE[c] for c in calls))
        (suite / "test_support.py").write_text(textwrap.dedent(module))
        (suite / "conftest.py").write_text(CONFTEST)
        # Registers the marker for the reference run, where the plugin is off.
        (suite / "pytest.ini").write_text("[pytest]\nmarkers =\n    token_budget: budget\n"
                                          "filterwarnings = ignore::DeprecationWarning\n"
                                          "asyncio_default_fixture_loop_scope = function\n")
        best: dict[str, dict[str, float]] = {}
        paired: list[dict[str, float]] = []  # plugin / reference of the same round, run back to back
        paired_coverage: list[dict[str, float]] = []  # coverage / plugin of the same round
        variants = ("reference", "plugin", "coverage") if options.coverage else ("reference", "plugin")
        run(suite, "plugin")  # priming, not timed: fills the suite's cache folder
        if options.instructions:
            report_instructions(suite, options)
            return
        for round_number in range(options.rounds):
            this_round: dict[str, dict[str, float]] = {}
            for variant in variants if round_number % 2 == 0 else tuple(reversed(variants)):
                timing = run(suite, variant, cold=options.cold and variant != "reference")
                print(f"round {round_number + 1} {variant:<9} CPU: steady {timing['steady_cpu']:6.2f}s "
                      f"session {timing['session_cpu']:6.2f}s process {timing['process_cpu']:6.2f}s | "
                      f"wall: steady {timing['steady_wall']:6.2f}s session {timing['session_wall']:6.2f}s "
                      f"process {timing['process_wall']:6.2f}s")
                this_round[variant] = timing
                for key, value in timing.items():
                    best.setdefault(variant, {})[key] = min(value, best.get(variant, {}).get(key, value))
            paired.append({key: this_round["plugin"][key] / this_round["reference"][key] for key in timing})
            if options.coverage:
                paired_coverage.append({key: this_round["coverage"][key] / this_round["plugin"][key] for key in timing})

    requests = options.tests * 2
    plugin, reference = best["plugin"], best["reference"]
    print()
    print(f"{options.tests} budgeted tests x 2 intercepted calls ({options.calls}; {requests} requests), "
          f"best of {options.rounds}; ratio = plugin / reference:")
    for clock in ("cpu", "wall"):
        cells = []
        for scope in ("steady", "session", "process"):
            key = f"{scope}_{clock}"
            cells.append(f"{scope} {plugin[key]:6.2f}s / {reference[key]:6.2f}s = {plugin[key] / reference[key]:.2f}x")
        print(f"  {clock:<4} " + "   ".join(cells))
    print("  median of the per-round paired ratios (robust when other processes load the machine):")
    for clock in ("cpu", "wall"):
        cells = [f"{scope} {statistics.median(r[f'{scope}_{clock}'] for r in paired):.2f}x"
                 for scope in ("steady", "session", "process")]
        print(f"  {clock:<4} " + "   ".join(cells))
    per_request_ms = (plugin["steady_cpu"] - reference["steady_cpu"]) / (requests - 2) * 1000
    warm_up = (plugin["session_cpu"] - plugin["steady_cpu"]) - (reference["session_cpu"] - reference["steady_cpu"])
    print(f"  plugin CPU per request in the steady state: {per_request_ms:.2f} ms; "
          f"one-time warm-up (tokenizer tables, lazy imports): {warm_up:.2f}s")
    if options.coverage:
        print("  --tokenbudget-coverage / plugin alone, per round (paired), then the median:")
        for clock in ("cpu", "wall"):
            for scope in ("steady", "session", "process"):
                key = f"{scope}_{clock}"
                rounds = "  ".join(f"{r[key]:.3f}x" for r in paired_coverage)
                print(f"  {clock:<4} {scope:<8} {rounds}   median {statistics.median(r[key] for r in paired_coverage):.3f}x")


def report_instructions(suite: Path, options: argparse.Namespace) -> None:
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        sys.exit("--instructions needs valgrind (Debian package valgrind)")
    counted = {variant: run(suite, variant, cold=options.cold and variant == "plugin", instructions=True)
               for variant in ("reference", "plugin")}
    plugin, reference = counted["plugin"], counted["reference"]
    requests = options.tests * 2
    steady = plugin["steady_instructions"] / reference["steady_instructions"]
    extra_first = plugin["first_test_instructions"] - reference["first_test_instructions"]
    per_request = (plugin["steady_instructions"] - reference["steady_instructions"]) / (requests - 2)
    print(f"{options.tests} budgeted tests x 2 intercepted calls ({options.calls}), instructions (callgrind), "
          f"plugin / reference{' (--cold)' if options.cold else ''}:")
    print(f"  steady state {plugin['steady_instructions'] / 1e6:,.1f} M / {reference['steady_instructions'] / 1e6:,.1f} M"
          f" = {steady:.3f}x (goal <= 1.10x); {per_request / 1e3:,.0f} k instructions per request")
    print(f"  first test   {plugin['first_test_instructions'] / 1e6:,.1f} M / "
          f"{reference['first_test_instructions'] / 1e6:,.1f} M: the plugin's one-time warm-up is "
          f"{extra_first / 1e6:,.1f} M instructions")


if __name__ == "__main__":
    main()
