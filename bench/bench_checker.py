"""Speed of `tokenbudget check` against ruff, measured in the same run on the same corpus.

Corpus: every .py of the langchain-community 0.4.2 and sympy 1.14.0 wheels (fetched with pip into
bench/.corpus/, gitignored). Reference: `ruff check --select E,F` (pip install ruff).

Goals (issue 12): cold <= 2x `ruff --no-cache` (median of paired, alternating runs); warm re-run
(nothing changed, cache on) <= 0.2 s; one file as pre-commit runs it (the file edited, the rest of
the project's summaries cached) <= 120 ms for the whole process; peak memory <= 150 MB.

Every figure is printed with a reference measured in the same run (the machine is shared): the
interpreter's own start (`python -c pass`), and ruff on the same file or tree. CPU is user + system
seconds of the whole process tree, steadier than wall time on a loaded machine.

    python bench/bench_checker.py [--repeat 3] [--select TB] [--skip-cold | --only-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CORPUS = HERE / ".corpus"
WHEELS = {"langchain-community": "0.4.2", "sympy": "1.14.0"}


def ensure_corpus() -> Path:
    source = CORPUS / "src"
    if source.is_dir() and any(source.iterdir()):
        return source
    wheels = CORPUS / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}=={version}" for name, version in WHEELS.items()]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), *specs], check=True)
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(source / wheel.stem)
    return source


def ruff_command() -> list[str]:
    found = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(found).exists():
        sys.exit("ruff is the reference: pip install ruff")
    return [found]


# Measure as installed: pip compiles bytecode at install time, so a developer shell's
# PYTHONDONTWRITEBYTECODE (which makes every run recompile the checker) is dropped here.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def precompile() -> None:
    import compileall

    for package in ("checker", "pytest_tokenbudget"):
        compileall.compile_dir(str(REPO / package), quiet=1)


def timed(command: list[str], cwd: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB of the largest process of the command's tree)."""
    elapsed, _, rss = timed_cpu(command, cwd)
    return elapsed, rss


def timed_cpu(command: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds (user + system) of the command's process tree, peak RSS in KiB)."""
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "start = time.perf_counter()\n"
        "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode\n"
        "elapsed = time.perf_counter() - start\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps([elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, code]))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe, *command], cwd=cwd, capture_output=True, text=True, check=True, env=_ENV
    )
    elapsed, cpu, rss, code = json.loads(output.stdout)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {code}")
    return elapsed, cpu, rss


