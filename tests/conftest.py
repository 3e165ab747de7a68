"""Shared by every test of the project."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_github_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    # In the project's own CI, GitHub sets GITHUB_STEP_SUMMARY: the many inner pytest runs of the
    # plugin's tests must not each append a "Token budget" section to the real summary.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
