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
