"""Check files in worker processes, surviving worker death.

``concurrent.futures`` loses track of which task killed a worker; here each worker checks its
files in the order it was sent them and answers each one, so the oldest unanswered file of a
worker is the one it is working on: a segfault, ``os._exit`` or a hang becomes a TB000
diagnostic for *that* file, the worker is replaced, its other files go back in the queue, and
the run goes on. A few files are sent ahead so that a worker never waits for the next one (most
files take microseconds: they stop at the text prefilter).

Loading libcst costs a worker ~0.35 s, and most runs have only a few files that get that far:
workers start without it, hand such files back, and they go to one worker allowed to load it
(more when the files needing it pile up).
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Optional

from checker.engine import Checked
from checker.settings import RuleSettings

# (index, display name, file bytes or None for "read it in the worker", rule codes)
Task = tuple[int, str, Optional[bytes], frozenset]


def _crash(message: str) -> Checked:
    return Checked(None, (("TB000", message, 1, 1, 1, 1, "error", None),))


def _worker_main(connection: Connection, settings: RuleSettings) -> None:
    import gc

    from checker import engine
    from checker.registry import all_rules, select_rules

    gc.disable()
    engine.allow_libcst(False)
    engine.defer_libcst_import()
    all_rules()  # imported now, while the parent is still listing files
    rule_sets: dict[frozenset, engine.RuleSet] = {}
    while True:
        try:
            task = connection.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        index, name, data, codes = task[:4]
        if len(task) > 4 and task[4]:  # the pool lets this worker load libcst from now on
            engine.allow_libcst(True)
        try:
            rule_set = rule_sets.get(codes)
            if rule_set is None:
                rule_set = rule_sets[codes] = engine.RuleSet(select_rules(codes))
            result = engine.check_file(name, data, rule_set, settings)
        except BaseException as error:  # noqa: BLE001 - one file must not stop the worker
            result = _crash(f"internal error while checking this file ({type(error).__name__}: {error})")
        engine.collect_garbage_between_files()
        connection.send((index, result))


# Files sent to a worker before it has answered: enough that it never idles waiting for the
# parent, few enough that a replacement worker picks up the rest soon after a crash.
_AHEAD = 8
# Bytes of tasks that may wait in a worker's pipe (Linux pipes hold 64 KiB): tasks normally carry
# a path, and file contents only when the caller has read them already.
_PIPE_ROOM = 32 * 1024


def _size(task: Task) -> int:
    return 512 + len(task[2] or b"")


@dataclass
class _Worker:
    process: Any
    connection: Connection
    outstanding: deque = field(default_factory=deque)  # Tasks sent, oldest (the current one) first
    started: float = 0.0  # when the current file started: its predecessor's answer arrived
    loads_libcst: bool = False


def _context() -> Any:
    # fork is the fast start (no new interpreter); it is only safe on Linux, where the parent
    # has no threads at this point.
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class WorkerPool:
    """Worker processes started before the work is known: each imports the rules while the
    parent is still finding and stat-ing files, instead of the parent importing them first.
    ``timeout``: seconds one file may take before its worker is killed."""

    def __init__(self, settings: RuleSettings, jobs: int, timeout: float = 120.0) -> None:
        self._context = _context()
        self._settings = settings
        self._timeout = timeout
        self._workers = [self._spawn() for _ in range(max(1, jobs))]

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child, self._settings), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def run(self, tasks: list[Task]) -> dict[int, Checked]:
        """Results by task index."""
        pending: deque[Task] = deque(tasks)
        needing_libcst: deque[Task] = deque()  # handed back by workers without it
        results: dict[int, Checked] = {}
        workers = self._workers

        def assign(worker: _Worker) -> None:
            if not worker.outstanding:
                worker.started = time.monotonic()
            if needing_libcst and not worker.loads_libcst and (
                len(needing_libcst) > _AHEAD or not any(w.loads_libcst for w in workers)
            ):
                worker.loads_libcst = True  # the first such file, or more than the others keep up with
            queue = needing_libcst if worker.loads_libcst and needing_libcst else pending
            queued = sum(_size(task) for task in worker.outstanding)
            # Near the end, one at a time: a worker must not sit on queued files while another idles.
            ahead = _AHEAD if len(pending) > _AHEAD * len(workers) else 1
            while queue and len(worker.outstanding) < ahead:
                if worker.outstanding and queued + _size(queue[0]) > _PIPE_ROOM:
                    break  # a full pipe would block us while the worker blocks sending us a result
                task = queue.popleft()
                queued += _size(task)
                worker.outstanding.append(task)
                worker.connection.send((*task, worker.loads_libcst))
                if queue is needing_libcst and not needing_libcst:
                    queue = pending

        for worker in workers:
            assign(worker)
        while any(w.outstanding for w in workers) or needing_libcst:
            busy = [w for w in workers if w.outstanding]
            ready = wait([w.connection for w in busy] + [w.process.sentinel for w in busy], timeout=1.0)
            for position, worker in enumerate(workers):
                received = False
                signalled = worker.connection in ready
                while worker.outstanding and (signalled or worker.connection.poll()):
                    signalled = False
                    try:
                        index, result = worker.connection.recv()
                    except (EOFError, OSError):
                        break
                    task = worker.outstanding.popleft()
                    if result.needs_libcst:
                        needing_libcst.append(task)
                    else:
                        results[index] = result
                    worker.started = time.monotonic()
                    received = True
                if received:
                    assign(worker)
                    continue
                if not worker.outstanding:
                    continue
                died = not worker.process.is_alive()
                late = time.monotonic() - worker.started > self._timeout
                if died or late:
                    if late and not died:
                        worker.process.kill()
                    worker.process.join(5)
                    code = worker.process.exitcode
                    reason = (
                        f"checking this file took more than {self._timeout:.0f}s; it was skipped"
                        if late and not died
                        else f"the checker crashed on this file (worker exit code {code}); it was skipped"
                    )
                    culprit = worker.outstanding.popleft()
                    results[culprit[0]] = _crash(reason)
                    pending.extendleft(reversed(worker.outstanding))
                    worker.connection.close()
                    replacement = self._spawn()
                    workers[position] = replacement
                    assign(replacement)
            for worker in workers:
                if not worker.outstanding:
                    assign(worker)  # an idle worker may take files handed back by another
        return results

    def close(self) -> None:
        for worker in self._workers:
            try:
                worker.connection.send(None)
            except (OSError, ValueError):
                pass
        for worker in self._workers:
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()


def check_in_pool(
    tasks: list[Task], settings: RuleSettings, jobs: int, timeout: float = 120.0
) -> dict[int, Checked]:
    """Results by task index, from a pool started for these tasks."""
    with WorkerPool(settings, min(jobs, len(tasks)), timeout) as pool:
        return pool.run(tasks)
