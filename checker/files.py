"""Which files to check: walk the given paths, honouring excludes and ``.gitignore`` files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from checker.config import CheckConfig, PathMatcher


@dataclass(frozen=True)
class _IgnoreRule:
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


def _gitignore_regex(pattern: str) -> str:
    anchored = "/" in pattern
    pattern = pattern.lstrip("/")
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
            continue
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    body = "".join(out)
    return ("" if anchored else "(?:.*/)?") + body + r"\Z"


class GitIgnore:
    """The rules of one ``.gitignore`` (or ``.git/info/exclude``), relative to its directory."""

    def __init__(self, base: Path, text: str) -> None:
        self.base = base
        self.base_str = str(base).rstrip(os.sep) + os.sep
        self.rules: list[_IgnoreRule] = []
        for raw in text.splitlines():
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            # trailing spaces are ignored unless escaped
            stripped = line.rstrip(" ")
            if stripped.endswith("\\") and len(line) > len(stripped):
                stripped += " "
            line = stripped
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            elif line.startswith("\\!") or line.startswith("\\#"):
                line = line[1:]
            directory_only = line.endswith("/")
            line = line.rstrip("/")
            if not line:
                continue
            self.rules.append(_IgnoreRule(re.compile(_gitignore_regex(line)), negated, directory_only))

    def match(self, relative: str, is_dir: bool) -> Optional[bool]:
        """True ignored, False re-included by a ``!`` rule, None no opinion."""
        result: Optional[bool] = None
        for rule in self.rules:
            if rule.directory_only and not is_dir:
                continue
            if rule.regex.match(relative):
                result = not rule.negated
        return result


def _read_gitignore(directory: Path, name: str = ".gitignore") -> Optional[GitIgnore]:
    path = directory / name
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    ignore = GitIgnore(directory if name == ".gitignore" else directory.parent.parent, text)
    return ignore if ignore.rules else None


def _ignored(path: Path, is_dir: bool, stack: list[GitIgnore]) -> bool:
    verdict: Optional[bool] = None
    for ignore in stack:  # deeper files override shallower ones
        try:
            relative = path.relative_to(ignore.base).as_posix()
        except ValueError:
            continue
        found = ignore.match(relative, is_dir)
        if found is not None:
            verdict = found
    return bool(verdict)


def _ancestor_ignores(directory: Path) -> list[GitIgnore]:
    """``.gitignore`` files of the enclosing directories up to the repository root."""
    chain: list[GitIgnore] = []
    for parent in (directory, *directory.parents):
        ignore = _read_gitignore(parent)
        if ignore is not None:
            chain.append(ignore)
        if (parent / ".git").exists():
            info = _read_gitignore(parent, ".git/info/exclude")
            if info is not None:
                chain.append(info)
            break
    return list(reversed(chain))


class FileFinder:
    def __init__(self, config: CheckConfig, force_exclude: bool = False) -> None:
        self.config = config
        self.root = config.root.resolve()
        self.exclude = PathMatcher(list(config.exclude) + list(config.extend_exclude))
        self.force_exclude = force_exclude

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def is_excluded(self, path: Path) -> bool:
        return self.exclude.matches(self._relative(path.resolve()))

    def find(self, paths: list[Path]) -> Iterator[str]:
        """Absolute paths (strings: this runs for every file of the tree) of the Python files
        under ``paths``. Files named explicitly are always checked unless ``force_exclude`` (as
        pre-commit passes them), matching ruff."""
        seen: set[str] = set()
        for given in paths:
            path = given.resolve() if given.is_absolute() else (Path.cwd() / given).resolve()
            if path.is_file() or not path.exists():
                if self.force_exclude and self._excluded_with_ignores(path):
                    continue
                if str(path) not in seen:
                    seen.add(str(path))
                    yield str(path)
                continue
            stack = _ancestor_ignores(path) if self.config.respect_gitignore else []
            for found in self._walk(path, stack):
                if found not in seen:
                    seen.add(found)
                    yield found

    def _excluded_with_ignores(self, path: Path) -> bool:
        if self.is_excluded(path):
            return True
        if self.config.respect_gitignore:
            stack = _ancestor_ignores(path.parent)
            current = path
            while True:
                if _ignored(current, current != path, stack):
                    return True
                if current.parent == current or current.parent == self.root.parent:
                    break
                current = current.parent
        return False

    def _walk(self, directory: Path, stack: list[GitIgnore]) -> Iterator[str]:
        # strings, not Path objects: this loop runs for every entry of the tree
        root = str(self.root) + os.sep
        pending: list[tuple[str, list[GitIgnore]]] = [(str(directory), stack)]
        while pending:
            current, ignores = pending.pop()
            try:
                entries = sorted(os.scandir(current), key=lambda e: e.name)
            except OSError:
                continue
            if self.config.respect_gitignore:
                local = _read_gitignore(Path(current))
                if local is not None and (not ignores or ignores[-1].base != Path(current)):
                    ignores = ignores + [local]
            subdirs = []
            for entry in entries:
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                name = entry.name
                if not is_dir and not name.endswith((".py", ".pyi")):
                    continue
                full = entry.path
                relative = full[len(root) :].replace(os.sep, "/") if full.startswith(root) else full
                if self.exclude.matches_entry(relative, name):
                    continue
                if ignores and _ignored_str(full, is_dir, ignores):
                    continue
                if is_dir:
                    subdirs.append(full)
                else:
                    yield full
            for subdir in reversed(subdirs):
                pending.append((subdir, ignores))


def _ignored_str(full: str, is_dir: bool, stack: list[GitIgnore]) -> bool:
    verdict: Optional[bool] = None
    for ignore in stack:
        base = ignore.base_str
        if not full.startswith(base):
            continue
        found = ignore.match(full[len(base) :].replace(os.sep, "/"), is_dir)
        if found is not None:
            verdict = found
    return bool(verdict)
