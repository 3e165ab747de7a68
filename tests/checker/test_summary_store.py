"""The summary store (checker.summaries.SummaryStore) as a cache: what it keeps between runs, and
what makes it build or summarise again. A run in which no summary changed loads the sink table
it saved; a changed wrapper, another version of the checker, or a changed base-class module
each make the part that depends on them again."""

from __future__ import annotations

import re

import pytest

import checker.cache
import checker.summaries as summaries

WRAPPER = """
    import openai

    client = openai.OpenAI()


    def ask(prompt, **kwargs):
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}], **kwargs)
"""
# the wrapper now caps the output itself
CAPPED_WRAPPER = WRAPPER.replace("**kwargs)\n", "max_tokens=300, **kwargs)\n")
CALLER = """
    from app.llm import ask


    def summarize(text):
        return ask("Summarize:\\n" + text)
"""
# A module summarised only because a class of a sending module inherits from it; it defines no
# function or class of its own, so it gives no summary.
BASE_ALIAS = """
    Base = object
"""
SENDER_WITH_BASE = """
    import openai

    from app.base_alias import Base


    class Bot(Base):
        def reply(self, prompt):
            return openai.OpenAI().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
"""


@pytest.fixture
def app(write) -> None:
    write("app/__init__.py", "")
    write("app/llm.py", WRAPPER)
    write("app/chat.py", CALLER)
    write("app/base_alias.py", BASE_ALIAS)
    write("app/bot.py", SENDER_WITH_BASE)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Which files the store summarises and how often it builds the sink table."""
    seen: dict[str, list] = {"refreshed": [], "built": []}
    refresh, build = summaries.SummaryStore._refresh, summaries.build_sinks

    def spying_refresh(self, key, stat, always=False):
        seen["refreshed"].append(key.replace("\\", "/").rsplit("/app/", 1)[-1])
        return refresh(self, key, stat, always)

    def spying_build(*args, **kwargs):
        seen["built"].append(True)
        return build(*args, **kwargs)

    monkeypatch.setattr(summaries.SummaryStore, "_refresh", spying_refresh)
    monkeypatch.setattr(summaries, "build_sinks", spying_build)
    return seen


def _codes(output: str) -> list[tuple[int, str]]:
    return [(int(m.group(1)), m.group(2)) for m in re.finditer(r"chat\.py:(\d+):\d+: (TB\d{3})", output)]


def test_an_unchanged_project_loads_the_saved_sink_table(app, cli, spy) -> None:
    first = cli("check", "--output-format", "concise", "--select", "TB101", ".")
    assert _codes(first.out) == [(5, "TB101")], first.out  # no cap, and the wrapper forwards none
    assert spy["built"]
    spy["built"].clear()
    one = cli("check", "--output-format", "concise", "--select", "TB101", "app/chat.py")
    assert _codes(one.out) == [(5, "TB101")], one.out
    assert spy["built"] == []  # nothing changed: the table came from the store


def test_a_changed_wrapper_rebuilds_the_table_for_a_one_file_run(app, write, cli, spy) -> None:
    cli("check", "--select", "TB101", ".")
    write("app/llm.py", CAPPED_WRAPPER)
    spy["built"].clear()
    one = cli("check", "--output-format", "concise", "--select", "TB101", "app/chat.py")
    assert _codes(one.out) == [], one.out
    assert spy["built"] and "llm.py" in spy["refreshed"]


def test_another_checker_version_summarises_every_file_again(app, cli, spy, monkeypatch) -> None:
    cli("check", "--select", "TB101", ".")
    spy["refreshed"].clear()
    monkeypatch.setattr(checker.cache, "code_signature", lambda: "another version of the checker")
    one = cli("check", "--output-format", "concise", "--select", "TB101", "app/chat.py")
    assert _codes(one.out) == [(5, "TB101")], one.out
    # the summaries the store held, made from the files again rather than trusted
    assert {"llm.py", "bot.py"} <= set(spy["refreshed"]), spy["refreshed"]


def test_a_base_module_without_summary_is_parsed_again_only_when_it_changes(app, write, cli, spy) -> None:
    cli("check", "--select", "TB101", ".")
    assert "base_alias.py" in spy["refreshed"]  # looked at for Bot's base class: no summary
    spy["refreshed"].clear()
    cli("check", "--select", "TB101", "app/chat.py")
    assert "base_alias.py" not in spy["refreshed"]
    write("app/base_alias.py", BASE_ALIAS + "\nOther = object\n")
    cli("check", "--select", "TB101", "app/chat.py")
    assert spy["refreshed"].count("base_alias.py") == 1
