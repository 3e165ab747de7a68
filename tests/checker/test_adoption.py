"""Adopting the checker on an existing codebase: `--add-noqa`, TB001 (unused noqa), TB101's fix
value, and fixes that keep the call's layout (checked with the real `ruff format`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import call_shapes
import pytest

from checker.engine import fix_source
from checker.registry import select_rules
from checker.settings import RuleSettings

LEGACY = '''\
from openai import OpenAI

client = OpenAI()


def ask(question):
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": question}])  # legacy


def ask_long(question):
    return client.chat.completions.create(  # noqa: E501
        model="gpt-4o",
        messages=[{"role": "user", "content": question}],
    )


def ask_with_prompt(question):
    return client.chat.completions.create(model="gpt-4o", prompt="""
        a prompt""", messages=[])


def estimate_tokens(text):
    return len(text) / 4
'''


def _codes(result) -> list[tuple[int, str]]:
    return sorted((d["line"], d["code"]) for d in result.json())


def test_add_noqa_suppresses_every_finding_and_keeps_the_lines(write, cli) -> None:
    path = write("app.py", LEGACY)
    assert cli("check", "--output-format", "json").code == 1
    result = cli("check", "--add-noqa")
    assert result.code == 0
    assert "Added 4 noqa directives." in result.err
    text = path.read_text()
    assert 'question}])  # legacy  # noqa: TB101\n' in text  # after the comment already there
    assert "create(  # noqa: E501, TB101\n" in text  # merged into the existing directive
    assert 'a prompt""", messages=[])  # noqa: TB101\n' in text  # the first line ends inside a string
    assert "len(text) / 4  # noqa: TB201\n" in text
    assert [line for line in text.splitlines() if line != line.rstrip()] == []
    # Nothing else changed: removing the added directives gives the file back.
    restored = text.replace("  # noqa: TB101", "").replace("  # noqa: TB201", "").replace(", TB101", "")
    assert restored == LEGACY
    # Day one: CI is green, and a second run has nothing to add.
    assert cli("check").code == 0
    assert "Added 0 noqa directives." in cli("check", "--add-noqa").err
    assert path.read_text() == text


def test_add_noqa_drops_stale_codes_of_a_directive_it_merges_into(write, cli) -> None:
    # As ruff's --add-noqa: a directive that gains a code loses the codes that suppress nothing
    # (TB001's), keeping other tools' codes and the explanation; other directives are left to TB001.
    path = write("app.py", '''\
        from openai import OpenAI


        def estimate_tokens(text):
            return len(text) / 4  # noqa: E501, TB101, TB999
        OpenAI().chat.completions.create(model="gpt-4o", messages=[])  # noqa: TB203 - old SDK
        OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=9)  # noqa: TB101
    ''')
    assert "Added 2 noqa directives." in cli("check", "--add-noqa").err
    assert path.read_text().splitlines()[4:] == [
        "    return len(text) / 4  # noqa: E501, TB201",
        'OpenAI().chat.completions.create(model="gpt-4o", messages=[])  # old SDK  # noqa: TB101',
        'OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=9)  # noqa: TB101',
    ]
    assert _codes(cli("check", "--output-format", "json")) == [(7, "TB001")]


def test_add_noqa_keeps_crlf_and_the_encoding_cookie(project, cli) -> None:
    path = project / "app.py"
    source = "# -*- coding: latin-1 -*-\r\nfrom openai import OpenAI\r\nname = 'caf\xe9'\r\nOpenAI().chat.completions.create(model='m', messages=[])\r\n"
    path.write_bytes(source.encode("latin-1"))
    assert cli("check", "--add-noqa").code == 0
    assert path.read_bytes() == source.replace("[])\r\n", "[])  # noqa: TB101\r\n").encode("latin-1")
    assert cli("check").code == 0


def test_add_noqa_rejects_fix_and_stdin(write, cli) -> None:
    write("app.py", LEGACY)
    for extra in (["--fix"], ["--diff"], ["--stdin-filename", "app.py"]):
        result = cli("check", "--add-noqa", *extra)
        assert result.code == 2
        assert "--add-noqa cannot be combined" in result.err


def test_add_noqa_with_new_since_only_touches_new_lines(project, write, cli, monkeypatch) -> None:
    import os

    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    path = write("app.py", LEGACY)
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "app.py"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "old"], cwd=project, check=True)
    path.write_text(LEGACY + "\n\ndef count_tokens(text):\n    return len(text) // 4\n")
    assert "Added 1 noqa directive." in cli("check", "--add-noqa", "--new-since", "HEAD").err
    assert path.read_text().endswith("return len(text) // 4  # noqa: TB201\n")
    assert "# noqa: TB101" not in path.read_text()


