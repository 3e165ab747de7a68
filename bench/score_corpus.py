"""Recall and false alarms of `tokenbudget check` per rule family, on a labelled corpus of public
LLM apps and agents (bench/corpus_labels.toml).

Each package is fetched once with `pip download --no-deps` into bench/.corpus-labelled/
(gitignored), unpacked, and checked as its own project (`--no-cache`, all rules). A labelled
mistake counts as found when a diagnostic of its family is reported in its file within two
lines of it; a clean case is a false alarm when one is.

    python bench/score_corpus.py [--show-misses]    # scores this checkout's checker

Goal (issue 12): recall >= 0.9 per family, at most 1 false alarm per 10 clean cases.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections import defaultdict
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CORPUS = HERE / ".corpus-labelled"
LABELS = HERE / "corpus_labels.toml"
# label name -> pinned distribution
PACKAGES = {
    "babyagi": "babyagi==0.1.4",
    "rawdog": "rawdog-ai==0.1.6",
    "chatgpt_telegram": "chatgpt-telegram==0.1.4",
    "commitgpt": "commitgpt==1.1.0",
    "gpt_commit": "gpt-commit==0.1.2",
    "shell_gpt": "shell-gpt==1.5.1",
    "gpt_engineer": "gpt-engineer==0.3.1",
    "metagpt": "metagpt==0.8.2",
    "agpt": "agpt==0.2.2",
    "gpt_command_line": "gpt-command-line==0.4.3",
    "chatblade": "chatblade==0.7.0",
    "smol_dev": "smol-dev==0.0.4",
    "llm_agents": "llm-agents==0.0.2",
    "agentverse": "agentverse==0.1.8.1",
    "gpt_review": "gpt-review==0.9.5",
    "aicommit": "aicommit==0.1.0",
    "commitai": "commitai==3.3.0",
    "devchat": "devchat==0.3.0",
    "elia_chat": "elia-chat==1.10.0",
    "chatgpt_cli_tool": "chatgpt-cli-tool==1.11.2",
    "autochain": "autochain==0.0.5",
    "aicodebot": "aicodebot==0.30.0",
}


def _normal(name: str) -> str:
    return name.lower().replace("-", "_")


def _archive_of(wheels: Path, spec: str) -> Path | None:
    """The downloaded wheel or sdist of ``name==version`` (file names spell the name either way,
    and an sdist's name may hold hyphens: gpt-pilot-0.0.10.tar.gz)."""
    name, version = spec.split("==")
    prefix = f"{_normal(name)}_{version}"
    return next((p for p in sorted(wheels.iterdir())
                 if _normal(p.name).startswith(prefix) and _normal(p.name)[len(prefix):][:1] in ("_", ".")), None)


def ensure_corpus(packages: dict[str, str] = PACKAGES) -> dict[str, Path]:
    """Each package's unpacked folder (fetched and unpacked on first use), by label."""
    wheels = CORPUS / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    roots = {}
    missing = [spec for spec in packages.values() if _archive_of(wheels, spec) is None]
    if missing:  # the source is read, never run: the running Python need not be one it supports
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python", "-q",
                        "-d", str(wheels), *missing], check=True)
    for label, spec in packages.items():
        target = CORPUS / "src" / label
        archive = _archive_of(wheels, spec)
        assert archive is not None
        if not (target.is_dir() and any(target.iterdir())):
            target.mkdir(parents=True, exist_ok=True)
            if archive.suffix == ".whl":
                with zipfile.ZipFile(archive) as opened:
                    opened.extractall(target)
            else:
                with tarfile.open(archive) as opened:
                    opened.extractall(target, filter="data") if sys.version_info >= (3, 12) else opened.extractall(target)
        inner = [p for p in target.iterdir() if p.is_dir()]
        # an sdist unpacks into name-version/: its content is the project
        root = inner[0] if archive.suffix != ".whl" and len(inner) == 1 else target
        # a project of its own, as in its repository (findings() passes it as --config): else the
        # nearest pyproject.toml with a [tool.tokenbudget] table is this repo's, the project root
        # is this repo, and the package's own imports (agentverse.llms...) do not resolve
        if not (root / "pyproject.toml").exists():
            (root / "pyproject.toml").write_text(f'[project]\nname = "{label}"\n', encoding="utf-8")
        roots[label] = root
    return roots


def findings(root: Path) -> dict[str, list[tuple[int, str]]]:
    output = subprocess.run(
        [sys.executable, "-m", "checker", "check", "--no-cache", "--exit-zero", "--output-format", "json",
         "--config", str(root / "pyproject.toml"), "."],
        cwd=root, capture_output=True, text=True, check=True,
        # the checker of this checkout, whatever is installed: the run's cwd is the package's folder
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))},
    ).stdout
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for diagnostic in json.loads(output):
        relative = Path(diagnostic["filename"]).resolve().relative_to(root.resolve()).as_posix()
        found[relative].append((diagnostic["line"], diagnostic["code"]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    cases = tomllib.loads(LABELS.read_text(encoding="utf-8"))["case"]
    roots = ensure_corpus()
    reported = {label: findings(root) for label, root in roots.items()}
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    misses = []
    for case in cases:
        near = [code for line, code in reported[case["package"]].get(case["file"], ())
                if abs(line - case["line"]) <= 2 and code.startswith(case["family"])]
        family = tally[case["family"]]
        if case["mistake"]:
            family["mistakes"] += 1
            family["found"] += bool(near)
            if not near:
                misses.append(("missed", case))
        else:
            family["clean"] += 1
            family["false_alarms"] += bool(near)
            if near:
                misses.append(("false alarm", case))
    print(f"{'family':<7} {'recall':>12} {'false alarms':>16}")
    for name in sorted(tally):
        row = tally[name]
        recall = row["found"] / row["mistakes"] if row["mistakes"] else float("nan")
        print(f"{name:<7} {row['found']:>3}/{row['mistakes']:<3} {recall:5.2f} {row['false_alarms']:>6}/{row['clean']:<3} clean")
    if args.show_misses:
        for kind, case in misses:
            print(f"{kind}: {case['package']}/{case['file']}:{case['line']} {case['family']} - {case['why']}")
    summary = {name: {"recall": round(row["found"] / row["mistakes"], 2) if row["mistakes"] else None,
                      "false_alarms_per_10_clean": round(10 * row["false_alarms"] / row["clean"], 1) if row["clean"] else None}
               for name, row in sorted(tally.items())}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
