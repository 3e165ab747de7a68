"""`tokenbudget check` on llm_mistakes/: every line marked with a rule is reported, through the
app's own wrappers, and nothing else is."""

import json
import re
from pathlib import Path

from checker.cli import main

APP = Path(__file__).resolve().parent.parent / "llm_mistakes"


def _marked() -> set[tuple[str, int, str]]:
    marked = set()
    for path in sorted(APP.glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for code in re.findall(r"# (TB\d{3})", line):
                marked.add((path.name, number, code))
    return marked


def test_the_checker_finds_each_marked_mistake(capsys, monkeypatch):
    monkeypatch.chdir(APP.parent)
    assert main(["check", "--no-cache", "--output-format", "json", "llm_mistakes"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert {(Path(d["filename"]).name, d["line"], d["code"]) for d in found} == _marked()
    through = [d["message"] for d in found if "llm.py:" in d["message"] and not d["filename"].endswith("llm.py")]
    assert len(through) == 7  # the callers' findings name the wrapper and where it sends
