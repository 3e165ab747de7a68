"""What the shared example runner cannot see for the heuristic rules (TB2xx-TB5xx): that each
INVALID example survives the trigger prefilter (the runner skips it), whole-file runs through
the CLI, options read from pyproject.toml, and project-declared models."""

from __future__ import annotations

import textwrap

import pytest

from checker.engine import RuleSet, check_source
from checker.registry import all_rules
from checker.rule import Invalid
from checker.settings import rule_settings_from_mapping

HEURISTIC = {code: rule for code, rule in all_rules().items() if code[2] in "2345"}


def _invalid_examples():
    for code, rule in HEURISTIC.items():
        for number, example in enumerate(rule.INVALID):
            text = example.code if isinstance(example, Invalid) else example
            yield pytest.param(rule, textwrap.dedent(text), id=f"{code}-invalid-{number}")


def test_every_heuristic_rule_is_registered() -> None:
    assert sorted(HEURISTIC) == ["TB201", "TB202", "TB203", "TB301", "TB302", "TB401", "TB501", "TB502", "TB503"]


@pytest.mark.parametrize(("rule", "code"), list(_invalid_examples()))
def test_invalid_example_passes_the_prefilter(rule, code) -> None:
    # A trigger too narrow would make the rule silently skip the very code it is written for.
    assert RuleSet([rule]).applicable(code.encode()) == [rule]


CHAT_APP = '''
import time

import tiktoken
from openai import OpenAI
from tenacity import retry, stop_after_attempt

client = OpenAI(max_retries=30)
enc = tiktoken.get_encoding("cl100k_base")
MODEL = "gpt-4o"
MAX_CONTEXT_TOKENS = 8192


def estimate_tokens(text):
    return len(text) // 4


def fits(prompt):
    return len(prompt) < MAX_CONTEXT_TOKENS


def exact(prompt):
    return len(enc.encode(prompt))


@retry(stop=stop_after_attempt(5))
def summarize(document):
    excerpt = document[:12000]
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": excerpt}], max_tokens=500)


def chat():
    messages = [{"role": "system", "content": "You are helpful."}]
    while True:
        messages.append({"role": "user", "content": input("> ")})
        for attempt in range(3):
            try:
                reply = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=500)
                break
            except Exception:
                time.sleep(2 ** attempt)
        messages.append({"role": "assistant", "content": reply.choices[0].message.content})
'''


def test_cli_reports_each_mistake_of_a_small_chat_app_once(write, cli) -> None:
    write("app.py", CHAT_APP)
    result = cli("check", "--select", "TB2,TB3,TB4,TB5", "--output-format", "json", "--no-cache")
    assert result.code == 1
    found = sorted((d["code"], d["line"]) for d in result.json())
    assert found == [
        ("TB201", 14),  # len(text) // 4
        ("TB202", 18),  # len(prompt) < MAX_CONTEXT_TOKENS
        ("TB203", 27),  # document[:12000] sent to the model
        ("TB301", 25),  # tenacity @retry without a retry= filter
        ("TB301", 40),  # except Exception in the retry loop
        ("TB302", 7),  # max_retries=30
        ("TB401", 38),  # messages grows each turn and is sent whole
        ("TB501", 8),  # cl100k_base in a gpt-4o module
        ("TB502", 22),  # enc.encode(prompt) without disallowed_special
        ("TB503", 10),  # 8192 for gpt-4o
    ]


def test_noqa_silences_one_heuristic_finding(write, cli) -> None:
    write("app.py", "def estimate_tokens(text):\n    return len(text) // 4  # noqa: TB201\n")
    assert cli("check", "--select", "TB201", "--no-cache").code == 0


def test_max_sdk_retries_option_sets_the_threshold() -> None:
    code = "from openai import OpenAI\nclient = OpenAI(max_retries=8)\n"
    rule = HEURISTIC["TB302"]
    assert [d.code for d in check_source(code, "a.py", [rule], rule_settings_from_mapping({}))] == ["TB302"]
    relaxed = rule_settings_from_mapping({"max-sdk-retries": 8})
    assert check_source(code, "a.py", [rule], relaxed) == []


@pytest.mark.parametrize("bad", ["many", -1, 2.5, True])
def test_bad_max_sdk_retries_option_is_a_clear_error(bad) -> None:
    code = "from openai import OpenAI\nclient = OpenAI(max_retries=8)\n"
    settings = rule_settings_from_mapping({"max-sdk-retries": bad})
    diagnostics = check_source(code, "a.py", [HEURISTIC["TB302"]], settings)
    assert len(diagnostics) == 1
    assert "max-sdk-retries must be a whole number >= 0" in diagnostics[0].message
    assert repr(bad) in diagnostics[0].message


def test_model_declared_in_pyproject_is_checked(write, cli) -> None:
    write(
        "pyproject.toml",
        '''
        [tool.tokenbudget.models."acme-chat"]
        extends = "gpt-4o-mini"
        context_window = 32768
        ''',
    )
    write("app.py", 'MODEL = "acme-chat"\nMAX_CONTEXT_TOKENS = 128000\n')
    result = cli("check", "--select", "TB503", "--output-format", "json", "--no-cache")
    diagnostics = result.json()
    assert [(d["code"], d["line"]) for d in diagnostics] == [("TB503", 2)]
    assert "acme-chat's context window (32,768" in diagnostics[0]["message"]


def test_unknown_models_are_left_alone(write, cli) -> None:
    write("app.py", 'import tiktoken\nenc = tiktoken.get_encoding("cl100k_base")\nMODEL = "acme-chat"\n'
                    "MAX_CONTEXT_TOKENS = 128000\n")
    assert cli("check", "--select", "TB501,TB503", "--no-cache").code == 0


def test_max_sdk_retries_from_pyproject_reaches_the_rule(write, cli) -> None:
    write("app.py", "from openai import OpenAI\nclient = OpenAI(max_retries=8)\n")
    assert cli("check", "--select", "TB302", "--no-cache").code == 1
    write("pyproject.toml", "[tool.tokenbudget.check]\nmax-sdk-retries = 8\n")
    assert cli("check", "--select", "TB302", "--no-cache").code == 0
    write("pyproject.toml", '[tool.tokenbudget.check]\nmax-sdk-retries = "many"\n')
    bad = cli("check", "--select", "TB302", "--no-cache")
    assert bad.code == 2 and "max-sdk-retries: expected a whole number >= 0" in bad.err
