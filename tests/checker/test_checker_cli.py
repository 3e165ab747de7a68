"""`tokenbudget check` / `rule` end to end on small projects (real files, real libcst)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

UNCAPPED = '''
from openai import OpenAI

client = OpenAI()


def ask(question):
    return client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": question}],
    )
'''

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


def test_clean_project_exits_zero(write, cli) -> None:
    write("app.py", "from openai import OpenAI\nOpenAI().chat.completions.create(model='gpt-4o', messages=[], max_tokens=5)\n")
    result = cli("check")
    assert result.code == 0
    assert "All checks passed!" in result.out


def test_findings_exit_one_and_exit_zero(write, cli) -> None:
    write("app.py", UNCAPPED)
    result = cli("check", "--output-format", "concise")
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        "app.py:7:12: TB101 [*] OpenAI chat completion without an output cap: pass `max_completion_tokens`"
    )
    assert "Found 1 error." in result.out
    assert cli("check", "--exit-zero").code == 0


def test_text_format_shows_source_and_help(write, cli) -> None:
    write("app.py", UNCAPPED)
    out = cli("check").out
    assert "7 |     return client.chat.completions.create(" in out
    assert "help: Add `max_completion_tokens=1024`" in out


def test_json_format_fields_and_fix(write, cli, project) -> None:
    write("app.py", UNCAPPED)
    result = cli("check", "--output-format", "json")
    assert result.code == 1
    [item] = result.json()
    assert item["code"] == "TB101"
    assert Path(item["filename"]) == project / "app.py"
    assert (item["line"], item["column"], item["end_line"], item["end_column"]) == (7, 12, 10, 6)
    assert item["fix"]["applicability"] == "safe"
    [edit] = item["fix"]["edits"]
    assert edit["content"] == "    max_completion_tokens=1024,\n    "


def test_github_format(write, cli) -> None:
    write("app.py", UNCAPPED)
    out = cli("check", "--output-format", "github").out
    assert out.startswith("::warning title=tokenbudget (TB101),file=app.py,line=7,col=12,endLine=10,endColumn=6::")


def test_sarif_validates_against_the_2_1_0_schema(write, cli) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    write("app.py", UNCAPPED + "\nclient.chat.completions.create(model='gpt-4o', messages=[], max_tokens=99999)\n")
    write("broken.py", "import openai\nx = (\nopenai.OpenAI().chat.completions.create(\n")
    result = cli("check", "--output-format", "sarif")
    document = json.loads(result.out)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(document)
    run = document["runs"][0]
    assert {r["ruleId"] for r in run["results"]} == {"TB000", "TB101", "TB102"}
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for result_item in run["results"]:
        assert rule_ids[result_item["ruleIndex"]] == result_item["ruleId"]
        assert result_item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] in {"app.py", "broken.py"}


def test_junit_format(write, cli) -> None:
    write("app.py", UNCAPPED)
    root = ElementTree.fromstring(cli("check", "--output-format", "junit").out)
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("name") == "org.tokenbudget.TB101"
    assert case.find("failure") is not None


def test_statistics(write, cli) -> None:
    write("a.py", UNCAPPED)
    write("b.py", UNCAPPED)
    out = cli("check", "--statistics").out
    assert out.strip() == "2\tTB101\t[*] missing-output-cap"


def test_select_ignore_by_code_and_prefix(write, cli) -> None:
    write("app.py", UNCAPPED + "\nclient.chat.completions.create(model='gpt-4o', messages=[], max_tokens=99999)\n")
    codes = lambda *args: sorted({d["code"] for d in cli("check", "--output-format", "json", *args).json()})  # noqa: E731
    assert codes("--select", "TB1") == ["TB101", "TB102"]
    assert codes("--select", "TB101") == ["TB101"]
    assert codes("--select", "TB1", "--ignore", "TB101") == ["TB102"]
    assert codes("--select", "TB101", "--extend-select", "TB102") == ["TB101", "TB102"]


def test_unknown_selector_is_a_usage_error(write, cli) -> None:
    write("app.py", UNCAPPED)
    result = cli("check", "--select", "TB999")
    assert result.code == 2
    assert "TB999" in result.err and "tokenbudget rule --all" in result.err


def test_pyproject_config(write, cli) -> None:
    write("pyproject.toml", """
        [tool.tokenbudget.check]
        ignore = ["TB102"]
        default-max-tokens = 256
        per-file-ignores = { "tests/**" = ["TB1"] }
        extend-exclude = ["generated"]
    """)
    body = UNCAPPED + "\nclient.chat.completions.create(model='gpt-4o', messages=[], max_tokens=99999)\n"
    write("src/app.py", body)
    write("tests/test_app.py", body)
    write("generated/client.py", body)
    result = cli("check", "--output-format", "json")
    found = result.json()
    assert [(Path(d["filename"]).name, d["code"]) for d in found] == [("app.py", "TB101")]
    assert found[0]["fix"]["edits"][0]["content"].strip() == "max_completion_tokens=256,"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('selct = ["TB1"]', "unknown key; did you mean 'select'?"),
        ("select = \"TB1\"", "select: expected a list of strings"),
        ("default-max-tokens = -3", "default-max-tokens: expected a positive integer"),
        ('select = ["XX1"]', "'XX1' is not a rule code or prefix"),
        ("strict = 1", "strict: expected true or false"),
    ],
)
def test_bad_config_exits_two_naming_file_and_key(write, cli, table: str, expected: str) -> None:
    write("pyproject.toml", f"[tool.tokenbudget.check]\n{table}\n")
    write("app.py", UNCAPPED)
    result = cli("check")
    assert result.code == 2
    assert "pyproject.toml" in result.err and "[tool.tokenbudget.check]" in result.err
    assert expected in result.err
    assert "Traceback" not in result.err


def test_invalid_toml_exits_two(write, cli) -> None:
    write("pyproject.toml", "[tool.tokenbudget.check\nselect = [\n")
    result = cli("check")
    assert result.code == 2 and "invalid TOML" in result.err


def test_gitignore_and_default_excludes(write, cli) -> None:
    write(".gitignore", "ignored/\n*_gen.py\n!keep_gen.py\n")
    write("ignored/a.py", UNCAPPED)
    write("x_gen.py", UNCAPPED)
    write("keep_gen.py", UNCAPPED)
    write(".venv/lib/b.py", UNCAPPED)
    write("sub/.gitignore", "local.py\n")
    write("sub/local.py", UNCAPPED)
    write("sub/other.py", UNCAPPED)
    names = sorted(Path(d["filename"]).relative_to(Path.cwd()).as_posix() for d in cli("check", "--output-format", "json").json())
    assert names == ["keep_gen.py", "sub/other.py"]
    everything = cli("check", "--output-format", "json", "--no-respect-gitignore").json()
    assert len(everything) == 5  # .venv stays excluded


def test_gitignore_follows_gits_rules(write, cli) -> None:
    # anchored, `**` in the middle, a directory-only rule, a re-included file under an ignored
    # pattern, an escaped `#` and `[...]` classes, as git itself reads them
    write(".gitignore", "/top.py\ndocs/**/gen\nbuild/\nlogs/*.py\n!logs/keep.py\n\\#odd.py\nv[0-9].py\n")
    for name in ("top.py", "deep/top.py", "docs/a/b/gen/x.py", "build/x.py", "x/build/y.py", "build.py",
                 "logs/a.py", "logs/keep.py", "#odd.py", "v1.py", "va.py"):
        write(name, UNCAPPED)
    names = sorted(Path(d["filename"]).relative_to(Path.cwd()).as_posix() for d in cli("check", "--output-format", "json").json())
    assert names == ["build.py", "deep/top.py", "logs/keep.py", "va.py"]


def test_a_walk_started_inside_an_ignored_directory_checks_it(write, cli, monkeypatch) -> None:
    # as git and ruff walk: `cd ignored && check .` checks the files there (the repository's
    # own bench corpus lives under an ignored directory)
    write(".gitignore", "ignored/\n*_gen.py\n")
    write("ignored/sub/a.py", UNCAPPED)
    write("ignored/sub/b_gen.py", UNCAPPED)
    monkeypatch.chdir(Path.cwd() / "ignored")
    names = sorted(Path(d["filename"]).name for d in cli("check", "--output-format", "json", ".").json())
    assert names == ["a.py"]


def test_exclude_globs(write, cli) -> None:
    write("pyproject.toml", "[tool.tokenbudget.check]\nextend-exclude = [\"gen_*.py\", \"pkg/**/vendored\", \"./only_root\"]\n")
    for name in ("gen_a.py", "sub/gen_b.py", "pkg/x/y/vendored/z.py", "only_root/a.py", "sub/only_root/b.py", "kept.py"):
        write(name, UNCAPPED)
    names = sorted(Path(d["filename"]).relative_to(Path.cwd()).as_posix() for d in cli("check", "--output-format", "json").json())
    assert names == ["kept.py", "sub/only_root/b.py"]


def test_explicit_file_is_checked_unless_force_exclude(write, cli) -> None:
    write("pyproject.toml", "[tool.tokenbudget.check]\nextend-exclude = [\"legacy\"]\n")
    write("legacy/old.py", UNCAPPED)
    assert cli("check", "legacy/old.py").code == 1
    assert cli("check", "--force-exclude", "legacy/old.py").code == 0


def test_force_exclude_verdicts_follow_the_ignore_files(write, cli) -> None:
    # pre-commit names the same files run after run; a remembered verdict must end as soon as an
    # ignore file that could decide it changes, appears or goes away
    write("generated/client.py", UNCAPPED)
    write("app.py", UNCAPPED)

    def checked() -> list[str]:
        result = cli("check", "--force-exclude", "--output-format", "json", "generated/client.py", "app.py")
        return sorted(Path(d["filename"]).relative_to(Path.cwd()).as_posix() for d in result.json())

    write(".gitignore", "generated/\n")
    assert checked() == ["app.py"]
    assert checked() == ["app.py"]  # from the remembered verdicts
    write(".gitignore", "# nothing ignored any more\n")
    assert checked() == ["app.py", "generated/client.py"]
    write("generated/.gitignore", "client.py\n")
    assert checked() == ["app.py"]
    (Path.cwd() / "generated" / ".gitignore").unlink()
    assert checked() == ["app.py", "generated/client.py"]
    assert cli("check", "--force-exclude", "--no-respect-gitignore", "--output-format", "json", "app.py").code == 1


def test_noqa_forms(write, cli) -> None:
    write("a.py", "from openai import OpenAI\nOpenAI().chat.completions.create(model='m', messages=[])  # noqa: TB101\n")
    write("b.py", "from openai import OpenAI\nOpenAI().chat.completions.create(model='m', messages=[])  # noqa\n")
    write("c.py", "# tokenbudget: noqa\nfrom openai import OpenAI\nOpenAI().chat.completions.create(model='m', messages=[])\n")
    write("d.py", "from openai import OpenAI\nOpenAI().chat.completions.create(model='m', messages=[])  # noqa: TB102\n")
    write("e.py", "from openai import OpenAI\nx = '# noqa'; OpenAI().chat.completions.create(model='m', messages=[])\n")
    write("f.py", "# tokenbudget: noqa: TB101\nfrom openai import OpenAI\nOpenAI().chat.completions.create(model='m', messages=[])\n")
    found = sorted((Path(d["filename"]).name, d["code"]) for d in cli("check", "--output-format", "json").json())
    # d.py's `# noqa: TB102` suppresses nothing: TB001 says so
    assert found == [("d.py", "TB001"), ("d.py", "TB101"), ("e.py", "TB101")]


def test_bad_files_become_tb000_and_the_run_goes_on(write, cli, project) -> None:
    write("good.py", UNCAPPED)
    # Each is LLM code (an SDK call): files that cannot hold a finding are not parsed at all.
    write("syntax.py", "import openai\ndef f(:\n    openai.OpenAI().chat.completions.create()\n")
    (project / "latin.py").write_bytes(b"import openai\nname = '\xe9'\nopenai.OpenAI().chat.completions.create()\n")
    write("deep.py", UNCAPPED + "x = " + "-" * 5000 + "1\n")
    found = {Path(d["filename"]).name: d for d in cli("check", "--output-format", "json").json()}
    assert found["good.py"]["code"] == "TB101"
    assert found["syntax.py"]["code"] == "TB000" and found["syntax.py"]["line"] == 2
    assert found["latin.py"]["code"] == "TB000" and "UTF-8" in found["latin.py"]["message"]
    assert found["deep.py"]["code"] == "TB000" and "nested too deeply" in found["deep.py"]["message"]


def test_fix_writes_file_and_keeps_formatting(write, cli, project) -> None:
    path = write("app.py", UNCAPPED)
    result = cli("check", "--fix")
    assert result.code == 0
    assert "Fixed 1 error." in result.out
    assert path.read_text() == UNCAPPED.lstrip("\n").replace(
        "        messages=[{\"role\": \"user\", \"content\": question}],\n",
        "        messages=[{\"role\": \"user\", \"content\": question}],\n        max_completion_tokens=1024,\n",
    )
    assert cli("check").code == 0


def test_fix_keeps_the_files_permissions_and_leaves_no_temporary_file(write, cli, project) -> None:
    path = write("app.py", UNCAPPED)
    path.chmod(0o754)
    assert cli("check", "--fix").code == 0
    assert "max_completion_tokens=1024" in path.read_text()
    assert path.stat().st_mode & 0o7777 == 0o754
    assert not [p.name for p in project.iterdir() if p.name.endswith(".tmp")]


def test_diff_does_not_write(write, cli) -> None:
    path = write("app.py", UNCAPPED)
    before = path.read_text()
    result = cli("check", "--diff")
    assert result.code == 1
    assert "+        max_completion_tokens=1024," in result.out
    assert path.read_text() == before


def test_unsafe_fix_needs_flag(write, cli) -> None:
    source = "from openai import OpenAI\ndef f(**kw):\n    return OpenAI().chat.completions.create(model='m', messages=[], **kw)\n"
    path = write("app.py", source)
    assert cli("check", "--strict", "--fix").code == 1
    assert path.read_text() == source
    assert cli("check", "--strict", "--fix", "--unsafe-fixes").code == 0
    assert "**kw, max_completion_tokens=1024\n" in path.read_text()  # split: the line outgrew 88 columns


def test_stdin_filename(project, monkeypatch, capsys) -> None:
    import io

    from checker.cli import main

    class FakeStdin:
        buffer = io.BytesIO(UNCAPPED.lstrip("\n").encode())

    monkeypatch.setattr(sys, "stdin", FakeStdin)
    code = main(["check", "--stdin-filename", "pkg/app.py", "--output-format", "concise"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("pkg/app.py:7:12: TB101")


def test_cache_reuses_results_and_notices_changes(write, cli, project) -> None:
    path = write("app.py", UNCAPPED)
    first = cli("check", "--output-format", "json").json()
    assert (project / ".tokenbudget_cache" / "CACHEDIR.TAG").exists()
    assert cli("check", "--output-format", "json").json() == first
    path.write_text(UNCAPPED.replace('model="gpt-4o",', 'model="gpt-4o", max_tokens=10,'))
    assert cli("check", "--output-format", "json").json() == []
    other = project / "elsewhere"
    cli("check", "--no-cache")
    cli("check", "--cache-dir", str(other))
    assert (other / "CACHEDIR.TAG").exists()


def test_rule_command_prints_documentation(cli) -> None:
    result = cli("rule", "TB101")
    assert result.code == 0
    for heading in ("# missing-output-cap (TB101)", "## What it does", "## Why is this bad?", "## Example", "## Fix"):
        assert heading in result.out
    assert cli("rule", "TB999").code == 2
    listing = json.loads(cli("rule", "--all", "--output-format", "json").out)
    assert {"TB000", "TB101", "TB102"} <= {r["code"] for r in listing}


def test_python_dash_m_checker_and_pool(write, project) -> None:
    for index in range(8):  # enough files to use the worker pool
        write(f"m{index}.py", UNCAPPED)
    completed = subprocess.run(
        [sys.executable, "-m", "checker", "check", "--no-cache", "--output-format", "json", "--jobs", "2"],
        capture_output=True, text=True, cwd=project, timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    assert len(json.loads(completed.stdout)) == 8


def test_pre_commit_hook_definition() -> None:
    text = (Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml").read_text()
    assert "id: tokenbudget-check" in text
    assert "types_or: [python, pyi]" in text
    assert "pass_filenames: true" in text
    assert "entry: tokenbudget check --force-exclude" in text


def test_project_models_and_aliases_feed_tb102(write, cli) -> None:
    write("pyproject.toml", """
        [tool.tokenbudget.aliases]
        prod-chat = "gpt-4o"
    """)
    write("app.py", "from openai import AzureOpenAI\nAzureOpenAI().chat.completions.create(model='prod-chat', messages=[], max_tokens=50000)\n")
    found = cli("check", "--output-format", "json").json()
    assert [d["code"] for d in found] == ["TB102"]


def test_broken_model_table_is_a_config_error(write, cli) -> None:
    write("pyproject.toml", "[tool.tokenbudget.models.my-model]\nprovider = 'openai'\ncontext_window = 'big'\n")
    write("app.py", UNCAPPED)
    result = cli("check")
    assert result.code == 2
    assert "tool.tokenbudget.models" in result.err and "Traceback" not in result.err