def test_unused_noqa_is_reported_and_fixed(write, cli) -> None:
    path = write("app.py", '''\
        from openai import OpenAI

        client = OpenAI()
        client.chat.completions.create(model="gpt-4o", messages=[], max_tokens=300)  # noqa: TB101
        client.chat.completions.create(model="gpt-4o", messages=[])  # noqa: TB101
        client.chat.completions.create(model="gpt-4o", messages=[], max_tokens=9)  # noqa: E501, TB101, TB203
        client.chat.completions.create(model="gpt-4o", messages=[], max_tokens=9)  # retried below  # noqa: TB101
        x = 1  # noqa: TB999 - old code
        y = 2  # noqa: F401
    ''')
    result = cli("check", "--output-format", "json")
    found = [(d["line"], d["code"], d["message"]) for d in result.json()]
    assert [(line, code) for line, code, _ in found] == [(4, "TB001"), (6, "TB001"), (7, "TB001"), (8, "TB001")]
    assert "unused: TB101, TB203" in found[1][2]
    assert "unknown: TB999" in found[3][2]
    assert cli("check", "--fix").code == 0
    assert path.read_text().splitlines()[3:] == [
        'client.chat.completions.create(model="gpt-4o", messages=[], max_tokens=300)',
        'client.chat.completions.create(model="gpt-4o", messages=[])  # noqa: TB101',
        'client.chat.completions.create(model="gpt-4o", messages=[], max_tokens=9)  # noqa: E501',
        'client.chat.completions.create(model="gpt-4o", messages=[], max_tokens=9)  # retried below',
        "x = 1  # old code",
        "y = 2  # noqa: F401",
    ]


def test_unused_noqa_leaves_codes_of_rules_not_selected_for_the_file(write, cli) -> None:
    write("pyproject.toml", '[tool.tokenbudget.check]\nper-file-ignores = {"legacy/*" = ["TB201"]}\n')
    write("legacy/a.py", "def f(text):\n    return len(text) // 4  # noqa: TB201\n")
    write("b.py", "def f(text):\n    return 1  # noqa: TB201\n")
    write("c.py", "def f(text):\n    return 1  # noqa: TB201\n")
    found = cli("check", "--output-format", "json").json()
    assert sorted((Path(d["filename"]).name, d["code"]) for d in found) == [("b.py", "TB001"), ("c.py", "TB001")]
    assert cli("check", "--ignore", "TB201", "--output-format", "json").json() == []
    # A directive that suppresses TB001 itself is respected, and never judged.
    write("b.py", "def f(text):\n    return 1  # noqa: TB201, TB001\n")
    assert [Path(d["filename"]).name for d in cli("check", "--output-format", "json").json()] == ["c.py"]


def test_fix_cap_comes_from_config_within_the_model_maximum(write, cli) -> None:
    write("pyproject.toml", "[tool.tokenbudget.check]\ndefault-max-tokens = 20000\n")
    path = write("app.py", '''\
        from openai import OpenAI
        import anthropic

        OpenAI().chat.completions.create(model="gpt-4o", messages=[])
        anthropic.Anthropic().messages.create(model="claude-3-5-haiku-20241022", messages=[])


        def ask(model):
            return OpenAI().chat.completions.create(model=model, messages=[])
    ''')
    assert cli("check", "--fix").code == 0
    text = path.read_text()
    from pytest_tokenbudget import get_model

    assert f"max_completion_tokens={get_model('gpt-4o').max_output_tokens}" in text
    assert f"max_tokens={get_model('claude-3-5-haiku-20241022').max_output_tokens}" in text
    assert "max_completion_tokens=20000" in text  # the model is not a literal: the configured value
    assert cli("check").code == 0  # and TB102 agrees with every inserted cap


# -- layouts -------------------------------------------------------------------------------------

HEADER = "from openai import OpenAI\n\nclient = OpenAI()\n\n\n"

