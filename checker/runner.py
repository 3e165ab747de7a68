"""One ``tokenbudget check`` run: files -> cache -> prefilter -> (pool | in process) -> diagnostics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from checker.cache import ResultCache, digest
from checker.config import CheckConfig, PathMatcher
from checker.diagnostics import Diagnostic

if TYPE_CHECKING:
    from checker.engine import RuleSet

# Below this many files to check, worker start-up costs more than it saves.
_POOL_THRESHOLD = 6


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Runner:
    def __init__(
        self,
        config: CheckConfig,
        enabled: frozenset[str],
        *,
        use_cache: bool = True,
        cache_dir: Optional[Path] = None,
        jobs: Optional[int] = None,
    ) -> None:
        self.config = config
        self.enabled = enabled
        self.settings = config.rule_settings()
        self._root = config.root.resolve()
        self.jobs = jobs or default_jobs()
        self._per_file = [(PathMatcher([glob]), frozenset(codes)) for glob, codes in config.per_file_ignores.items()]
        self._rule_sets: dict[frozenset[str], "RuleSet"] = {}
        self.cache: Optional[ResultCache] = None
        if use_cache:
            directory = cache_dir or config.cache_dir or (config.root / ".tokenbudget_cache")
            self.cache = ResultCache(directory, config.fingerprint() + repr(sorted(enabled)))

    def relative(self, path: "Path | str") -> str:
        path = Path(path)
        try:
            return path.relative_to(self._root).as_posix()
        except ValueError:
            return path.as_posix()

    def codes_for(self, path: "Path | str") -> frozenset[str]:
        codes = self.enabled
        if self._per_file:
            relative = self.relative(path)
            for matcher, ignored in self._per_file:
                if matcher.matches(relative):
                    codes = frozenset(c for c in codes if not any(c.startswith(i) for i in ignored))
        return codes

    def rule_set(self, codes: frozenset[str]) -> "RuleSet":
        from checker.engine import RuleSet
        from checker.registry import select_rules

        rule_set = self._rule_sets.get(codes)
        if rule_set is None:
            rule_set = self._rule_sets[codes] = RuleSet(select_rules(codes))
        return rule_set

    def display_name(self, path: "Path | str") -> str:
        return str(path)

    def check_stdin(self, data: bytes, filename: Path) -> list[Diagnostic]:
        from checker.engine import check_bytes

        return check_bytes(data, self.display_name(filename), self.rule_set(self.codes_for(filename)), self.settings)

    def check_files(self, paths: "list[Path] | list[str]") -> list[Diagnostic]:
        diagnostics: list[Diagnostic] = []
        tasks = []
        stats: dict[int, tuple[int, int]] = {}
        pool = None
        try:
            for index, path in enumerate(paths):
                name = self.display_name(path)
                try:
                    stat = os.stat(name)
                except OSError as error:
                    from checker.engine import parse_error

                    diagnostics.append(parse_error(name, f"cannot read file: {error.strerror or error}"))
                    continue
                stats[index] = (stat.st_size, stat.st_mtime_ns)
                data = None
                if self.cache is not None and self.cache.knows(name):
                    cached = self.cache.get_by_stat(name, stat.st_size, stat.st_mtime_ns)
                    if cached is None:
                        # Touched but perhaps unchanged (a checkout, a formatter): the content decides.
                        try:
                            with open(name, "rb") as handle:
                                data = handle.read()
                        except OSError:
                            data = None  # the worker reports it
                        else:
                            content_digest = digest(data)
                            cached = self.cache.get(name, content_digest)
                            if cached is not None:
                                self.cache.put(name, content_digest, *stats[index], cached)
                    if cached is not None:
                        diagnostics.extend(Diagnostic.from_tuple(name, item) for item in cached)
                        continue
                if pool is None and len(paths) >= _POOL_THRESHOLD and self.jobs > 1:
                    from checker.pool import WorkerPool

                    # Started at the first file to check, so that the workers' start-up overlaps
                    # the rest of this loop (and a warm run starts none).
                    pool = WorkerPool(self.settings, self.jobs)
                tasks.append((index, name, data, self.codes_for(path)))

            # Reading, the text prefilter and parsing all run in the workers: most files stop at
            # the prefilter, so one process doing it for all would leave the other cores idle.
            if pool is not None:
                # Largest first: the files that take longest to parse then do not end up alone
                # on one worker at the end of the run while the other waits.
                results = pool.run(sorted(tasks, key=lambda task: -stats[task[0]][0]))
            else:
                results = self._check_in_process(tasks)
        finally:
            if pool is not None:
                pool.close()
        for index, name, _, _ in tasks:
            checked = results[index]
            diagnostics.extend(Diagnostic.from_tuple(name, item) for item in checked.diagnostics)
            if self.cache is not None and checked.digest is not None:
                self.cache.put(name, checked.digest, *stats[index], checked.diagnostics)
        if self.cache is not None:
            self.cache.save()
        return sorted(diagnostics, key=Diagnostic.sort_key)

    def _check_in_process(self, tasks: list) -> dict:
        import gc

        from checker.engine import check_file, collect_garbage_between_files, defer_libcst_import

        defer_libcst_import()  # a run whose files all stop at the prefilter never needs it

        results = {}
        enabled = gc.isenabled()
        gc.disable()
        try:
            for index, name, data, codes in tasks:
                results[index] = check_file(name, data, self.rule_set(codes), self.settings)
                collect_garbage_between_files()
        finally:
            if enabled:
                gc.enable()
        return results
