from __future__ import annotations

import ast
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Container, Optional

from checker.calls import API_CAP_NAMES, LLMCall
from checker.rule import Invalid, Rule

if TYPE_CHECKING:  # libcst is imported by the fix code only, on files with a finding
    import libcst as cst

    from checker.cst_view import CstView

    from ._fixes import Layout

# Cap keywords a caller may pass to a project wrapper that forwards **kwargs to the SDK.
_SINK_CAP_NAMES = frozenset(name for names in API_CAP_NAMES.values() for name in names)
# APIs whose server-side default is a small cap: calls to them are capped already.
_CAPPED_BY_DEFAULT = {"openai.completions"}
# APIs that reject a request without a cap: a missing one is a sure bug.
_CAP_REQUIRED = {"anthropic.messages", "anthropic.completions"}

_API_LABEL = {
    "openai.chat": "OpenAI chat completion",
    "openai.responses": "OpenAI Responses API call",
    "anthropic.messages": "Anthropic messages call",
    "anthropic.completions": "Anthropic completions call",
    "litellm.completion": "LiteLLM completion",
    "langchain.chat_model": "LangChain chat model",
}


class MissingOutputCap(Rule):
    """
    ## What it does
    Finds LLM API calls that do not cap the number of output tokens: OpenAI chat completions
    and Responses calls, Anthropic messages calls, LiteLLM completions and LangChain chat models
    (`ChatOpenAI`, `AzureChatOpenAI`, `ChatAnthropic`, `ChatLiteLLM`) created without
    `max_tokens`, `max_completion_tokens`, `max_output_tokens` or `max_tokens_to_sample` —
    whichever the API uses. A LangChain model capped later with `.bind(max_tokens=...)` counts
    as capped.

    Anthropic's API requires `max_tokens`: such a call fails at run time, so it is reported
    as an error. Legacy OpenAI completions (`completions.create`, `openai.Completion.create`)
    default to 16 output tokens on the server and are not reported.

    When a call passes `**kwargs` whose content the checker cannot see, the rule stays
    silent; set `strict = true` in `[tool.tokenbudget.check]` to report those calls too.

    ## Why is this bad?
    Without a cap the model may generate until it reaches its maximum output length or the
    context window: a single looping or rambling answer costs tens of thousands of output
    tokens, the most expensive tokens of the request, and takes minutes. A cap also makes the
    request's worst-case cost and latency known before it is sent, which is what a token
    budget needs.

    ## Example
    ```python
    from openai import OpenAI

    client = OpenAI()
    client.chat.completions.create(model="gpt-4o", messages=messages)
    ```

    ## Fix
    Pass the cap your use case needs:
    ```python
    client.chat.completions.create(model="gpt-4o", messages=messages, max_completion_tokens=1024)
    ```
    `tokenbudget check --fix` inserts the cap with the value of `default-max-tokens`
    (`[tool.tokenbudget.check]`, 1024 by default), lowered to the model's maximum output when
    the model is a literal the model registry knows. The fix is unsafe when the call passes
    `**kwargs`, which may already hold a cap.
    """

    code = "TB101"
    name = "missing-output-cap"
    message = "LLM call without an output cap"
    severity = "warning"
    uses_llm_calls = True
    requires_llm_calls = True
    fixable = True

    VALID = [
        """
from openai import OpenAI
client = OpenAI()
client.chat.completions.create(model="gpt-4o", messages=[], max_completion_tokens=500)
""",
        """
import anthropic
anthropic.Anthropic().messages.create(model="claude-sonnet-4-5", max_tokens=1024, messages=[])
""",
        """
from openai import OpenAI
OpenAI().responses.create(model="gpt-4o", input="hi", max_output_tokens=200)
""",
        # legacy completions default to 16 output tokens
        """
from openai import OpenAI
OpenAI().completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
""",
        # the cap arrives through a dict built in the same scope, added after the literal
        """
from litellm import completion
def ask(prompt):
    params = {"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]}
    params["max_tokens"] = 300
    return completion(**params)
""",
        # unknown **kwargs: silent by default
        """
from openai import OpenAI
def ask(**kwargs):
    return OpenAI().chat.completions.create(model="gpt-4o", messages=[], **kwargs)
""",
        # a dict merged from unknown ones: silent, as for **kwargs
        """
from openai import OpenAI
def ask(defaults, **kwargs):
    params = {**defaults, **kwargs}
    return OpenAI().chat.completions.create(model="gpt-4o", messages=[], **params)
""",
        # commented-out code is never reported
        """
from openai import OpenAI
client = OpenAI()
# client.chat.completions.create(model="gpt-4o", messages=[])
""",
        # a LangChain model capped by .bind()
        """
from langchain_openai import ChatOpenAI
llm = ChatOpenAI(model="gpt-4o").bind(max_tokens=256)
""",
        # not an LLM client: Twilio has client.messages.create too
        """
from twilio.rest import Client
Client().messages.create(to="+15558675310", from_="+15017122661", body="hi")
""",
        """
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[])  # noqa: TB101
""",
        # a module-level dict holding the cap, and one a computed key may fill
        """
from openai import OpenAI
client = OpenAI()
SETTINGS = {"temperature": 0.2, "max_tokens": 400}
OPTIONS = {}
def configure(name, value):
    OPTIONS[name] = value
def ask(messages):
    return client.chat.completions.create(model="gpt-4o", messages=messages, **SETTINGS)
def ask_with_options(messages):
    return client.chat.completions.create(model="gpt-4o", messages=messages, **OPTIONS)
""",
        # the cap is the caller's to pass (`max_tokens=None` by default): the calls of the
        # wrapper that pass none are reported, across modules (tests/checker/test_corpus_shapes.py)
        """
import openai
def create_chat_completion(messages, model=None, max_tokens=None):
    return openai.ChatCompletion.create(model=model, messages=messages, max_tokens=max_tokens)
""",
    ]
    INVALID = [
        Invalid(
            """
from openai import OpenAI
client = OpenAI()
client.chat.completions.create(model="gpt-4o", messages=[])
""",
            line=4,
            column=1,
            expected_fix="""
from openai import OpenAI
client = OpenAI()
client.chat.completions.create(model="gpt-4o", messages=[], max_completion_tokens=1024)
""",
        ),
        # aliases, stored bound method, multi-line call with trailing comma
        Invalid(
            """
import openai as oa
client = oa.AsyncOpenAI()
create = client.chat.completions.create
async def main():
    return await create(
        model="gpt-4o",
        messages=[],
    )
""",
            line=6,
            expected_fix="""
import openai as oa
client = oa.AsyncOpenAI()
create = client.chat.completions.create
async def main():
    return await create(
        model="gpt-4o",
        messages=[],
        max_completion_tokens=1024,
    )
""",
        ),
        Invalid(
            """
from anthropic import Anthropic as A
class Bot:
    def __init__(self):
        self.client = A()
    def ask(self, text):
        return self.client.messages.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": text}])
""",
            line=7,
            message_contains="max_tokens",
        ),
        Invalid(
            """
def ask(prompt):
    from litellm import completion
    return completion("gpt-4o", [{"role": "user", "content": prompt}])
""",
            expected_fix="""
def ask(prompt):
    from litellm import completion
    return completion("gpt-4o", [{"role": "user", "content": prompt}], max_tokens=1024)
""",
        ),
        Invalid(
            """
import instructor
from openai import OpenAI
client = instructor.from_openai(OpenAI())
client.chat.completions.create(model="gpt-4o", response_model=int, messages=[])
""",
        ),
        Invalid(
            """
from openai import OpenAI
OpenAI().responses.create(model="gpt-4o", input="hi")
""",
            message_contains="max_output_tokens",
        ),
        Invalid(
            """
import openai
openai.ChatCompletion.create(model="gpt-4", messages=[])
""",
            expected_fix="""
import openai
openai.ChatCompletion.create(model="gpt-4", messages=[], max_tokens=1024)
""",
        ),
        Invalid(
            """
from langchain_openai import ChatOpenAI
llm = ChatOpenAI(model="gpt-4o", temperature=0)
""",
            expected_fix="""
from langchain_openai import ChatOpenAI
llm = ChatOpenAI(model="gpt-4o", temperature=0, max_tokens=1024)
""",
        ),
        # a client received as a parameter still has the unmistakable chat.completions shape
        Invalid(
            """
def summarize(client, text):
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])
""",
        ),
        # dict passed as **params without a cap
        Invalid(
            """
from openai import OpenAI
def ask(prompt):
    params = dict(model="gpt-4o", messages=[])
    return OpenAI().chat.completions.create(**params)
""",
        ),
        # a module-level dict of connection settings, filled by known keys only (shell_gpt's
        # additional_kwargs), behind an alias chosen at import
        Invalid(
            """
from openai import OpenAI
additional_kwargs = {"timeout": 60, "api_key": None}
client = OpenAI(**additional_kwargs)
completion = client.chat.completions.create
additional_kwargs = {}
def get_completion(messages, functions):
    if functions:
        additional_kwargs["tools"] = functions
    return completion(model="gpt-4o", messages=messages, stream=True, **additional_kwargs)
""",
            line=10,
        ),
        # max_tokens=None is no cap
        Invalid(
            """
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=None)
""",
            expected_fix="""
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[], max_tokens=1024)
""",
        ),
        # a dict reached through another name
        Invalid(
            """
from openai import OpenAI
def ask(prompt):
    base = {"model": "gpt-4o", "messages": []}
    params = base
    return OpenAI().chat.completions.create(**params)
""",
        ),
        # Anthropic's legacy completions only accept max_tokens_to_sample
        Invalid(
            """
import anthropic
anthropic.Anthropic().completions.create(model="claude-2.1", prompt="hi", max_tokens=300)
""",
            message_contains="max_tokens_to_sample",
        ),
        # the configured cap, lowered to what the model can produce (gpt-4o: 16,384); a call
        # that no longer fits the line length (88, or ruff's / black's line-length) is split as
        # ruff's formatter splits it
        Invalid(
            """
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o", messages=[])
""",
            config={"default-max-tokens": 100_000},
            expected_fix="""
from openai import OpenAI
OpenAI().chat.completions.create(
    model="gpt-4o", messages=[], max_completion_tokens=16384
)
""",
        ),
        Invalid(
            """
from openai import OpenAI
def ask(model):
    return OpenAI().chat.completions.create(model=model, messages=[])
""",
            config={"default-max-tokens": 100_000},
            expected_fix="""
from openai import OpenAI
def ask(model):
    return OpenAI().chat.completions.create(
        model=model, messages=[], max_completion_tokens=100000
    )
""",
        ),
        # strict: unknown **kwargs are reported, with an unsafe fix
        Invalid(
            """
from openai import OpenAI
def ask(**kwargs):
    return OpenAI().chat.completions.create(model="gpt-4o", messages=[], **kwargs)
""",
            config={"strict": True, "default-max-tokens": 256},
            expected_fix="""
from openai import OpenAI
def ask(**kwargs):
    return OpenAI().chat.completions.create(
        model="gpt-4o", messages=[], **kwargs, max_completion_tokens=256
    )
""",
        ),
    ]

    def finish(self) -> None:
        for call in self.context.llm_calls:
            if call.api == "langchain.bind" or call.api in _CAPPED_BY_DEFAULT:
                continue
            if call.api == "langchain.chat_model" and any(bind.cap is not None for bind in call.binds):
                continue
            cap = call.cap
            if cap is not None and not _is_none(cap[1]):
                continue
            if call.has_unknown_star_kwargs and not self.context.settings.strict:
                continue
            self._report(call, explicit_none=cap)
        if self.context.settings.sinks:
            self._report_sink_calls()

    def _report_sink_calls(self) -> None:
        """A call of a project wrapper that forwards ``**kwargs`` to the SDK request and sets no
        cap itself: the caller is where the cap goes."""
        for node in self.context.call_finder.call_nodes:
            sink = self.context.sink_of(node)
            if sink is None or sink.cap not in ("forwards", "parameter"):
                continue
            keywords = {keyword.arg: keyword.value for keyword in node.keywords if keyword.arg is not None}
            if any(name in keywords for name in _SINK_CAP_NAMES) or any(k.arg is None for k in node.keywords):
                continue  # a cap passed, or a `**dict` that may hold one
            if sink.cap == "parameter":
                positional = sum(1 for arg in node.args if not isinstance(arg, ast.Starred))
                if positional < len(node.args) or sink.capped_by(positional, keywords):
                    continue
                name = sink.cap_param or "max_tokens"
                message = (f"{sink.display} sends an {sink.label} capped by its `{name}` parameter, "
                           f"whose default is None: pass `{name}`")
            else:
                name = "max_tokens"
                message = (f"{sink.display} sends an {sink.label} with the caller's **{sink.cap_param} "
                           f"and no output cap: pass `max_tokens`")
            default = self._cap_value(sink.model)
            self.report(
                node,
                message,
                fix=partial(_fix, node=node, keywords=keywords, name=name, value=default,
                            project_root=self.context.settings.project_root),
                fix_safe=True,
                fix_message=f"Add `{name}={default}`",
            )

    def _report(self, call: LLMCall, explicit_none: Optional[tuple[str, ast.expr]]) -> None:
        cap_name = _fix_cap_name(call)
        label = _API_LABEL.get(call.api, "LLM call")
        default = self._cap_value(call.model_literal)
        if explicit_none is not None:
            message = f"{label} with `{explicit_none[0]}=None`: output is not capped"
        elif call.api in _CAP_REQUIRED:
            message = f"{label} without `{cap_name}`: the API rejects requests without it"
        else:
            message = f"{label} without an output cap: pass `{cap_name}`"
        severity = "error" if call.api in _CAP_REQUIRED else None
        self.report(
            call.node,
            message,
            fix=partial(_fix, node=call.node, keywords=call.keywords,
                        name=explicit_none[0] if explicit_none else cap_name, value=default,
                        project_root=self.context.settings.project_root),
            fix_safe=not call.star_kwargs,
            fix_message=f"Add `{cap_name}={default}`",
            severity=severity,
        )

    def _cap_value(self, model: Optional[str]) -> int:
        """`default-max-tokens`, lowered to the model's maximum output when the model is a
        literal the registry knows: a cap above it is TB102's error."""
        value = self.context.settings.default_max_tokens
        info = self.context.model_info(model) if isinstance(model, str) else None
        maximum = getattr(info, "max_output_tokens", None)
        return min(value, maximum) if maximum else value


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def _fix_cap_name(call: LLMCall) -> str:
    if call.api == "openai.chat" and (call.is_legacy or not call.resolved):
        # SDK < 1.0 and OpenAI-compatible servers only know max_tokens
        return "max_tokens"
    if call.api in ("litellm.completion", "langchain.chat_model"):
        return "max_tokens"
    return call.cap_names[0] if call.cap_names else "max_tokens"


