"""Issue 16's adoption steps on public LLM apps, bots and agents: each package (pinned, fetched
with `pip download --no-deps` into bench/.corpus-labelled/, gitignored) is copied as its own
project, formatted with the real `ruff format`, then run through the real CLI:

1. `tokenbudget check --fix` (safe fixes), and separately `--fix --unsafe-fixes`, counting files
   changed, fixes, and what must never happen: a file `ruff format --check` would reformat, one
   that no longer compiles, a second `--fix` that changes it again, a new line with trailing
   whitespace, a comment copied, lost or moved to another line's code;
2. `--add-noqa`, then a plain run (its exit code; the files must stay formatter-clean);
3. in a git repository of the result, one uncapped call added to one file: `--new-since HEAD`
   must report exactly that call.

    python bench/fix_real_corpus.py [--checker PATH] [--only LABEL ...] [--show]

PATH: another checker's parent directory (e.g. a copy of main), to compare.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from score_corpus import PACKAGES, ensure_corpus  # noqa: E402

# Apps that call the SDKs themselves (not libraries forwarding **kwargs), pinned.
APPS = {
    "aicodebot": "aicodebot==0.30.0",
    "aicommit": "aicommit==0.1.0",
    "agpt": "agpt==0.2.2",
    "aider": "aider-chat==0.86.2",
    "chatblade": "chatblade==0.7.0",
    "codegpt": "codegpt==0.3.1",
    "codeinterpreterapi": "codeinterpreterapi==0.1.20",
    "devchat": "devchat==0.3.0",
    "devon_agent": "devon-agent==0.1.25",
    "elia": "elia-chat==1.10.0",
    "gpt_cli": "gpt-cli==1.0.11",
    "gpt_code_ui": "gpt-code-ui==0.42.40",
    "gpt_command_line": "gpt-command-line==0.4.3",
    "gpt_pilot": "gpt-pilot==0.0.10",
    "gpt_researcher": "gpt-researcher==0.16.1",
    "gpt_review": "gpt-review==0.9.5",
    "gpt_translate": "gpt-translate==6.0.0",
    "gptme": "gptme==0.35.1",
    "gptty": "gptty==0.2.7",
    "mentat": "mentat==1.0.19",
    "open_interpreter": "open-interpreter==0.4.3",
    "pr_agent": "pr-agent==0.49.0",
    "smol_dev": "smol-dev==0.0.4",
    "tgpt": "tgpt==0.1.0",
}
LLM_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:openai|anthropic|litellm|langchain\w*|llama_index|groq|mistralai)\b",
                        re.M)
PROBE = '''def tokenbudget_probe(question):
    import openai

    return openai.OpenAI().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": question}]
    )
'''
PROBE_CALL = next(n for n, line in enumerate(PROBE.splitlines()) if "create(" in line)  # 0-based


def ruff() -> str:
    found = Path(sys.executable).with_name("ruff")
    return str(found) if found.exists() else (shutil.which("ruff") or sys.exit("ruff is not installed"))


def copy_project(source_root: Path, target: Path) -> list[str]:
    """The package's Python files that compile and that ruff can format, formatted; relative paths."""
    kept = []
    for path in sorted(source_root.rglob("*.py")):
        relative = path.relative_to(source_root)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        try:
            text = path.read_text(encoding="utf-8")
            compile(text, str(relative), "exec")
        except (UnicodeDecodeError, SyntaxError, ValueError):
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(text, encoding="utf-8")
        kept.append(relative.as_posix())
    subprocess.run([ruff(), "format", "-q", "--isolated", "--no-cache", "."], cwd=target, check=False)
    for relative in unclean(target):  # files ruff cannot parse (or leaves unstable) are left out
        (target / relative).unlink()
        kept.remove(relative)
    return kept


