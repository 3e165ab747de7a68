from __future__ import annotations

import ast
from functools import partial
from typing import TYPE_CHECKING, Optional

from checker.rule import Invalid, Rule

if TYPE_CHECKING:  # libcst is imported by the fix only, on files with a finding
    import libcst as cst

    from checker.cst_view import CstView


def _int_literal(node: ast.expr) -> Optional[int]:
    """A plain integer literal (`True` is no number; `-5` is not a literal)."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def _lower(view: "CstView", node: ast.expr, maximum: int) -> "tuple[cst.CSTNode, cst.CSTNode]":
    import libcst as cst

    return view.node(node), cst.Integer(str(maximum))


class CapAboveModelMaximum(Rule):
    """
    ## What it does
    Finds output caps written as integer literals that exceed the maximum output the model can
    produce, when the model is a string literal known to the model registry (built-in models,
    plus those and the aliases declared in `[tool.tokenbudget.models]` /
    `[tool.tokenbudget.aliases]`). For example `max_tokens=32000` for `gpt-4o`, whose maximum
    output is 16,384 tokens.

    ## Why is this bad?
    Most providers reject such a request (`max_tokens is too large`), so the call fails at run
    time; others silently clamp it, so the budget the code appears to set is not the one in
    force. Either way the number is wrong, and budgets computed from it are too.

    ## Example
    ```python
    client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=32000)
    ```

    ## Fix
    Use a cap no larger than the model's maximum output (`tokenbudget models` lists them):
    ```python
    client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=16384)
    ```
    `--fix --unsafe-fixes` lowers the literal to the model's maximum; it is unsafe because
    the right cap for the use case is usually much lower.
    """

    code = "TB102"
    name = "cap-above-model-maximum"
    message = "output cap above the model's maximum output"
    severity = "error"
    uses_llm_calls = True
    requires_llm_calls = True
    fixable = True

    VALID = [
        """
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=16384)
""",
        # unknown model: nothing to compare with
        """
from openai import OpenAI
OpenAI().chat.completions.create(model="my-finetune-nobody-knows", messages=[], max_tokens=999999)
""",
        # model not a literal
        """
from openai import OpenAI
def ask(model):
    return OpenAI().chat.completions.create(model=model, messages=[], max_tokens=999999)
""",
    ]
    INVALID = [
        Invalid(
            """
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=32000)
""",
            line=3,
            message_contains="gpt-4o",
            expected_fix="""
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=16384)
""",
        ),
        Invalid(
            """
import anthropic
MODEL = "claude-3-5-haiku-20241022"
anthropic.Anthropic().messages.create(model=MODEL, max_tokens=1_000_000, messages=[])
""",
            line=4,
        ),
        Invalid(
            """
from litellm import completion
def ask():
    params = {"model": "gpt-4o-mini"}
    params["max_tokens"] = 100_000
    return completion(messages=[], **params)
""",
            line=5,
        ),
    ]

    def finish(self) -> None:
        for call in self.context.llm_calls:
            cap = call.cap
            if cap is None or call.model_literal is None:
                continue
            name, value_node = cap
            value = _int_literal(value_node)
            if value is None:
                continue
            model = self.context.model_info(call.model_literal)
            maximum = getattr(model, "max_output_tokens", None) if model is not None else None
            if not maximum or value <= maximum:
                continue
            self.report(
                value_node,
                f"`{name}={value:,}` is above the maximum output of {model.id} ({maximum:,} tokens)",
                fix=partial(_lower, node=value_node, maximum=maximum),
                fix_safe=False,
                fix_message=f"Lower `{name}` to {maximum}",
            )