# ---- the fix: text edits built on libcst, only for files with a finding ----------------------

def _fix(view: "CstView", *, node: ast.Call, keywords: Container[str], name: str, value: int,
         project_root: Optional[Path]) -> "Optional[tuple[cst.CSTNode, cst.CSTNode]]":
    """(the node to replace, its replacement): the reported call with the cap added, in its own
    layout. A one-line call passed to another one-line call that would outgrow the line splits
    the outer call first, as ruff's formatter does; so does a chain of accesses on the call."""
    import libcst as cst

    from ._fixes import fluent_chain, line_length, split_enclosing

    limit = line_length(project_root)
    call = view.node(node)
    if not isinstance(call, cst.Call):
        return None
    layout = _layout(view, call, limit)
    replacement = _with_cap(call, keywords, name, value, layout)
    if replacement is None:
        return None
    parent = view.parent(call)
    outer = view.parent(parent) if isinstance(parent, cst.Arg) else None
    chain = _chain_top(view, call)
    if not isinstance(outer, cst.Call) and chain is None:
        return call, replacement
    inline = _with_cap(call, keywords, name, value)
    original = cst.Module([]).code_for_node(call)
    if layout.fits(cst.Module([]).code_for_node(inline), original) or not layout.fits(original, original):
        return call, replacement  # it fits; or the line was too long already, and stays so
    if chain is not None:
        fluent = fluent_chain(chain, call, inline, layout)
        return (chain, fluent) if fluent is not None else (call, replacement)
    index = next(i for i, arg in enumerate(outer.args) if arg is parent)
    split = split_enclosing(outer, index, inline, _layout(view, outer, limit))
    return (outer, split) if split is not None else (call, replacement)


