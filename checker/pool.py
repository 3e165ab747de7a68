"""Check files in worker processes, one file at a time per worker, surviving worker death.

``concurrent.futures`` loses track of which task killed a worker; here each worker holds exactly
one file, so a segfault, ``os._exit`` or a hang becomes a TB000 diagnostic for *that* file, the
worker is replaced, and the run goes on.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Optional

from checker.engine import Checked
from checker.settings import RuleSettings

# (index, display name, file bytes or None for "read it in the worker", rule codes)
Task = tuple[int, str, Optional[bytes], frozenset]
Result = tuple[Any, ...]  # diagnostics as Diagnostic.to_tuple()


def _crash(message: str) -> Checked:
    return Checked(None, (("TB000", message, 1, 1, 1, 1, "error", None),))


def _worker_main(connection: Connection, settings: RuleSettings) -> None:
    import gc

    from checker import engine
    from checker.registry import select_rules

    gc.disable()
    rule_sets: dict[frozenset, engine.RuleSet] = {}
    while True:
        try:
            task = connection.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        index, name, data, codes = task
        try:
            rule_set = rule_sets.get(codes)
            if rule_set is None:
                rule_set = rule_sets[codes] = engine.RuleSet(select_rules(codes))
            result = engine.check_file(name, data, rule_set, settings)
        except BaseException as error:  # noqa: BLE001 - one file must not stop the worker
            result = _crash(f"internal error while checking this file ({type(error).__name__}: {error})")
        engine.collect_garbage_between_files()
        connection.send((index, result))


@dataclass
class _Worker:
    process: Any
    connection: Connection
    task: Optional[Task] = None
    started: float = 0.0


def _context() -> Any:
    # fork shares the already imported checker and libcst with the workers (fast start); it is
    # only safe on Linux, where the parent has no threads at this point.
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def check_in_pool(
    tasks: list[Task], settings: RuleSettings, jobs: int, timeout: float = 120.0
) -> dict[int, Checked]:
    """Results by task index. ``timeout``: seconds one file may take before its worker is killed."""
    context = _context()
    pending: deque[Task] = deque(tasks)
    results: dict[int, Checked] = {}

    def spawn() -> _Worker:
        parent, child = context.Pipe()
        process = context.Process(target=_worker_main, args=(child, settings), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def assign(worker: _Worker) -> None:
        if pending:
            worker.task = pending.popleft()
            worker.started = time.monotonic()
            worker.connection.send(worker.task)
        else:
            worker.task = None

    workers = [spawn() for _ in range(max(1, min(jobs, len(tasks))))]
    for worker in workers:
        assign(worker)
    try:
        while any(w.task is not None for w in workers):
            busy = [w for w in workers if w.task is not None]
            ready = wait([w.connection for w in busy] + [w.process.sentinel for w in busy], timeout=1.0)
            for position, worker in enumerate(workers):
                if worker.task is None:
                    continue
                task = worker.task
                received = False
                if worker.connection in ready or worker.connection.poll():
                    try:
                        index, result = worker.connection.recv()
                        results[index] = result
                        received = True
                    except (EOFError, OSError):
                        pass
                if received:
                    assign(worker)
                    continue
                died = not worker.process.is_alive()
                late = time.monotonic() - worker.started > timeout
                if died or late:
                    if late and not died:
                        worker.process.kill()
                    worker.process.join(5)
                    code = worker.process.exitcode
                    reason = (
                        f"checking this file took more than {timeout:.0f}s; it was skipped"
                        if late and not died
                        else f"the checker crashed on this file (worker exit code {code}); it was skipped"
                    )
                    results[task[0]] = _crash(reason)
                    worker.connection.close()
                    replacement = spawn()
                    workers[position] = replacement
                    assign(replacement)
    finally:
        for worker in workers:
            try:
                worker.connection.send(None)
            except (OSError, ValueError):
                pass
        for worker in workers:
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
    return results
