import json
import subprocess
import sys

import pytest

from pytest_tokenbudget.cli import main


def test_count_a_request_body_file(tmp_path, capsys):
    body = {"model": "gpt-4o", "max_tokens": 50, "messages": [
        {"role": "system", "content": "You answer questions about orders. " * 20},
        {"role": "user", "content": "Where is my order?"}]}
    path = tmp_path / "request.json"
    path.write_text(json.dumps(body))
    assert main(["count", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "gpt-4o" and result["provenance"] == "exact"
    assert result["breakdown"][0]["label"] == "messages[0] system"  # largest first
    assert sum(part["tokens"] for part in result["breakdown"]) == result["input_tokens"]
    assert main(["count", str(path)]) == 0
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line == f"{result['input_tokens']:,} input tokens (gpt-4o, o200k_base, exact)"


def test_count_plain_text_from_stdin():
    result = subprocess.run([sys.executable, "-m", "pytest_tokenbudget.cli", "count", "--model", "gpt-4", "-"],
                            input="hello world", capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("2 input tokens (gpt-4, cl100k_base")


def test_plain_text_without_model_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "prompt.txt"
    path.write_text("hello")
    with pytest.raises(SystemExit) as exited:
        main(["count", str(path)])
    assert exited.value.code == 2
    assert "needs --model" in capsys.readouterr().err


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "audio"}]}]}))
    assert main(["count", str(path)]) == 2
    err = capsys.readouterr().err
    assert "messages[0].content[0].type: unknown part 'audio'" in err and "Traceback" not in err
    assert main(["count", "--model", "gpt-5o", str(path)]) == 2
    assert "unknown model 'gpt-5o'" in capsys.readouterr().err
    assert main(["count", str(tmp_path / "missing.txt"), "--model", "gpt-4o"]) == 2


def test_models_lists_and_filters(capsys):
    assert main(["models", "gpt-4o", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert {m["id"] for m in models} >= {"gpt-4o", "gpt-4o-mini"}
    assert all(m["source"] for m in models)
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert "claude" in table and "gpt-3.5-turbo" in table
    assert main(["models", "no-such-model"]) == 1


def test_unknown_command(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err