LAYOUTS = [
    # one line that still fits stays one line
    ('x = client.chat.completions.create(model=M, messages=m)\n',
     'x = client.chat.completions.create(model=M, messages=m, max_completion_tokens=1024)\n'),
    # one argument per line, trailing comma, comments on other arguments: a fresh line, nothing copied
    ('x = client.chat.completions.create(\n'
     '    model="gpt-3.5-turbo-16k",  # This model\'s maximum context length is 16385 tokens.\n'
     '    messages=m,  # the history\n'
     ')\n',
     'x = client.chat.completions.create(\n'
     '    model="gpt-3.5-turbo-16k",  # This model\'s maximum context length is 16385 tokens.\n'
     '    messages=m,  # the history\n'
     '    max_completion_tokens=1024,\n'
     ')\n'),
    # no trailing comma: none added, the parenthesis stays on its own line, the comment on its line
    ('x = client.chat.completions.create(\n'
     '    model="gpt-4o",\n'
     '    messages=m  # the history\n'
     ')\n',
     'x = client.chat.completions.create(\n'
     '    model="gpt-4o",\n'
     '    messages=m,  # the history\n'
     '    max_completion_tokens=1024\n'
     ')\n'),
    # visual indentation, parenthesis after the last argument
    ('x = client.chat.completions.create(model="gpt-4o",\n'
     '                                   messages=m)\n',
     'x = client.chat.completions.create(model="gpt-4o",\n'
     '                                   messages=m,\n'
     '                                   max_completion_tokens=1024)\n'),
    # arguments together on one indented line, still fitting
    ('def f(m):\n'
     '    return client.chat.completions.create(\n'
     '        model="gpt-4o", messages=m\n'
     '    )\n',
     'def f(m):\n'
     '    return client.chat.completions.create(\n'
     '        model="gpt-4o", messages=m, max_completion_tokens=1024\n'
     '    )\n'),
    # ... and no longer fitting: one per line, with a trailing comma (as ruff format does)
    ('def f(m):\n'
     '    return client.chat.completions.create(\n'
     '        model="gpt-4o", messages=m, temperature=0.7, top_p=0.9, presence_penalty=0.1\n'
     '    )\n',
     'def f(m):\n'
     '    return client.chat.completions.create(\n'
     '        model="gpt-4o",\n'
     '        messages=m,\n'
     '        temperature=0.7,\n'
     '        top_p=0.9,\n'
     '        presence_penalty=0.1,\n'
     '        max_completion_tokens=1024,\n'
     '    )\n'),
    # a one-line call that outgrows the line: split
    ('def f(m):\n'
     '    return client.chat.completions.create(model="gpt-4o", messages=m, temperature=0.25)\n',
     'def f(m):\n'
     '    return client.chat.completions.create(\n'
     '        model="gpt-4o", messages=m, temperature=0.25, max_completion_tokens=1024\n'
     '    )\n'),
    # ... unless the project's lines are longer already
    ('def f(m):\n'
     '    return client.chat.completions.create(model="gpt-4o", messages=m, temperature=0.25, n=1, seed=7)\n',
     'def f(m):\n'
     '    return client.chat.completions.create(model="gpt-4o", messages=m, temperature=0.25, n=1, seed=7, '
     'max_completion_tokens=1024)\n'),
    # passed to another call: the outer call is split first, then the inner one if still too long
    ('def f(m):\n'
     '    log("asking about an order", client.chat.completions.create(model=M, messages=m))\n',
     'def f(m):\n'
     '    log(\n'
     '        "asking about an order",\n'
     '        client.chat.completions.create(model=M, messages=m, max_completion_tokens=1024),\n'
     '    )\n'),
    ('def f(m):\n'
     '    log("asking", client.chat.completions.create(model="gpt-3.5-turbo-16k", messages=m))\n',
     'def f(m):\n'
     '    log(\n'
     '        "asking",\n'
     '        client.chat.completions.create(\n'
     '            model="gpt-3.5-turbo-16k", messages=m, max_completion_tokens=1024\n'
     '        ),\n'
     '    )\n'),
    # followed by a chain of accesses: parenthesized, one access per line (ruff's fluent style)
    ('def f(m):\n'
     '    return client.responses.create(model=M, input=m).choices[0].message.content\n',
     'def f(m):\n'
     '    return (\n'
     '        client.responses.create(model=M, input=m, max_output_tokens=1024)\n'
     '        .choices[0]\n'
     '        .message.content\n'
     '    )\n'),
    # ... in the parentheses ruff had added already (a comment after them stays), at any depth
    ('def f(m):\n'
     '    return (  # the first choice\n'
     '        client.responses.create(model=MODEL, input=msgs, n=1).choices[0].message.content\n'
     '    )\n',
     'def f(m):\n'
     '    return (  # the first choice\n'
     '        client.responses.create(model=MODEL, input=msgs, n=1, max_output_tokens=1024)\n'
     '        .choices[0]\n'
     '        .message.content\n'
     '    )\n'),
    ('class Bot:\n'
     '    def ask(self, m):\n'
     '        if m:\n'
     '            answer = (\n'
     '                client.responses.create(model=M, input=m).choices[0].message.content\n'
     '            )\n',
     'class Bot:\n'
     '    def ask(self, m):\n'
     '        if m:\n'
     '            answer = (\n'
     '                client.responses.create(model=M, input=m, max_output_tokens=1024)\n'
     '                .choices[0]\n'
     '                .message.content\n'
     '            )\n'),
    # a blank line and a commented-out argument before the parenthesis stay where they are
    ('x = client.chat.completions.create(\n'
     '    model="gpt-4o",\n'
     '    messages=m,\n'
     '    # temperature=0,\n'
     ')\n',
     'x = client.chat.completions.create(\n'
     '    model="gpt-4o",\n'
     '    messages=m,\n'
     '    # temperature=0,\n'
     '    max_completion_tokens=1024,\n'
     ')\n'),
]