def unclean(root: Path) -> list[str]:
    """Files `ruff format --check` would reformat or cannot parse (each is named on a `--> file:line`
    line; older ruff versions print `Would reformat: file`)."""
    check = subprocess.run([ruff(), "format", "--check", "--isolated", "--no-cache", "."], cwd=root,
                           capture_output=True, text=True)
    output = check.stdout + check.stderr
    found = re.findall(r"^\s*--> (.+?\.py):\d+", output, re.M) + re.findall(r"^Would reformat: (.+?\.py)$", output, re.M)
    if check.returncode and not found:
        raise SystemExit(f"ruff format --check failed and named no file:\n{output}")
    return sorted({Path(name).as_posix() for name in found})


def tokenbudget(root: Path, checker: Path, *args: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(checker))
    return subprocess.run([sys.executable, "-m", "checker", "check", "--no-cache", *args], cwd=root,
                          capture_output=True, text=True, env=environment)


def fixed_count(result: subprocess.CompletedProcess) -> int:
    match = re.search(r"^Fixed (\d+) errors?\.", result.stdout + result.stderr, re.M)
    return int(match.group(1)) if match else 0


def comment_places(source: str) -> Counter:
    """Each comment with the code token before it on its line (None for a comment on its own
    line): a comment copied, lost or moved onto another argument changes this."""
    places: Counter = Counter()
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            places[(token.string, previous.string if previous and previous.end[0] == token.start[0] else None)] += 1
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT) \
                and token.string != ",":
            previous = token
    return places


def trailing_whitespace(source: str) -> int:
    return sum(1 for line in source.splitlines() if line != line.rstrip())


def read_all(root: Path, files: list[str]) -> dict[str, str]:
    return {name: (root / name).read_text(encoding="utf-8") for name in files}


def fix_run(root: Path, files: list[str], checker: Path, flags: list[str], tally: Counter, problems: list) -> None:
    before = read_all(root, files)
    result = tokenbudget(root, checker, "--fix", "--exit-zero", *flags)
    if result.returncode not in (0, 1):
        problems.append((root.name, "check --fix failed", result.stderr.strip()[-300:]))
    tally["fixes"] += fixed_count(result)
    after = read_all(root, files)
    changed = [name for name in files if after[name] != before[name]]
    tally["files changed"] += len(changed)
    for name in changed:
        try:
            compile(after[name], name, "exec")
        except SyntaxError as error:
            tally["does not compile"] += 1
            problems.append((root.name, "does not compile", f"{name}: {error}"))
        if trailing_whitespace(after[name]) > trailing_whitespace(before[name]):
            tally["new trailing whitespace"] += 1
            problems.append((root.name, "new trailing whitespace", name))
        if comment_places(after[name]) != comment_places(before[name]):
            tally["comment copied, lost or moved"] += 1
            problems.append((root.name, "comment copied, lost or moved", name))
    for name in unclean(root):
        tally["ruff would reformat"] += 1
        problems.append((root.name, "ruff would reformat", name))
    again = tokenbudget(root, checker, "--fix", "--exit-zero", *flags)
    if read_all(root, files) != after or fixed_count(again):
        tally["not idempotent"] += 1
        problems.append((root.name, "not idempotent", ""))


def add_noqa_run(root: Path, files: list[str], checker: Path, tally: Counter, problems: list) -> None:
    result = tokenbudget(root, checker, "--add-noqa")
    match = re.search(r"Added (\d+) noqa directives?", result.stderr)
    tally["noqa directives added"] += int(match.group(1)) if match else 0
    if result.returncode != 0 or match is None:
        problems.append((root.name, "--add-noqa failed", result.stderr.strip()[-300:]))
    plain = tokenbudget(root, checker)
    tally[f"plain run exit {plain.returncode}"] += 1
    if plain.returncode != 0:
        problems.append((root.name, f"plain run after --add-noqa exits {plain.returncode}", plain.stdout.strip()[-400:]))
    for name in unclean(root):
        tally["ruff would reformat after --add-noqa"] += 1
        problems.append((root.name, "ruff would reformat after --add-noqa", name))
    for name, text in read_all(root, files).items():
        try:
            compile(text, name, "exec")
        except SyntaxError:
            tally["does not compile after --add-noqa"] += 1
            problems.append((root.name, "does not compile after --add-noqa", name))


