"""Lines added or changed since a git ref, for ``tokenbudget check --new-since REF``.

Uses the real ``git`` (``git diff --unified=0 REF -- paths`` on the working tree, plus untracked
files, which count as wholly new) so the answer matches what a pull request shows.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Optional, Sequence

from checker.config import ConfigError

# "@@ -a,b +c,d @@": only the new side matters; a missing count means one line.
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")

WHOLE_FILE = None  # marker value in ChangedLines: every line of the file is new


class ChangedLines:
    """{absolute file path: set of new line numbers, or WHOLE_FILE}."""

    def __init__(self, files: "dict[Path, Optional[set[int]]]") -> None:
        self._files = files

    def contains(self, filename: str, line: int) -> bool:
        path = Path(filename).resolve()
        if path not in self._files:
            return False
        lines = self._files[path]
        return lines is WHOLE_FILE or line in lines


def _git(args: Sequence[str], cwd: Path) -> str:
    try:
        result = subprocess.run(
            ["git", "-c", "core.quotePath=false", *args], cwd=cwd, capture_output=True, text=True, encoding="utf-8", errors="replace"
        )
    except FileNotFoundError:
        raise ConfigError("--new-since: git is not installed (or not on PATH)") from None
    if result.returncode != 0:
        raise _GitFailed(result.stderr.strip())
    return result.stdout


class _GitFailed(Exception):
    pass


def changed_lines(ref: str, paths: Sequence[Path], cwd: Path) -> ChangedLines:
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], cwd).strip())
    except _GitFailed:
        raise ConfigError(f"--new-since {ref}: {cwd} is not inside a git repository") from None
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd)
    except _GitFailed:
        raise ConfigError(f"--new-since {ref}: no such commit, branch or tag in {top}") from None
    specs = [str(p) for p in paths] or ["."]
    try:
        diff = _git(["diff", "--unified=0", "--no-color", "--no-ext-diff", "--no-renames", ref, "--", *specs], cwd)
        untracked = _git(["ls-files", "--others", "--exclude-standard", "--full-name", "--", *specs], cwd)
    except _GitFailed as error:
        raise ConfigError(f"--new-since {ref}: git diff failed: {error}") from None
    files: dict[Path, Optional[set[int]]] = {}
    current: Optional[set[int]] = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            target = line[4:]
            if target == "/dev/null":
                current = None
                continue
            name = target[2:] if target.startswith("b/") else target
            current = files.setdefault((top / name).resolve(), set())
        elif current is not None and line.startswith("@@"):
            match = _HUNK.match(line)
            if match:
                start, count = int(match.group(1)), int(match.group(2) or 1)
                current.update(range(start, start + count))
    for name in untracked.splitlines():
        if name:
            files[(top / name).resolve()] = WHOLE_FILE
    return ChangedLines(files)
