"""Adopting `tokenbudget check` on an existing codebase, replayed on a copy of
adopting/legacy_assistant.py in a fresh git repository: `--add-noqa` makes CI green on day one,
`--new-since` holds new code to the rules, and TB001 removes a suppression once its finding is fixed."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from checker.cli import main

ADOPTED = Path(__file__).resolve().parent.parent / "adopting" / "legacy_assistant.py"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
                   cwd=repo, check=True, capture_output=True)


def _check(capsys, *args: str) -> tuple[int, list[dict], str]:
    capsys.readouterr()
    code = main(["check", "--no-cache", "--output-format", "json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else [], captured.err


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.chdir(tmp_path)
    before = re.sub(r"  # noqa: TB\d{3}", "", ADOPTED.read_text(encoding="utf-8"))
    (tmp_path / "assistant.py").write_text(before, encoding="utf-8")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "assistant.py")
    _git(tmp_path, "commit", "-q", "-m", "years of LLM code")
    return tmp_path


def test_adopting_the_checker(repo, capsys):
    code, found, _ = _check(capsys)
    assert code == 1 and sorted(d["code"] for d in found) == ["TB101", "TB101", "TB201"]

    # Day one: suppress what is there; the result is the committed example, line for line.
    code, _, err = _check(capsys, "--add-noqa")
    assert code == 0 and "Added 3 noqa directives." in err
    assert (repo / "assistant.py").read_text(encoding="utf-8") == ADOPTED.read_text(encoding="utf-8")
    assert _check(capsys)[0] == 0
    _git(repo, "commit", "-q", "-am", "adopt tokenbudget check")

    # A pull request adds one uncapped call: the gate reports it, and only it.
    source = (repo / "assistant.py").read_text(encoding="utf-8")
    source += '\n\ndef translate(text: str) -> str:\n    return openai_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}]).choices[0].message.content\n'
    (repo / "assistant.py").write_text(source, encoding="utf-8")
    code, found, _ = _check(capsys, "--new-since", "HEAD")
    assert code == 1
    assert [(d["code"], d["line"]) for d in found] == [("TB101", source.count("\n"))]

    # Someone fixes an old call: its suppression is stale, TB001 says so and --fix removes it.
    source = source.replace('messages=[{"role": "user", "content": text}])  # noqa: TB101',
                            'messages=[{"role": "user", "content": text}], max_tokens=300)  # noqa: TB101')
    (repo / "assistant.py").write_text(source, encoding="utf-8")
    code, found, _ = _check(capsys)
    stale = [d for d in found if d["code"] == "TB001"]
    assert len(stale) == 1 and "unused: TB101" in stale[0]["message"]
    # --fix removes it (and caps the new call); the file is then clean with nothing suppressed wrongly.
    assert _check(capsys, "--fix")[0] == 0
    fixed = (repo / "assistant.py").read_text(encoding="utf-8")
    assert "max_tokens=300)\n" in fixed and "max_completion_tokens=1024)" in fixed
    assert fixed.count("# noqa") == 2
