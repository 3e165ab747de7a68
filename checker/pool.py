"""Check files in worker processes: every file gets exactly one result, whatever happens to them.

Each worker answers its files in the order it was sent them, so the oldest unanswered file of a
worker is the one it is working on. A worker can die at any moment (a segfault in a parser, the
OOM killer, ``os._exit``) or hang, and the protocol expects it: a send that finds the worker gone
marks it dead instead of raising, whatever it had already answered is read from its pipe before
anything is blamed, and the files it held go back in the queue.

Blame needs care: a worker killed from outside dies on whatever file it holds. So the file it was
working on is first only *suspected*: it is checked again, alone, in a fresh worker, and reported
as a TB000 diagnostic only if it brings that worker down too. A hang past the timeout is blamed
at once (the worker was alive and still on that file).

A few files are sent ahead so that a worker never waits for the next one (most files take
microseconds: they stop at the text prefilter). Loading libcst costs a worker ~0.35 s, and most
runs have only a few files that get that far: workers start without it, hand such files back, and
those go to one worker allowed to load it (more when they pile up).

Workers are forked when this process has a single thread (the fast start). Forking a process
that runs other threads can leave the child holding a lock that no thread will release (Python
3.12+ warns about it), so a threaded caller (an xdist worker, an app embedding the checker) gets
workers from a fork server instead.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Optional

from checker.engine import Checked
from checker.settings import RuleSettings

# (index, display name, file bytes or None for "read it in the worker", rule codes)
Task = tuple[int, str, Optional[bytes], frozenset]

# Files sent to a worker before it has answered: enough that it never idles waiting for the
# parent, few enough that a replacement worker picks up the rest soon after a crash.
_AHEAD = 8
# Bytes of tasks that may wait in a worker's pipe (Linux pipes hold 64 KiB): tasks normally carry
# a path, and file contents only when the caller has read them already. Past that, a send could
# block while the worker blocks sending us a result.
_PIPE_ROOM = 32 * 1024
# Workers in a row that die before they are ready (before any file can be blamed) after which
# the pool stops starting them and checks what is left in this process.
_START_FAILURES = 3
_READY = "ready"


def _crash(message: str) -> Checked:
    return Checked(None, (("TB000", message, 1, 1, 1, 1, "error", None),))


def _worker_main(connection: Connection, settings: RuleSettings, inherited: list) -> None:
    import gc

    from checker import engine
    from checker.registry import all_rules, select_rules

    for other in inherited:
        # A forked worker holds copies of the parent's ends of its own and its siblings' pipes;
        # closed, so that it sees end-of-file when the parent goes away, however it goes.
        other.close()
    gc.disable()
    engine.allow_libcst(False)
    engine.defer_libcst_import()
    all_rules()  # imported now, while the parent is still listing files
    try:
        connection.send(_READY)  # from here on, a death is the fault of the file being checked
    except (OSError, ValueError):
        return
    rule_sets: dict[frozenset, engine.RuleSet] = {}
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if task is None:
            return
        index, name, data, codes, may_load_libcst = task
        if may_load_libcst:
            engine.allow_libcst(True)
        try:
            rule_set = rule_sets.get(codes)
            if rule_set is None:
                rule_set = rule_sets[codes] = engine.RuleSet(select_rules(codes))
            result = engine.check_file(name, data, rule_set, settings)
        except BaseException as error:  # noqa: BLE001 - one file must not stop the worker
            result = _crash(f"internal error while checking this file ({type(error).__name__}: {error})")
        engine.collect_garbage_between_files()
        try:
            connection.send((index, result))
        except (OSError, ValueError):
            return  # the parent is gone


def _size(task: Task) -> int:
    return 512 + len(task[2] or b"")


@dataclass(eq=False)
class _Worker:
    process: Any
    connection: Connection
    outstanding: deque = field(default_factory=deque)  # Tasks sent, oldest (the current one) first
    started: float = 0.0  # when the current file started: its predecessor's answer arrived
    loads_libcst: bool = False
    ready: bool = False  # started up: its death from now on is blamed on its current file
    alone: bool = False  # checking a suspect file with nothing queued behind it
    broken: bool = False  # a send or a receive found the worker gone


def _threads_in_this_process() -> int:
    try:
        return len(os.listdir("/proc/self/task"))  # counts threads that Python did not start too
    except OSError:
        return threading.active_count()


def _context(start_method: Optional[str] = None) -> Any:
    if start_method is None:
        if not sys.platform.startswith("linux"):
            start_method = "spawn"
        elif _threads_in_this_process() == 1:
            start_method = "fork"
        else:
            start_method = "forkserver"
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload(["checker.engine", "checker.registry"])
    return context


class _Run:
    """The queues of one ``WorkerPool.run``."""

    def __init__(self, tasks: list[Task]) -> None:
        self.pending: deque[Task] = deque(tasks)
        self.needing_libcst: deque[Task] = deque()  # handed back by workers without it
        self.suspects: deque[Task] = deque()  # held by a worker that died: checked again alone
        self.suspected: set[int] = set()
        self.results: dict[int, Checked] = {}


class WorkerPool:
    """Worker processes started before the work is known: each imports the rules while the
    parent is still finding and stat-ing files, instead of the parent importing them first.
    ``timeout``: seconds one file may take before its worker is killed."""

    def __init__(
        self, settings: RuleSettings, jobs: int, timeout: float = 120.0, start_method: Optional[str] = None
    ) -> None:
        self._context = _context(start_method)
        self._settings = settings
        self._timeout = timeout
        self._jobs = max(1, jobs)
        self._workers: list[_Worker] = []
        self._start_error: Optional[str] = None
        self._start_failures = 0
        for _ in range(self._jobs):
            self._start_worker()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start_worker(self) -> Optional[_Worker]:
        try:
            parent, child = self._context.Pipe()
            forked = self._context.get_start_method() == "fork"
            inherited = [parent, *(w.connection for w in self._workers)] if forked else []
            process = self._context.Process(target=_worker_main, args=(child, self._settings, inherited), daemon=True)
            process.start()
        except (OSError, ValueError, RuntimeError) as error:  # no fork, no memory, too many processes
            self._start_error = f"{type(error).__name__}: {error}"
            return None
        child.close()
        worker = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    # --- the protocol: each step expects the worker to be gone at any moment ---

    def _send(self, worker: _Worker, task: Task) -> bool:
        """Send one file; False (and the worker marked broken) when the worker is gone."""
        worker.outstanding.append(task)
        if worker.broken:
            return False
        try:
            worker.connection.send((*task, worker.loads_libcst))
        except (OSError, ValueError):  # BrokenPipeError, ConnectionResetError, a closed handle
            worker.broken = True
            return False
        return True

    def _receive(self, worker: _Worker, run: _Run) -> bool:
        """Take every answer waiting in the worker's pipe; True if there was one."""
        received = False
        while worker.outstanding and not worker.broken:
            try:
                if not worker.connection.poll():
                    break
                message = worker.connection.recv()
            except Exception:  # noqa: BLE001 - EOF, a reset, half a message from a dying worker
                worker.broken = True
                break
            if message == _READY:
                worker.ready = True
                # The files sent ahead are timed from here: a start slowed by a loaded machine
                # is not a file that hangs.
                worker.started = time.monotonic()
                self._start_failures = 0
                continue
            index, result = message
            task = worker.outstanding.popleft()
            if task[0] != index:  # cannot happen while the worker answers in order
                worker.outstanding.appendleft(task)
                worker.broken = True
                break
            if result.needs_libcst:
                run.needing_libcst.append(task)
            else:
                run.results[index] = result
            worker.started = time.monotonic()
            worker.alone = False
            received = True
        return received

    def _assign(self, worker: _Worker, run: _Run) -> None:
        """Keep a worker a few files ahead."""
        if worker.broken or worker.alone:
            return
        if run.suspects:
            if worker.outstanding:
                return  # a suspect goes to a worker with nothing else to blame
            worker.loads_libcst = True  # the suspect must go all the way, wherever it crashed
            worker.alone = True
            worker.started = time.monotonic()
            self._send(worker, run.suspects.popleft())
            return
        if not worker.outstanding:
            worker.started = time.monotonic()
        workers = self._workers
        if run.needing_libcst and not worker.loads_libcst and (
            len(run.needing_libcst) > _AHEAD or not any(w.loads_libcst and not w.broken for w in workers)
        ):
            worker.loads_libcst = True  # the first such file, or more than the others keep up with
        queue = run.needing_libcst if worker.loads_libcst and run.needing_libcst else run.pending
        queued = sum(_size(task) for task in worker.outstanding)
        # Near the end, one at a time: a worker must not sit on queued files while another idles.
        ahead = _AHEAD if len(run.pending) > _AHEAD * len(workers) else 1
        while queue and len(worker.outstanding) < ahead:
            if worker.outstanding and queued + _size(queue[0]) > _PIPE_ROOM:
                break
            task = queue.popleft()
            queued += _size(task)
            if not self._send(worker, task):
                return
            if queue is run.needing_libcst and not run.needing_libcst:
                queue = run.pending

    def _retire(self, worker: _Worker, run: _Run, late: bool) -> None:
        """A worker that died, broke its pipe or hung: read what it answered, settle the file it
        was on, put the others back, and start a replacement."""
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        worker.broken = False
        self._receive(worker, run)  # answers it sent before it died are still in the pipe
        worker.connection.close()
        self._workers.remove(worker)
        if not worker.ready:
            self._start_failures += 1  # it died starting up: no file is to blame
        elif worker.outstanding:
            current = worker.outstanding.popleft()
            if late:
                run.results[current[0]] = _crash(f"checking this file took more than {self._timeout:.0f}s; it was skipped")
            elif worker.alone or current[0] in run.suspected:
                code = worker.process.exitcode
                run.results[current[0]] = _crash(f"the checker crashed on this file (worker exit code {code}); it was skipped")
            else:
                run.suspected.add(current[0])
                run.suspects.append(current)
        run.pending.extendleft(reversed(worker.outstanding))
        if self._start_failures < _START_FAILURES:
            self._start_worker()

    def run(self, tasks: list[Task]) -> dict[int, Checked]:
        """Results by task index: one for every task."""
        run = _Run(tasks)
        while True:
            if not self._workers:
                self._check_here(run)
                break
            for worker in list(self._workers):
                self._assign(worker, run)
            busy = [w for w in self._workers if w.outstanding]
            if not busy:
                break  # nothing was sent, so nothing is waiting
            deadline = min(w.started for w in busy) + self._timeout
            waited = max(0.0, min(1.0, deadline - time.monotonic()))
            live = [w for w in busy if not w.broken]
            if live:
                wait([w.connection for w in live] + [w.process.sentinel for w in live], timeout=waited)
            now = time.monotonic()
            for worker in busy:
                self._receive(worker, run)
                if not worker.outstanding and not worker.broken:
                    continue
                late = bool(worker.outstanding) and now - worker.started > self._timeout
                if worker.broken or late or not worker.process.is_alive():
                    self._retire(worker, run, late and not worker.broken and worker.process.is_alive())
        for index, name, _, _ in tasks:
            if index not in run.results:  # a bug here must not drop a file silently
                run.results[index] = _crash("internal error in the checker's worker pool; this file was not checked")
        return run.results

    def _check_here(self, run: _Run) -> None:
        """What is left when no worker process can be started (no fork, no memory, workers dying
        as they start): checked in this process, so that the run still reports on every file.
        Files that already took a worker down are not tried here: they would take us down too."""
        from checker import engine
        from checker.registry import select_rules

        leftovers = list(run.suspects) + list(run.needing_libcst) + list(run.pending)
        for worker in self._workers:
            leftovers.extend(worker.outstanding)
            worker.outstanding.clear()
        run.suspects.clear()
        run.needing_libcst.clear()
        run.pending.clear()
        cause = self._start_error or "worker processes died as they started"
        rule_sets: dict[frozenset, engine.RuleSet] = {}
        for index, name, data, codes in leftovers:
            if index in run.suspected:
                message = f"the checker crashed on this file and no worker was left to retry it ({cause}); it was skipped"
                run.results[index] = _crash(message)
                continue
            try:
                if codes not in rule_sets:
                    rule_sets[codes] = engine.RuleSet(select_rules(codes))
                run.results[index] = engine.check_file(name, data, rule_sets[codes], self._settings)
            except Exception as error:  # noqa: BLE001 - one file must not stop the run
                run.results[index] = _crash(f"internal error while checking this file ({type(error).__name__}: {error})")

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
            worker.connection.close()
        self._workers = []


def check_in_pool(
    tasks: list[Task], settings: RuleSettings, jobs: int, timeout: float = 120.0, start_method: Optional[str] = None
) -> dict[int, Checked]:
    """Results by task index, from a pool started for these tasks."""
    with WorkerPool(settings, min(jobs, len(tasks)), timeout, start_method) as pool:
        return pool.run(tasks)
