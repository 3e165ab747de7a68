"""Calls through the app's own LLM wrappers, across modules (checker.summaries)."""

from __future__ import annotations

import re

import pytest

LLM = """
import openai

client = openai.OpenAI()
MODEL = "gpt-4o-mini"


def ask(messages, **kwargs):
    return client.chat.completions.create(model=MODEL, messages=messages, **kwargs)


def complete(prompt, max_tokens=400):
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens
    )


class Assistant:
    def __init__(self, system):
        self.system = system
        self.client = openai.OpenAI()

    def aask(self, prompt):
        return self.client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "system", "content": self.system}, {"role": "user", "content": prompt}],
            max_tokens=800,
        )
"""

CHAT = """
import tenacity

from app.llm import Assistant, ask, complete

history = []


def turn(user_text):
    history.append({"role": "user", "content": user_text})
    reply = ask(history, max_tokens=500)  # TB401
    history.append({"role": "assistant", "content": reply.choices[0].message.content})
    return reply


def quick(question):
    return ask([{"role": "user", "content": question}])  # TB101


@tenacity.retry(stop=tenacity.stop_after_attempt(5))  # TB301
def summarize(doc):
    return complete("Summarize:\\n" + doc)


def review(code):
    for attempt in range(5):
        try:
            return Assistant("...").aask("Review this:\\n" + code)
        except Exception:  # TB301
            continue
"""

CLEAN_CHAT = """
import openai
import tenacity

from app.llm import Assistant, ask, complete

history = []


def turn(user_text):
    history.append({"role": "user", "content": user_text})
    del history[:-20]
    reply = ask(history, max_tokens=500)
    history.append({"role": "assistant", "content": reply.choices[0].message.content})
    return reply


def quick(question):
    return ask([{"role": "user", "content": question}], max_tokens=300)


@tenacity.retry(retry=tenacity.retry_if_exception_type(openai.RateLimitError), stop=tenacity.stop_after_attempt(5))
def summarize(doc):
    return complete("Summarize:\\n" + doc)


def review(code):
    for attempt in range(5):
        try:
            return Assistant("...").aask("Review this:\\n" + code)
        except openai.RateLimitError:
            continue
"""


def _marked(source: str) -> set[tuple[int, str]]:
    """(line, code) of every `# TBnnn` comment in the dedented source as written to disk."""
    import textwrap

    lines = textwrap.dedent(source).lstrip("\n").splitlines()
    return {(number, code) for number, line in enumerate(lines, 1) for code in re.findall(r"# (TB\d{3})", line)}


@pytest.fixture
def two_modules(write):
    write("app/__init__.py", "")
    write("app/llm.py", LLM)
    write("app/chat.py", CHAT)


def test_each_marked_finding_is_reported_through_the_wrappers(two_modules, cli) -> None:
    result = cli("check", "--output-format", "concise", "--no-cache", ".")
    assert result.code == 1
    assert result.findings() == {("app/chat.py", line, code) for line, code in _marked(CHAT)}
    assert "ask() in app/llm.py:8" in result.out  # which wrapper, and where it sends
    assert "TB101 [*] ask() in app/llm.py:8 sends an OpenAI chat completion" in result.out
    assert "through Assistant.aask() in app/llm.py:23" in result.out
    assert "through complete() in app/llm.py:12" in result.out


def test_clean_variants_get_no_finding(write, cli) -> None:
    write("app/__init__.py", "")
    write("app/llm.py", LLM)
    write("app/chat.py", CLEAN_CHAT)
    result = cli("check", "--output-format", "concise", "--no-cache", ".")
    assert result.code == 0, result.out


def test_one_file_run_uses_the_cached_summaries_of_the_rest(two_modules, cli) -> None:
    cli("check", ".")  # as a full run leaves the cache
    result = cli("check", "--output-format", "concise", "app/chat.py")
    assert result.findings() == {("app/chat.py", line, code) for line, code in _marked(CHAT)}
    # without any cache, a lone caller cannot know what the wrappers do: it stays silent
    assert cli("check", "--no-cache", "app/chat.py").code == 0


def test_a_changed_wrapper_changes_its_callers_findings_on_the_next_run(two_modules, write, cli) -> None:
    assert ("app/chat.py", 16, "TB101") in cli("check", "--output-format", "concise", ".").findings()
    write("app/llm.py", LLM.replace("messages=messages, **kwargs)", "messages=messages, max_tokens=256, **kwargs)"))
    assert ("app/chat.py", 16, "TB101") not in cli("check", "--output-format", "concise", ".").findings()