def _chain_top(view: "CstView", node: "cst.Call") -> "Optional[cst.BaseExpression]":
    """The outermost `.attr` / `[...]` chain on ``node`` when it is the whole value of a
    `return` or an assignment (where the formatter may add parentheses around it)."""
    import libcst as cst

    top: cst.BaseExpression = node
    while True:
        parent = view.parent(top)
        if isinstance(parent, (cst.Attribute, cst.Subscript)) and parent.value is top:
            top = parent
        else:
            break
    if top is node or not isinstance(parent, (cst.Return, cst.Assign, cst.AnnAssign)) or parent.value is not top:
        return None
    return top


def _layout(view: "CstView", node: "cst.Call", limit: int) -> "Layout":
    from ._fixes import Layout

    position = view.position(node)
    return Layout(view.lines.lines, position.start.line, position.start.column, position.end.line, position.end.column,
                  limit)


def _with_cap(node: "cst.Call", keywords: Container[str], name: str, value: int,
              layout: "Optional[Layout]" = None) -> "Optional[cst.Call]":
    import libcst as cst

    from ._fixes import add_keyword, keyword_arg

    # ``max_tokens=None`` written in the call itself: replace its value
    for index, arg in enumerate(node.args):
        if arg.keyword is not None and arg.keyword.value == name:
            args = list(node.args)
            args[index] = arg.with_changes(value=cst.Integer(str(value)))
            return node.with_changes(args=args)
    if name in keywords:
        return None  # the None comes from a dict built elsewhere in the scope: no safe edit
    return add_keyword(node, keyword_arg(name, cst.Integer(str(value))), layout)