def median_of(command: list[str], cwd: Path, repeat: int) -> tuple[float, int]:
    runs = [timed(command, cwd) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--select", default=None, help="rule selection (default: all rules)")
    parser.add_argument("--skip-cold", action="store_true", help="only the warm and one-file figures")
    parser.add_argument("--only-cold", action="store_true", help="only the cold run against ruff")
    args = parser.parse_args()
    source = ensure_corpus()
    precompile()
    files = list(source.rglob("*.py"))
    lines = sum(path.read_bytes().count(b"\n") for path in files)
    checker = [sys.executable, "-m", "checker", "check", "--output-format", "concise", "-q"]
    if args.select:
        checker += ["--select", args.select]
    print(f"corpus: {len(files)} files, {lines:,} lines; cpus: {os.cpu_count()}; python {sys.version.split()[0]}")
    env_note = f"load average before: {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(env_note)

    # ruff and the cold run alternate, and the ratio is the median of each pair's ratio: the
    # machine is shared, and a busy moment then weighs on both sides of one pair.
    ruff = ruff_command() + ["check", "--select", "E,F", "--no-cache", "-q", "--exit-zero", "."]
    ruff_time = cold = cold_ratio = None
    cold_rss = 0
    if not args.skip_cold:
        pairs = []
        for _ in range(args.repeat):
            ruff_run, ruff_cpu, _ = timed_cpu(ruff, source)
            cold_run, cold_cpu, rss = timed_cpu(checker + ["--no-cache", "."], source)
            pairs.append((ruff_run, cold_run, ruff_cpu, cold_cpu))
            cold_rss = max(cold_rss, rss)
        ruff_time = statistics.median(p[0] for p in pairs)
        cold = statistics.median(p[1] for p in pairs)
        cold_ratio = statistics.median(p[1] / p[0] for p in pairs)
        spread = ", ".join(f"{p[1] / p[0]:.2f}" for p in pairs)
        cpu_ratio = statistics.median(p[3] / p[2] for p in pairs)
        ruff_cpu = statistics.median(p[2] for p in pairs)
        print(f"ruff check --select E,F --no-cache         {ruff_time:7.3f} s   cpu {ruff_cpu:6.2f} s")
        print(f"tokenbudget check --no-cache (cold)         {cold:7.3f} s   cpu {statistics.median(p[3] for p in pairs):6.2f} s")
        print(f"  ratio to ruff: wall {cold_ratio:5.2f}x (goal <= 2x; pairs: {spread}), cpu {cpu_ratio:.2f}x")

    if args.only_cold:
        print(json.dumps({"ruff_s": round(ruff_time, 3), "cold_s": round(cold, 3), "cold_ratio": round(cold_ratio, 2),
                          "peak_rss_mb": round(cold_rss / 1024, 1), "select": args.select or "all"}))
        return 0

    # Warm runs have no ruff reference: a warm ruff still prints its 165k findings on this
    # corpus, which is most of its time; the interpreter's start is the floor instead.
    with tempfile.TemporaryDirectory() as cache:
        cached = checker + ["--cache-dir", cache]
        timed(cached + ["."], source)  # fill the cache
        time.sleep(2.5)  # files written just before the cache are re-hashed (racy mtime); keep runs comparable
        repeat = max(args.repeat, 5)
        startup = [sys.executable, "-c", "pass"]
        warm = alternate({"python -c pass": (startup, None), "tokenbudget (warm)": (cached + ["."], None)},
                         source, repeat)
        report("warm re-run, nothing changed", warm, "tokenbudget (warm)", "python -c pass", goal_s=0.2)

        # The usual re-run: one file edited since the last run (only it is read, parsed and checked).
        edited = typical_file(files)
        with edits(edited) as edit:
            again = alternate({"python -c pass": (startup, None), "tokenbudget (warm)": (cached + ["."], edit)},
                              source, repeat)
        report(f"re-run after editing {edited.name}", again, "tokenbudget (warm)", "python -c pass")

        # One file as pre-commit passes it, just edited, with the rest of the project's summaries
        # in the cache: a file that stops at the prefilter (most files), and the largest file
        # that goes through libcst (it has an LLM-shaped call), the worst case.
        single_results = {}
        for kind, single in (("typical", edited), ("LLM call", llm_file(files))):
            ruff_one = ruff_command() + ["check", "--select", "E,F", "--no-cache", "-q", "--exit-zero", str(single)]
            ours = cached + ["--force-exclude", str(single)]
            with edits(single) as edit:
                one = alternate({"python -c pass": (startup, None), "ruff (same file)": (ruff_one, edit),
                                 "tokenbudget": (ours, edit)}, source, repeat)
            report(f"one file, pre-commit ({kind}: {single.name}, {single.stat().st_size:,} bytes)", one,
                   "tokenbudget", "ruff (same file)", goal_s=0.120)
            single_results[kind] = round(statistics.median(w for w, _, _ in one["tokenbudget"]) * 1000)

    peak_mb = max(cold_rss, max(r for _, _, r in warm["tokenbudget (warm)"])) / 1024
    print(f"peak RSS (largest process)                  {peak_mb:7.1f} MB  goal <= 150 MB")
    print(
        json.dumps(
            {
                "ruff_s": round(ruff_time, 3) if ruff_time is not None else None,
                "cold_s": round(cold, 3) if cold is not None else None,
                "cold_ratio": round(cold_ratio, 2) if cold_ratio is not None else None,
                "warm_s": round(statistics.median(w for w, _, _ in warm["tokenbudget (warm)"]), 3),
                "warm_after_edit_s": round(statistics.median(w for w, _, _ in again["tokenbudget (warm)"]), 3),
                "single_file_ms": single_results,
                "python_start_ms": round(statistics.median(w for w, _, _ in warm["python -c pass"]) * 1000),
                "peak_rss_mb": round(peak_mb, 1),
                "select": args.select or "all",
            }
        )
    )
    return 0


def alternate(commands: dict, cwd: Path, repeat: int) -> dict[str, list[tuple[float, float, int]]]:
    """Run each command once per round, in turn, ``repeat`` rounds: a busy moment of the shared
    machine then weighs on the reference as much as on what is measured. A command's second
    element, when set, is called before each of its runs (to edit a file)."""
    runs: dict[str, list[tuple[float, float, int]]] = {label: [] for label in commands}
    for _ in range(repeat):
        for label, (command, before) in commands.items():
            if before is not None:
                before()
            runs[label].append(timed_cpu(command, cwd))
    return runs


def report(title: str, runs: dict, ours: str, reference: str, goal_s: float | None = None) -> None:
    print(title)
    for label, measured in runs.items():
        wall = statistics.median(w for w, _, _ in measured)
        cpu = statistics.median(c for _, c, _ in measured)
        print(f"  {label:<28} wall {wall * 1000:7.0f} ms   cpu {cpu * 1000:7.0f} ms")
    pairs = list(zip(runs[reference], runs[ours]))
    ratio = statistics.median(o[0] / r[0] for r, o in pairs)
    cpu_ratio = statistics.median(o[1] / max(r[1], 1e-3) for r, o in pairs)
    line = f"  ratio to {reference}: wall {ratio:.2f}x, cpu {cpu_ratio:.2f}x"
    if "python -c pass" in runs and reference != "python -c pass":
        start = statistics.median(w for w, _, _ in runs["python -c pass"])
        line += f"; beyond interpreter start: {(statistics.median(w for w, _, _ in runs[ours]) - start) * 1000:.0f} ms"
    if goal_s is not None:
        line += f"; goal <= {goal_s * 1000:.0f} ms"
    print(line)


class edits:
    """Edit ``path`` before each run (a new comment line each time, so that no cache knows the
    content) and put the original bytes and mtime back afterwards."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def __enter__(self):
        self.original = self.path.read_bytes()
        self.stat = self.path.stat()
        return self.edit

    def edit(self) -> None:
        self.count += 1
        self.path.write_bytes(self.original + f"\n# bench edit {self.count} {time.time_ns()}\n".encode())

    def __exit__(self, *exc) -> None:
        self.path.write_bytes(self.original)
        os.utime(self.path, ns=(self.stat.st_atime_ns, self.stat.st_mtime_ns))


def typical_file(files: list[Path]) -> Path:
    """A median-sized module that names no LLM SDK (most files of a project)."""
    plain = sorted((p for p in files if p.name != "__init__.py" and b"openai" not in (data := p.read_bytes())
                    and b"anthropic" not in data and b"llm" not in data.lower()), key=lambda p: (p.stat().st_size, str(p)))
    return plain[len(plain) // 2]


def llm_file(files: list[Path]) -> Path:
    """The largest file with an LLM-shaped call: it goes through every stage, libcst included."""
    import ast

    sys.path.insert(0, str(REPO))
    from checker.calls import ast_may_call_llm

    candidates = []
    for path in files:
        data = path.read_bytes()
        if b"openai" in data or b"anthropic" in data or b"ChatOpenAI" in data:
            try:
                if ast_may_call_llm(ast.parse(data)):
                    candidates.append(path)
            except (SyntaxError, ValueError, RecursionError):
                pass
    candidates.sort(key=lambda p: (p.stat().st_size, str(p)))
    return candidates[-1] if candidates else files[0]


if __name__ == "__main__":
    sys.exit(main())
