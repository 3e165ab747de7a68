from __future__ import annotations

from checker.rule import Invalid, Rule


class ParseError(Rule):
    """
    ## What it does
    Reports files the checker could not analyse: a syntax error, bytes that are not valid
    UTF-8 (or not valid in the encoding the file declares), code nested too deeply for the
    parser, or an internal error of a rule on this file. The rest of the run goes on.

    Only files that can hold a finding are parsed: files with no LLM SDK call in their text
    (such as `.chat.completions.create` in a file naming the provider, a LangChain chat model,
    LiteLLM's `completion`) and no trigger words of another selected rule are skipped before
    parsing, so their syntax errors are left to the tools that check all code. A file where no
    selected rule needs the full syntax tree is only checked with Python's own parser.

    ## Why is this bad?
    A file that cannot be analysed may hide every other finding: an uncapped LLM call in it
    would pass the check unnoticed.

    ## Example
    ```python
    client.chat.completions.create(model="gpt-4o", messages=[)
    ```

    ## Fix
    Fix the syntax or the encoding, or exclude the file (`extend-exclude` in
    `[tool.tokenbudget.check]`) if it is not meant to be Python 3 (fixtures, templates).
    Internal errors are bugs of tokenbudget: please report them with the file.
    """

    code = "TB000"
    name = "parse-error"
    message = "file could not be analysed"
    severity = "error"
    # Produced by the engine itself. Only files the prefilter selects are parsed (they hold an
    # LLM SDK call's text or match a selected rule's trigger); files that cannot hold a finding
    # are skipped unread by the parser, so their syntax errors are not reported.
    uses_llm_calls = True
    requires_llm_calls = True

    INVALID = [
        Invalid(
            """
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[)
""",
            line=3,
        ),
        Invalid("import openai\nx = " + "(" * 300 + "1" + ")" * 300 + "\nopenai.OpenAI().chat.completions.create()\n",
                message_contains="nested"),
    ]
