from __future__ import annotations

from checker.diagnostics import Diagnostic, Fix
from checker.rule import Invalid, Rule, Valid


class UnusedNoqa(Rule):
    """
    ## What it does
    Finds `# noqa: TBnnn` directives that suppress nothing: the code's rule ran on the file (or
    could not report on it at all) and found nothing on that line, or no rule has that code.
    It is ruff's RUF100 for this checker's codes.

    Only `TB` codes are judged. Codes of other tools (`# noqa: E501`), codes of rules not
    selected for the file (`--select`, `ignore`, `per-file-ignores`, `# tokenbudget: noqa:
    TBnnn`) and a bare `# noqa` are left alone: the checker cannot know what they are for.

    ## Why is this bad?
    A suppression outlives the finding it was written for: once the call is fixed, the
    directive still silences that rule on the line, so the next mistake written there is
    never reported. After adopting the checker with `--add-noqa`, this rule is what shrinks
    the list of suppressions as the old findings get fixed.

    ## Example
    ```python
    client.chat.completions.create(model="gpt-4o", messages=m, max_tokens=500)  # noqa: TB101
    ```

    ## Fix
    Remove the directive, or only its unused codes:
    ```python
    client.chat.completions.create(model="gpt-4o", messages=m, max_tokens=500)
    ```
    `--fix` does this (a safe fix): other codes in the directive stay, a comment before the
    directive stays, and the explanation after an unused directive stays as a plain comment.
    """

    code = "TB001"
    name = "unused-noqa"
    message = "unused `noqa` directive"
    severity = "warning"
    triggers = (("(?i)noqa", r"(?i)tb\d"),)
    audits_noqa = True
    fixable = True

    VALID = [
        # a rule that is not selected here: left alone
        'x = 1  # noqa: TB101\n',
        # another tool's code and a bare noqa
        'import os  # noqa: F401\nimport sys  # noqa\n',
        # "# noqa" inside a string is not a directive
        's = "# noqa: TB999"\n',
        Valid(
            """
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[])  # noqa: TB101
""",
            config={"extend-select": ["TB101"]},
        ),
        # a multi-line call is suppressed from its last line too
        Valid(
            """
from openai import OpenAI
OpenAI().chat.completions.create(
    model="gpt-4o", messages=[]
)  # noqa: TB101
""",
            config={"extend-select": ["TB101"]},
        ),
    ]
    INVALID = [
        Invalid(
            """
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=500)  # noqa: TB101
""",
            line=3,
            column=80,
            message_contains="unused: TB101",
            config={"extend-select": ["TB101"]},
            expected_fix="""
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=500)
""",
        ),
        # only the unused code goes; another tool's code stays
        Invalid(
            """
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=500)  # noqa: E501, TB101
""",
            config={"extend-select": ["TB101"]},
            expected_fix="""
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=500)  # noqa: E501
""",
        ),
        # a code no rule has
        Invalid(
            'x = 1  # legacy client  # noqa: TB999\n',
            message_contains="unknown: TB999",
            expected_fix='x = 1  # legacy client\n',
        ),
        Invalid(
            'x = 1  # NOQA:TB999 - kept for the old SDK\n',
            expected_fix='x = 1  # kept for the old SDK\n',
        ),
    ]

    @classmethod
    def audit(cls, source: str, filename: str, used: set[tuple[int, str]], selected: frozenset[str]) -> list[Diagnostic]:
        """Findings for the directives of ``source`` with unused or unknown TB codes. ``used``:
        the (line, code) pairs that suppressed a finding; ``selected``: the codes selected for
        the file."""
        from checker.noqa import directives, physical_lines, removal_edit, unused_codes
        from checker.registry import rule_codes

        found = []
        lines = physical_lines(source)
        for directive in directives(source):
            unused, unknown = unused_codes(directive, used, selected, rule_codes())
            if not unused and not unknown:
                continue
            parts = [f"unused: {', '.join(unused)}"] if unused else []
            parts += [f"unknown: {', '.join(unknown)}"] if unknown else []
            edit = removal_edit(lines[directive.line - 1], directive, unused + unknown)
            fix = Fix("safe", f"Remove unused `noqa` code{'s' if len(unused + unknown) > 1 else ''}", (edit,))
            found.append(Diagnostic(
                cls.code, f"{cls.message} ({'; '.join(parts)})", filename, directive.line, directive.start + 1,
                directive.line, directive.end + 1, cls.severity, fix,
            ))  # fmt: skip
        return found