@pytest.mark.parametrize(("before", "after"), LAYOUTS, ids=[f"layout-{i}" for i in range(len(LAYOUTS))])
def test_fix_keeps_the_call_layout(before: str, after: str) -> None:
    fixed, applied, _ = fix_source(HEADER + before, "app.py", select_rules(["TB101"]), RuleSettings())
    assert applied == 1
    assert fixed == HEADER + after


def test_fix_follows_the_project_line_length(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 120\n")
    source = HEADER + 'def f(m):\n    return client.chat.completions.create(model="gpt-4o", messages=m, temperature=0.25)\n'
    fixed, _, _ = fix_source(source, "app.py", select_rules(["TB101"]), RuleSettings(project_root=tmp_path))
    assert fixed.endswith("temperature=0.25, max_completion_tokens=1024)\n")


# -- generated call shapes, formatted with the real ruff first -------------------------------------

def test_fix_leaves_formatter_clean_files_formatter_clean(tmp_path: Path) -> None:
    ruff = call_shapes.ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (it is in the test extra)")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    call_shapes.write_formatted(corpus, call_shapes.sources(
        call_shapes.MODELS[::2], call_shapes.MESSAGES[::2], call_shapes.EXTRAS[:3]), ruff)
    assert subprocess.run([ruff, "format", "--check", "-q", "--isolated", str(corpus)]).returncode == 0

    rules = select_rules(["TB101"])
    settings = RuleSettings(project_root=corpus)
    layouts = set()
    for path in sorted(corpus.glob("*.py")):
        before = path.read_text()
        after, applied, _ = fix_source(before, str(path), rules, settings)
        assert applied == 1, path.name
        compile(after, path.name, "exec")
        assert fix_source(after, str(path), rules, settings)[0] == after, f"{path.name}: not idempotent"
        assert [line for line in after.splitlines() if line != line.rstrip()] == [], f"{path.name}: trailing whitespace"
        assert call_shapes.comments(after) == call_shapes.comments(before), f"{path.name}: a comment moved or was copied"
        layouts.add(("\n    " in before.split("(", 2)[-1], before.count("\n") - after.count("\n")))
        path.write_text(after)
    assert len(layouts) >= 3  # one-line, split and one-per-line calls were all exercised
    check = subprocess.run([ruff, "format", "--check", "--isolated", str(corpus)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_fixes_count_lines_as_the_parser_does_with_form_feeds(project, cli) -> None:
    # str.splitlines() also breaks at a form feed, even inside a string: edits placed by it
    # landed on the wrong line and corrupted the file.
    path = project / "app.py"
    path.write_text('from openai import OpenAI\n\x0c\nx = "a\x0cb"\n'
                    'OpenAI().chat.completions.create(model=M, messages=[])  # noqa: TB999\n')
    assert cli("check", "--fix").code == 0
    assert path.read_text() == ('from openai import OpenAI\n\x0c\nx = "a\x0cb"\n'
                                'OpenAI().chat.completions.create(model=M, messages=[], max_completion_tokens=1024)\n')
    path.write_text('from openai import OpenAI\nx = "a\x0cb"\nOpenAI().chat.completions.create(model=M, messages=[])\n')
    assert cli("check", "--add-noqa").code == 0
    assert path.read_text().endswith("messages=[])  # noqa: TB101\n")