def new_since_run(root: Path, files: list[str], checker: Path, tally: Counter, problems: list) -> None:
    """One uncapped call added before the last top-level definition of the first file that
    imports an LLM SDK: it must be the only finding of `--new-since HEAD`."""
    target = next((name for name in files if LLM_IMPORT.search((root / name).read_text(encoding="utf-8"))), None)
    if target is None:
        return
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"]
    environment = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "after --fix and --add-noqa"]):
        subprocess.run([*git, *command], cwd=root, check=True, env=environment, capture_output=True)
    lines = (root / target).read_text(encoding="utf-8").splitlines(keepends=True)
    tops = [index for index, line in enumerate(lines) if re.match(r"(?:@|(?:async )?def |class )", line)
            and (index == 0 or not lines[index - 1].strip())]
    if tops:  # before the last top-level definition (or its decorators)
        at, text = tops[-1], "".join(lines[:tops[-1]]) + PROBE + "\n\n" + "".join(lines[tops[-1]:])
    else:
        at, text = len(lines) + 2, "".join(lines) + "\n\n" + PROBE
    (root / target).write_text(text, encoding="utf-8")
    expected = [(target, at + 1 + PROBE_CALL, "TB101")]
    result = tokenbudget(root, checker, "--new-since", "HEAD", "--output-format", "json", "--exit-zero")
    try:
        found = [((root / d["filename"]).resolve().relative_to(root.resolve()).as_posix(), d["line"], d["code"])
                 for d in json.loads(result.stdout)]
    except json.JSONDecodeError:
        found = [("?", 0, result.stderr.strip()[-300:])]
    tally["new-since trials"] += 1
    if found == expected:
        tally["new-since: exactly the new call"] += 1
    else:
        problems.append((root.name, "new-since", f"expected {expected}, found {found}"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checker", type=Path, default=HERE.parent)
    parser.add_argument("--only", nargs="*", help="package labels to run (default: all)")
    parser.add_argument("--show", action="store_true", help="print each problem")
    args = parser.parse_args()
    packages = {**PACKAGES, **APPS}
    if args.only:
        packages = {label: spec for label, spec in packages.items() if label in args.only}
    roots = ensure_corpus(packages)
    work = Path(tempfile.mkdtemp(prefix="fix-real-"))
    formatted, files, llm_files = {}, {}, 0
    for label, root in roots.items():
        formatted[label] = work / "formatted" / label
        formatted[label].mkdir(parents=True)
        files[label] = copy_project(root, formatted[label])
        llm_files += sum(bool(LLM_IMPORT.search((formatted[label] / n).read_text(encoding="utf-8"))) for n in files[label])
    print(f"{len(roots)} packages, {sum(map(len, files.values()))} files ({llm_files} import an LLM SDK), "
          f"all `ruff format`-clean before --fix; work folder {work}")
    problems: list = []
    for mode, flags in (("safe", []), ("unsafe", ["--unsafe-fixes"])):
        tally: Counter = Counter()
        for label in roots:
            tree = work / mode / label
            shutil.copytree(formatted[label], tree)
            fix_run(tree, files[label], args.checker, flags, tally, problems)
            add_noqa_run(tree, files[label], args.checker, tally, problems)
            if mode == "unsafe":
                new_since_run(tree, files[label], args.checker, tally, problems)
        print(f"--fix{' --unsafe-fixes' if flags else ''}:")
        for what in ("files changed", "fixes", "ruff would reformat", "does not compile", "not idempotent",
                     "new trailing whitespace", "comment copied, lost or moved", "noqa directives added"):
            print(f"  {what}: {tally[what]}")
        for what in ("ruff would reformat after --add-noqa", "does not compile after --add-noqa"):
            print(f"  {what}: {tally[what]}")
        for what in sorted(tally):
            if what.startswith(("plain run", "new-since")):
                print(f"  {what}: {tally[what]}")
    if args.show:
        for label, what, detail in problems:
            print(f"{label}: {what}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
