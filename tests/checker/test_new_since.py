"""`tokenbudget check --new-since REF` against a real git repository in tmp_path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

OLD = '''from openai import OpenAI

client = OpenAI()


def old(question):
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": question}])
'''

ADDED = '''

def new(question):
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": question}])
'''


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No global or system config may change the result.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path))


def _git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=project, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def repo(project: Path, write, git_env) -> Path:
    write("app.py", OLD)
    _git(project, "init", "-q")
    _git(project, "add", "app.py")
    _git(project, "commit", "-q", "-m", "old code")
    return project


def _lines(result) -> list[str]:
    return [line for line in result.out.splitlines() if line.strip()]


def test_old_finding_exists_without_new_since(repo: Path, cli) -> None:
    result = cli("check", "--output-format", "concise", "--quiet")
    assert result.code == 1
    assert len(_lines(result)) == 1


def test_only_the_added_call_is_reported(repo: Path, cli) -> None:
    (repo / "app.py").write_text(OLD + ADDED, encoding="utf-8")
    result = cli("check", "--new-since", "HEAD", "--output-format", "json")
    assert result.code == 1
    findings = result.json()
    assert [(f["code"], f["line"]) for f in findings] == [("TB101", 11)]  # the new `return client...` line


def test_unchanged_tree_is_clean(repo: Path, cli) -> None:
    result = cli("check", "--new-since", "HEAD")
    assert result.code == 0, result.out + result.err


def test_untracked_file_is_wholly_new(repo: Path, write, cli) -> None:
    write("fresh.py", OLD)
    result = cli("check", "--new-since", "HEAD", "--output-format", "json")
    assert result.code == 1
    assert [(Path(f["filename"]).name, f["code"]) for f in result.json()] == [("fresh.py", "TB101")]


def test_bad_ref_exits_two_with_message(repo: Path, cli) -> None:
    result = cli("check", "--new-since", "no-such-branch")
    assert result.code == 2
    assert "--new-since no-such-branch: no such commit, branch or tag" in result.err
    assert "Traceback" not in result.err


def test_not_a_repository_exits_two_with_message(project: Path, write, git_env, cli) -> None:
    write("app.py", OLD)
    result = cli("check", "--new-since", "HEAD")
    assert result.code == 2
    assert "is not inside a git repository" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_missing_git_exits_two_with_message(repo: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    result = cli("check", "--new-since", "HEAD")
    assert result.code == 2
    assert "git is not installed" in result.err


def test_paths_in_a_subdirectory_of_the_repository(repo: Path, write, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    write("pkg/mod.py", OLD)
    _git(repo, "add", "pkg/mod.py")
    _git(repo, "commit", "-q", "-m", "pkg")
    (repo / "pkg" / "mod.py").write_text(OLD + ADDED, encoding="utf-8")
    monkeypatch.chdir(repo / "pkg")
    result = cli("check", "--new-since", "HEAD", "--output-format", "json", "mod.py")
    assert [(Path(f["filename"]).name, f["line"]) for f in result.json()] == [("mod.py", 11)]


def test_fix_with_new_since_is_a_usage_error(repo: Path, cli) -> None:
    result = cli("check", "--new-since", "HEAD", "--fix")
    assert result.code == 2
    assert "--new-since cannot be combined with --fix" in result.err
