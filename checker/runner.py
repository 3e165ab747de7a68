"""One ``tokenbudget check`` run: files -> cache -> prefilter -> (pool | in process) -> diagnostics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from checker.cache import Checked, ResultCache, digest
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
            self._cache_key = config.fingerprint() + repr(sorted(enabled))
            self.cache = ResultCache(directory, self._cache_key)

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
        import dataclasses

        from checker.engine import check_bytes
        from checker.summaries import SummaryStore

        # An editor's buffer: the project's wrappers as the last run's cache knows them.
        directory = self.config.cache_dir or (self.config.root / ".tokenbudget_cache")
        table = SummaryStore(directory, self._root).sinks(skip=[str(filename)])
        self.settings = dataclasses.replace(self.settings, sinks=table)
        return check_bytes(data, self.display_name(filename), self.rule_set(self.codes_for(filename)), self.settings)

    def check_files(self, paths: "list[Path] | list[str]") -> list[Diagnostic]:
        """Check ``paths`` in two phases: the project's LLM wrappers (``checker.summaries``) are
        known from the summaries cached for the project's files; files whose new summaries change
        that table are summarised as they are checked, and the files calling the changed wrappers
        are checked again (a few rounds at most, one per hop)."""
        import dataclasses

        from checker.summaries import SummaryStore

        import gc

        # Loading the caches builds many small tuples; a run keeps them all, so the cyclic
        # collector scanning them again and again frees nothing (checking files collects
        # between files itself).
        collecting = gc.isenabled()
        gc.disable()
        names = [self.display_name(path) for path in paths]
        self._pool, self._live = None, None
        try:
            store = SummaryStore(self.cache.directory if self.cache is not None else None, self._root)
            table = store.sinks(skip=set(names))
            settings = dataclasses.replace(self.settings, sinks=table)
            return self._check_rounds(names, store, table, settings)
        finally:
            if collecting:
                gc.enable()
            if self._pool is not None:
                self._pool.close()
            if self._live is not None:
                try:
                    os.unlink(self._live.path)
                except OSError:
                    pass

    def _check_rounds(self, names: list[str], store, table, settings) -> list[Diagnostic]:
        import dataclasses

        from checker.summaries import MAX_HOPS, file_module, reachable_sinks

        results, diagnostics, stats = self._check_round(names, settings, self._results_cache(table))
        store.update(results, names, stats)
        for _ in range(2 * MAX_HOPS):
            new_table = store.sinks()
            if new_table.digest == table.digest:
                break
            # Again: the files that reach other modules' sinks which differ from those they were
            # checked with (their own sinks were counted while they were checked).
            again = []
            for name in names:
                reached = reachable_sinks(store.imports(name), name, new_table, self._root)
                if reached != reachable_sinks(store.imports(name), name, table, self._root) \
                        and _may_call_any(name, reached):
                    again.append(name)
            # And the files whose own classes gained sinks from other modules' (inherited
            # methods, attributes typed by a project class): they were checked without them.
            own_before, own_after = _own_sinks(table), _own_sinks(new_table)
            if own_before != own_after:
                chosen = set(again)
                for name in names:
                    module, _ = file_module(name, self._root)
                    if name not in chosen and own_before.get(module) != own_after.get(module) \
                            and store.calls_new_sinks(name, table, new_table):
                        again.append(name)
            # And the files not summarised yet that call a new sink method by name: their
            # classes may be the next hop (`self.llm.aask(...)` in a base class).
            methods = new_table.method_names - table.method_names
            if methods:
                chosen = set(again)
                for name in names:
                    if name not in chosen and not store.summarized(name) and _mentions(name, new_table, methods):
                        again.append(name)
            table = new_table
            settings = dataclasses.replace(self.settings, sinks=table)
            if not again:
                break
            redone, _, _ = self._check_round(again, settings, None)
            positions = {name: index for index, name in enumerate(names)}
            for index, result in redone.items():
                results[positions[again[index]]] = result
            store.update(results, names, stats)
        cache = self._results_cache(table)
        final: list[Diagnostic] = list(diagnostics)
        for index, name in enumerate(names):
            result = results.get(index)
            if result is None:
                continue
            final.extend(Diagnostic.from_tuple(name, item) for item in result.diagnostics)
            if cache is not None and result.digest is not None and index in stats:
                cache.put(name, result.digest, *stats[index], result.diagnostics)
        if cache is not None:
            cache.save()
        store.save()
        self.settings = settings  # with the project's sinks, for the fixes that follow
        return sorted(final, key=Diagnostic.sort_key)

    def _results_cache(self, table) -> Optional[ResultCache]:
        """The results cache for this sink table: a wrapper changing changes its callers'
        results, so each table has its own (the common case, no change, reuses it)."""
        if self.cache is None:
            return None
        key = self._cache_key + ("sinks:" + table.digest if table.digest else "")
        if self.cache.key_material != key:
            self.cache = ResultCache(self.cache.directory, key)
        return self.cache

    def _check_round(self, names: list[str], settings, cache: Optional[ResultCache]):
        """({index: Checked} of the files checked or found in ``cache``, diagnostics of files that
        cannot be read, {index: (size, mtime)})."""
        diagnostics: list[Diagnostic] = []
        tasks = []
        stats: dict[int, tuple[int, int]] = {}
        results: dict[int, Checked] = {}
        pool = self._pool
        if pool is not None and self._live is not None:
            self._live.publish(settings.sinks)  # the workers of the last round read it from here
        # This loop runs for every file of a warm run, which it should leave in tens of ms.
        entries = cache.entries if cache is not None else {}
        for index, name in enumerate(names):
            try:
                stat = os.stat(name)
            except OSError as error:
                from checker.engine import parse_error

                diagnostics.append(parse_error(name, f"cannot read file: {error.strerror or error}"))
                continue
            size, mtime_ns = stats[index] = (stat.st_size, stat.st_mtime_ns)
            data = None
            if name in entries:
                cached = cache.get_by_stat(name, size, mtime_ns)
                content_digest = None
                if cached is None:
                    # Touched but perhaps unchanged (a checkout, a formatter): the content decides.
                    try:
                        with open(name, "rb") as handle:
                            data = handle.read()
                    except OSError:
                        data = None  # the worker reports it
                    else:
                        content_digest = digest(data)
                        cached = cache.get(name, content_digest)
                if cached is not None:
                    results[index] = Checked(content_digest or entries[name][0], cached)
                    continue
            if pool is None and len(tasks) + 1 >= _POOL_THRESHOLD and self.jobs > 1:
                import dataclasses
                import tempfile

                from checker.pool import WorkerPool
                from checker.summaries import LiveSinks

                # Started once enough files are to be checked, so that the workers' start-up
                # overlaps the rest of this loop, while a warm run, or a re-run after a few
                # edits, starts none. They read the sink table from a file, so that the next
                # rounds can use them too.
                handle, path = tempfile.mkstemp(prefix="tokenbudget-sinks-")
                os.close(handle)
                self._live = LiveSinks(path)
                self._live.publish(settings.sinks)
                pool = self._pool = WorkerPool(dataclasses.replace(settings, sinks=self._live), self.jobs)
            tasks.append((index, name, data, self.codes_for(name)))

        # Reading, the text prefilter and parsing all run in the workers: most files stop at
        # the prefilter, so one process doing it for all would leave the other cores idle.
        if pool is not None and tasks:
            # Largest first: the files that take longest to parse then do not end up alone
            # on one worker at the end of the run while the other waits.
            results.update(pool.run(sorted(tasks, key=lambda task: -stats[task[0]][0])))
        elif tasks:
            results.update(self._check_in_process(tasks, settings))
        return results, diagnostics, stats

    def _check_in_process(self, tasks: list, settings=None) -> dict:
        import gc

        from checker.engine import check_file, collect_garbage_between_files, defer_libcst_import

        defer_libcst_import()  # a run whose files all stop at the prefilter never needs it

        results = {}
        enabled = gc.isenabled()
        gc.disable()
        try:
            for index, name, data, codes in tasks:
                results[index] = check_file(name, data, self.rule_set(codes), settings or self.settings)
                collect_garbage_between_files()
        finally:
            if enabled:
                gc.enable()
        return results


def _own_sinks(table) -> dict:
    """Module -> the sinks its classes get from other modules' classes (checker.summaries)."""
    found: dict = {}
    for name in getattr(table, "aliases", ()):
        sink = table.sinks[name]
        found.setdefault(sink.module, set()).add(sink)
    return {module: frozenset(sinks) for module, sinks in found.items()}


def _mentions(name: str, table, methods) -> bool:
    try:
        with open(name, "rb") as handle:
            return table.mentions_methods(handle.read(), methods)
    except OSError:
        return False


def _may_call_any(name: str, sinks) -> bool:
    """Whether the file's text calls or reads one of ``sinks`` by name (``ask(``, ``.aask``):
    a module that only re-exports a wrapper (``__init__.py``) is not checked again for it."""
    try:
        with open(name, "rb") as handle:
            data = handle.read()
    except OSError:
        return True
    for sink in sinks:
        short = sink.qualname.rsplit(".", 1)[-1].encode()
        is_method = sink.qualname.count(".") > sink.module.count(".") + 1
        if (b"." + short + b"(" in data) if is_method else (short + b"(" in data or b"." + short in data):
            return True
    return False
