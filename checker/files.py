"""Which files to check: walk the given paths, honouring excludes and ``.gitignore`` files."""

from __future__ import annotations

import copy
import operator
import os
from pathlib import Path
from typing import Iterator, Optional

from checker.config import CheckConfig, PathMatcher


class GitIgnore:
    """One ``.gitignore`` (or ``.git/info/exclude``), relative to its directory, matched with
    git's rules as ``pathspec`` implements them."""

    def __init__(self, base: Path, text: str) -> None:
        from pathspec import GitIgnoreSpec

        self.base = base
        self.base_str = str(base).rstrip(os.sep) + os.sep
        lines = text.splitlines()
        self.spec = GitIgnoreSpec.from_lines(lines)
        # Directory-only rules (`build/`) never decide about a file the walk meets (its
        # directories were decided before it): files are matched against the other rules only,
        # which in most .gitignore files are few.
        self.file_spec = GitIgnoreSpec.from_lines([line for line in lines if not line.rstrip().endswith("/")])
        self.has_rules = any(pattern.include is not None for pattern in self.spec.patterns)
        self.skip: frozenset[int] = frozenset()
        self.file_skip: frozenset[int] = frozenset()

    def match(self, relative: str, is_dir: bool) -> Optional[bool]:
        """True ignored, False re-included by a ``!`` rule, None no opinion."""
        if is_dir:
            result = self.spec.check_file(relative + "/")
            return None if result.index in self.skip else result.include
        result = self.file_spec.check_file(relative)
        return None if result.index in self.file_skip else result.include

    def below(self, directory: Path) -> "GitIgnore":
        """This file's rules for a walk that starts in ``directory``. As git and ruff walk, a
        rule applies to the entries it meets, not to the directories around the walk: a walk
        started inside an ignored directory (``bench/.corpus/`` in the repository's own
        ``.gitignore``) checks what it finds there. pathspec matches whole paths, so the rules
        matching the start directory itself are set aside."""
        try:
            relative = directory.relative_to(self.base).as_posix()
        except ValueError:
            return self
        if relative in ("", "."):
            return self
        scoped = copy.copy(self)
        scoped.skip, scoped.file_skip = (
            frozenset(index for index, pattern in enumerate(spec.patterns)
                      if pattern.include is not None and pattern.match_file(relative + "/") is not None)
            for spec in (self.spec, self.file_spec)
        )
        return scoped


def _read_gitignore(directory: Path, name: str = ".gitignore") -> Optional[GitIgnore]:
    path = directory / name
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not any(line.strip() and not line.startswith("#") for line in text.splitlines()):
        return None  # nothing to match: pathspec is not even imported
    ignore = GitIgnore(directory if name == ".gitignore" else directory.parent.parent, text)
    return ignore if ignore.has_rules else None


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


def _ancestor_ignore_files(directory: Path) -> list[tuple[Path, str]]:
    """(directory, name) of the ignore files that can apply inside ``directory``: the enclosing
    directories' ``.gitignore`` up to the repository root, and its ``.git/info/exclude``;
    outermost first."""
    found: list[tuple[Path, str]] = []
    for parent in (directory, *directory.parents):
        found.append((parent, ".gitignore"))
        if (parent / ".git").exists():
            found.append((parent, ".git/info/exclude"))
            break
    return list(reversed(found))


def _ancestor_ignores(directory: Path) -> list[GitIgnore]:
    """``.gitignore`` files of the enclosing directories up to the repository root."""
    return _read_ignores(_ancestor_ignore_files(directory))


def _read_ignores(files: list[tuple[Path, str]]) -> list[GitIgnore]:
    chain = (_read_gitignore(parent, name) for parent, name in files)
    return [ignore for ignore in chain if ignore is not None]


class IgnoreVerdicts:
    """Whether each file named on the command line was ignored, as the last runs decided, with
    the size and mtime of every ignore file that decided it. pre-commit names the files it
    checks, mostly the same ones run after run: a verdict that still holds spares the run
    importing pathspec and parsing the ``.gitignore`` chain (a sixth of a one-file run)."""

    def __init__(self, path: Optional[Path]) -> None:
        self.path = path
        self.entries: dict[str, tuple] = {}
        self.dirty = False
        if path is not None:
            from checker.cache import read_marshal

            loaded = read_marshal(path)
            if isinstance(loaded, dict):
                self.entries = loaded

    @staticmethod
    def signature(files: list[tuple[Path, str]]) -> tuple:
        stamps = []
        for directory, name in files:
            try:
                stat = os.stat(directory / name)
            except OSError:
                continue
            stamps.append((str(directory / name), stat.st_size, stat.st_mtime_ns))
        return tuple(stamps)

    def get(self, key: str, signature: tuple) -> Optional[bool]:
        entry = self.entries.get(key)
        return entry[1] if entry is not None and entry[0] == signature else None

    def put(self, key: str, signature: tuple, ignored: bool) -> None:
        if self.entries.get(key) != (signature, ignored):
            self.entries[key] = (signature, ignored)
            self.dirty = True

    def save(self) -> None:
        if self.dirty and self.path is not None:
            from checker.cache import write_marshal

            try:
                write_marshal(self.path, self.entries)
            except OSError:
                pass  # a read-only checkout decides again next time


class FileFinder:
    def __init__(self, config: CheckConfig, force_exclude: bool = False,
                 verdicts: Optional[IgnoreVerdicts] = None) -> None:
        self.config = config
        self.root = config.root.resolve()
        self.exclude = PathMatcher(list(config.exclude) + list(config.extend_exclude))
        self.force_exclude = force_exclude
        self.verdicts = verdicts

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
            stack = [ignore.below(path) for ignore in _ancestor_ignores(path)] if self.config.respect_gitignore else []
            for found in self._walk(path, stack):
                if found not in seen:
                    seen.add(found)
                    yield found

    def _excluded_with_ignores(self, path: Path) -> bool:
        if self.is_excluded(path):
            return True
        if not self.config.respect_gitignore:
            return False
        files = _ancestor_ignore_files(path.parent)
        if self.verdicts is not None:
            key = f"{self.root}\0{path}"
            signature = self.verdicts.signature(files)
            known = self.verdicts.get(key, signature)
            if known is not None:
                return known
        ignored = self._ignored_up_to_root(path, _read_ignores(files))
        if self.verdicts is not None:
            self.verdicts.put(key, signature, ignored)
        return ignored

    def _ignored_up_to_root(self, path: Path, stack: list[GitIgnore]) -> bool:
        current = path
        while True:
            if _ignored(current, current != path, stack):
                return True
            if current.parent == current or current.parent == self.root.parent:
                return False
            current = current.parent

    def _walk(self, directory: Path, stack: list[GitIgnore]) -> Iterator[str]:
        # strings, not Path objects: this loop runs for every entry of the tree
        root = str(self.root) + os.sep
        pending: list[tuple[str, list[GitIgnore]]] = [(str(directory), stack)]
        while pending:
            current, ignores = pending.pop()
            try:
                entries = sorted(os.scandir(current), key=_name)
            except OSError:
                continue
            # Most directories have no .gitignore: only those that do get a Path and a parse.
            if self.config.respect_gitignore and any(entry.name == ".gitignore" for entry in entries):
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


_name = operator.attrgetter("name")


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
