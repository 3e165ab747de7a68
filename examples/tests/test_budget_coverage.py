"""Budget coverage of the support bot: is every prompt it can send under a budget?

The same question from the command line:

    pytest examples/tests/test_budgets.py --tokenbudget-coverage=examples/support_bot --tokenbudget-coverage-fail-under=100

`tokenbudget calls examples/support_bot` lists the two call sites (the OpenAI and the Anthropic
request); the budgeted tests of test_budgets.py send through both, so coverage is 100%.
"""

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent


def test_every_support_bot_prompt_is_sent_under_a_budget(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        str(EXAMPLES / "tests" / "test_budgets.py"), f"--rootdir={EXAMPLES}", "-p", "no:cacheprovider", "-v",
        f"--tokenbudget-coverage={EXAMPLES / 'support_bot'}", "--tokenbudget-coverage-fail-under=100",
    )
    assert result.ret == pytest.ExitCode.OK
    openai_call, anthropic_call = _lines_of(EXAMPLES / "support_bot" / "bot.py", ".create(")
    result.stdout.fnmatch_lines([
        "*= token budget coverage =*",
        "LLM call sites exercised under a budget: 2 of 2 (100%)",
        f"  support_bot/bot.py:{openai_call}  covered by tests/test_budgets.py::test_first_question_fits, *",
        f"  support_bot/bot.py:{anthropic_call}  covered by tests/test_budgets.py::test_claude_bot_fits",
    ])


def _lines_of(path: Path, text: str) -> list[int]:
    return [number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line]