def test_fix_passes_the_cap_through_the_wrapper(two_modules, project, cli) -> None:
    cli("check", "--fix", "--select", "TB101", ".")
    assert 'return ask([{"role": "user", "content": question}], max_tokens=1024)' in (project / "app/chat.py").read_text()
    assert cli("check", "--select", "TB101", ".").code == 0


def test_module_aliases_relative_imports_instances_and_hops(write, cli) -> None:
    write("src/bot/__init__.py", "")
    write("src/bot/llm.py", LLM)
    write("src/bot/helpers.py", """
        from . import llm

        ask_model = llm.ask


        def gpt_call(prompt, **params):
            return ask_model([{"role": "user", "content": prompt}], **params)
    """)
    write("src/bot/agent.py", """
        import src.bot.helpers as helpers
        from .llm import Assistant


        class Agent:
            def __init__(self):
                self.assistant = Assistant("You review code.")

            def run(self, diff):
                while True:
                    try:
                        return self.assistant.aask(diff)
                    except Exception:  # TB301
                        pass


        def label(text):
            return helpers.gpt_call(text)  # TB101
    """)
    result = cli("check", "--output-format", "concise", "--no-cache", ".")
    found = result.findings()
    assert ("src/bot/agent.py", 13, "TB301") in found
    assert ("src/bot/agent.py", 18, "TB101") in found
    assert "ask() in src/bot/llm.py:8" in result.out
    assert not any(name != "src/bot/agent.py" for name, _, _ in found), result.out


def test_summaries_know_parameters_caps_models_and_retries() -> None:
    import ast
    import textwrap

    from checker.summaries import build_sinks, summarize_tree

    source = textwrap.dedent("""
        import openai
        import tenacity
        client = openai.OpenAI()

        @tenacity.retry
        def chat(system, history, **kw):
            return client.chat.completions.create(model="gpt-4o", messages=[system, *history], **kw)

        def capped(text, limit=100):
            return chat({"role": "system", "content": "x"}, [text], max_tokens=limit)

        def uncapped(text):
            return client.chat.completions.create(model="gpt-4o", messages=[text])

        def unrelated(path):
            return open(path).read()
    """)
    table = build_sinks({"pkg.mod": ("pkg/mod.py", False, summarize_tree(ast.parse(source)))})
    chat, capped, uncapped = (table.sinks[f"pkg.mod.{n}"] for n in ("chat", "capped", "uncapped"))
    assert (chat.content, chat.cap, chat.cap_param, chat.model, chat.retries) == (
        ("history", "system"), "forwards", "kw", "gpt-4o", True)
    assert (capped.content, capped.cap, capped.display) == (("text",), "set", "chat() in pkg/mod.py:8")
    assert uncapped.cap == "none"
    assert "pkg.mod.unrelated" not in table.sinks
    assert table.lookup("<module>.chat", "pkg.mod") is chat
    assert table.lookup("..mod.chat", "pkg.sub.other") is chat


def test_the_second_round_in_worker_processes_sees_the_new_wrappers(two_modules, write, cli) -> None:
    # enough files for a worker pool: the callers are checked again by the same workers, which
    # read the sink table the first round produced
    for number in range(6):
        write(f"app/filler_{number}.py", f"VALUE = {number}\n")
    result = cli("check", "--output-format", "concise", "--no-cache", "--jobs", "2", ".")
    assert result.findings() == {("app/chat.py", line, code) for line, code in _marked(CHAT)}


SAME_FILE_CALLERS = """

def quick(question):
    return ask([{"role": "user", "content": question}])  # TB101


def review(code):
    while True:
        try:
            return Assistant("...").aask(code)
        except Exception:  # TB301
            pass


def capped(question):
    return ask([{"role": "user", "content": question}], max_tokens=100)
"""


def test_a_files_own_wrappers_count_in_the_same_run(write, cli) -> None:
    write("bot.py", LLM + SAME_FILE_CALLERS)
    found = cli("check", "--output-format", "concise", "--no-cache", "bot.py").findings()
    assert {(line, code) for _, line, code in found} == _marked(LLM + SAME_FILE_CALLERS)
