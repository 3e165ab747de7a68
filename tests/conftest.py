"""Shared by every test of the project."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    # In the project's own CI, GitHub sets GITHUB_STEP_SUMMARY and CI: the many inner pytest runs of
    # the plugin's tests must not each append a "Token budget" section to the real summary, and
    # baseline updates (refused under CI) must behave as on a laptop unless a test sets CI itself.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("CI", raising=False)



_OWN_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    # The plugin keeps rank copies and remembered counts in the user's cache folder. The suite's
    # many inner pytest runs (in-process and subprocess, which inherit the environment) and the
    # test modules that count at collection must not fill or read a developer's real cache: one
    # folder for the run, set before collection; xdist workers inherit it from the controller.
    import os
    import tempfile

    from pytest_tokenbudget._rank_cache import CACHE_DIR_ENV

    if CACHE_DIR_ENV not in os.environ:
        os.environ[CACHE_DIR_ENV] = tempfile.mkdtemp(prefix="tokenbudget-test-cache-")
        _OWN_CACHE.append(os.environ[CACHE_DIR_ENV])


def pytest_unconfigure(config: pytest.Config) -> None:
    import os
    import shutil

    from pytest_tokenbudget._rank_cache import CACHE_DIR_ENV

    for folder in _OWN_CACHE:
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get(CACHE_DIR_ENV) == folder:
            del os.environ[CACHE_DIR_ENV]
    _OWN_CACHE.clear()
