"""Workers killed from outside at random moments of the pool's protocol (before a file is sent,
while it is being checked, with answers waiting in the pipe, as they start): every file still
gets exactly one result. ``bench/pool_stress.py`` runs the same over hundreds of seeds."""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
import warnings

import pytest

from checker.pool import WorkerPool, _context, _Worker
from checker.settings import RuleSettings

UNCAPPED = b"from openai import OpenAI\nOpenAI().chat.completions.create(model='gpt-4o', messages=[])\n"
PLAIN = b"x = 1\n"
CODES = frozenset({"TB000", "TB101", "TB102"})

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills forked workers through /proc")


def _kill(worker) -> None:
    try:
        os.kill(worker.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class RandomlyKilledPool(WorkerPool):
    """SIGKILLs a worker (as the OOM killer does) at the protocol's points, chosen at random."""

    def __init__(self, rng: random.Random, rate: float, kills: int, **options) -> None:
        self.rng, self.rate, self.kills_left = rng, rate, kills
        self.kills = 0
        super().__init__(RuleSettings(), **options)

    def _maybe_kill(self, worker) -> None:
        if self.kills_left and self.rng.random() < self.rate:
            self.kills_left -= 1
            self.kills += 1
            _kill(worker)

    def _start_worker(self):
        worker = super()._start_worker()
        if worker is not None:
            self._maybe_kill(worker)  # before it is ready
        return worker

    def _send(self, worker, task) -> bool:
        self._maybe_kill(worker)  # before the file reaches it
        sent = super()._send(worker, task)
        self._maybe_kill(worker)  # while it checks the file, or the ones before it
        return sent

    def _receive(self, worker, run) -> bool:
        self._maybe_kill(worker)  # with answers already waiting in its pipe
        return super()._receive(worker, run)


def _files(rng: random.Random, files: int) -> list:
    return [(index, f"f{index}.py", UNCAPPED if rng.random() < 0.2 else PLAIN, CODES) for index in range(files)]


def _assert_one_result_each(seed: int, tasks: list, results: dict, kills: int) -> None:
    assert sorted(results) == list(range(len(tasks))), f"seed {seed}: files without a result"
    blamed = []
    for index, _, data, _ in tasks:
        found = [diagnostic[0] for diagnostic in results[index].diagnostics]
        if found == ["TB000"]:
            assert "crashed" in results[index].diagnostics[0][1], f"seed {seed}: {results[index]}"
            blamed.append(index)
        else:
            assert found == (["TB101"] if data == UNCAPPED else []), f"seed {seed}, file {index}: {results[index]}"
    # A file is blamed only when it took down a worker that held nothing else: two deaths each.
    assert len(blamed) <= kills // 2, f"seed {seed}: {len(blamed)} files blamed for {kills} kills"


def stress_at_protocol_points(seed: int, files: int = 200, rate: float = 0.02, kills: int = 12) -> None:
    rng = random.Random(seed)
    tasks = _files(rng, files)
    with RandomlyKilledPool(rng, rate, kills, jobs=2, timeout=30) as pool:
        results = pool.run(list(tasks))
    _assert_one_result_each(seed, tasks, results, pool.kills)


def stress_at_random_times(seed: int, files: int = 400, kills: int = 8) -> None:
    """A thread kills a random worker every few milliseconds, wherever the pool is."""
    rng = random.Random(seed)
    tasks = _files(rng, files)
    done = threading.Event()
    killed = []

    def killer(pool: WorkerPool) -> None:
        while len(killed) < kills and not done.wait(rng.uniform(0.002, 0.02)):
            workers = list(pool._workers)
            if workers:
                victim = rng.choice(workers)
                _kill(victim)
                killed.append(victim.process.pid)

    with WorkerPool(RuleSettings(), jobs=2, timeout=30) as pool:
        thread = threading.Thread(target=killer, args=(pool,))
        thread.start()
        try:
            results = pool.run(list(tasks))
        finally:
            done.set()
            thread.join()
    _assert_one_result_each(seed, tasks, results, len(killed))


@pytest.mark.parametrize("seed", range(6))
def test_every_file_gets_one_result_while_workers_are_killed(seed: int) -> None:
    stress_at_protocol_points(seed)


@pytest.mark.parametrize("seed", range(3))
def test_every_file_gets_one_result_while_workers_are_killed_at_random_times(seed: int) -> None:
    stress_at_random_times(seed)


def test_workers_that_die_as_they_start_leave_the_files_to_this_process() -> None:
    class DyingAtStart(WorkerPool):
        # Killing a real worker right after start() races its "ready" (a loaded machine lets it
        # answer first, and then its death is rightly blamed on its file): these processes can
        # never get ready, so each one dies starting up, as the test means.
        def _start_worker(self):
            parent, child = self._context.Pipe()
            process = self._context.Process(target=time.sleep, args=(60,), daemon=True)
            process.start()
            child.close()
            worker = _Worker(process, parent)
            self._workers.append(worker)
            _kill(worker)
            return worker

    tasks = [(index, f"f{index}.py", UNCAPPED, CODES) for index in range(20)]
    with DyingAtStart(RuleSettings(), jobs=2) as pool:
        results = pool.run(tasks)
    assert [results[index].diagnostics[0][0] for index in range(20)] == ["TB101"] * 20


def test_no_worker_can_be_started_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, *args, **kwargs):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(_context().Process, "start", refuse)
    tasks = [(index, f"f{index}.py", UNCAPPED, CODES) for index in range(5)]
    with WorkerPool(RuleSettings(), jobs=2) as pool:
        results = pool.run(tasks)
    assert [results[index].diagnostics[0][0] for index in range(5)] == ["TB101"] * 5


def test_a_threaded_caller_gets_no_fork_warning_and_the_same_results() -> None:
    # Forking while another thread runs can leave the child holding a lock nobody releases;
    # Python 3.12+ warns. A caller with threads (an xdist worker, a web app) gets a fork server.
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert _context().get_start_method() == "forkserver"
        tasks = [(index, f"f{index}.py", UNCAPPED if index % 3 else PLAIN, CODES) for index in range(30)]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with WorkerPool(RuleSettings(), jobs=2) as pool:
                results = pool.run(tasks)
    finally:
        stop.set()
        thread.join()
    assert [bool(results[i].diagnostics) for i in range(30)] == [bool(i % 3) for i in range(30)]
