from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from checker.cli import main


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)

    def findings(self) -> set[tuple[str, int, str]]:
        """(file, line, code) of every diagnostic in the default text output."""
        found = set()
        for line in self.out.splitlines():
            match = re.match(r"(.+?):(\d+):\d+: (TB\d{3}) ", line)
            if match:
                found.add((match.group(1), int(match.group(2)), match.group(3)))
        return found


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory that is the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write(project: Path) -> Callable[[str, str], Path]:
    def _write(relative: str, text: str) -> Path:
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def cli(project: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    def _run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return _run
