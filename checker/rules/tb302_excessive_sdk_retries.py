"""TB302: an SDK client built with a very large `max_retries`.

The rule's documentation is the docstring of ExcessiveSdkRetries below (`tokenbudget rule TB302`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Iterator

from checker.rule import Invalid, Rule, Valid

from ._index import ModuleIndex, dotted, keyword_arg, last_name, number_value

CODE = "TB302"
NAME = "excessive-sdk-retries"

DEFAULT_MAX_RETRIES = 5

_CLIENT_CLASSES = {
    "OpenAI", "AsyncOpenAI", "AzureOpenAI", "AsyncAzureOpenAI",
    "Anthropic", "AsyncAnthropic", "AnthropicBedrock", "AsyncAnthropicBedrock",
    "AnthropicVertex", "AsyncAnthropicVertex", "AnthropicFoundry", "AsyncAnthropicFoundry",
    # Framework wrappers that pass max_retries to the SDK client.
    "ChatOpenAI", "AzureChatOpenAI", "ChatAnthropic", "OpenAIEmbeddings", "AzureOpenAIEmbeddings",
    "ChatLiteLLM",
}
_CLIENT_MODULES = ("openai", "anthropic", "langchain", "llama_index", "litellm")


def _is_client_constructor(call: ast.Call, index: ModuleIndex) -> bool:
    name = last_name(call.func)
    if name == "with_options":
        return True
    if name not in _CLIENT_CLASSES:
        return False
    qualified = index.qualified(call.func) or ""
    # A bare name must come from an LLM package (or be defined nowhere we can see: still a client
    # class name nobody else uses).
    return "." not in qualified or qualified.startswith(_CLIENT_MODULES) or \
        any(m in qualified for m in _CLIENT_MODULES)


def _resolved_count(expr: ast.expr, index: ModuleIndex) -> float | None:
    value = number_value(expr)
    if value is not None:
        return value
    if isinstance(expr, ast.Call) and last_name(expr.func) == "float" and (expr.args or expr.keywords):
        text = expr.args[0] if expr.args else expr.keywords[0].value
        # The literal as written (`float("inf")`, `float("-INF")`), one string token.
        if isinstance(text, ast.Constant) and isinstance(text.value, (str, bytes)) and "inf" in index.code(text).lower():
            return float("inf")
    text = dotted(expr)
    if text in {"sys.maxsize", "math.inf"}:
        return float("inf")
    if text and "." not in text:
        module_level = index.assignments_to(text, index.module)
        if len(module_level) == 1 and module_level[0].value is not None:
            return number_value(module_level[0].value)
    return None


def find(index: ModuleIndex, threshold: int = DEFAULT_MAX_RETRIES) -> Iterator[tuple[ast.AST, str]]:
    for call in index.calls:
        arg = keyword_arg(call, "max_retries")
        if arg is None or not _is_client_constructor(call, index):
            continue
        count = _resolved_count(arg.value, index)
        if count is None or count <= threshold:
            continue
        shown = "unbounded" if count == float("inf") else f"{int(count)}"
        yield arg, (f"max_retries={shown} on an LLM client (threshold {threshold}): each retry re-sends the "
                    "whole request, so one oversized or slow prompt hangs for minutes and is billed on every "
                    "attempt. Keep the SDK default (2) or a small number and handle the error where you can "
                    "shrink or queue the request.")


VALID = [
    """
    from openai import OpenAI
    client = OpenAI()
    """,
    """
    from openai import OpenAI
    client = OpenAI(max_retries=3, timeout=60)
    """,
    """
    import anthropic
    client = anthropic.Anthropic(max_retries=5)
    """,
    """
    from openai import AsyncOpenAI
    client = AsyncOpenAI(max_retries=0)
    """,
    # Not an LLM client.
    """
    from urllib3.util import Retry
    session_retry = Retry(total=20)
    """,
    """
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", config=Config(retries={"max_attempts": 20}))
    """,
    # A job queue's retries.
    """
    from celery import Celery
    app = Celery()
    @app.task(max_retries=30)
    def send_email(to):
        pass
    """,
    """
    from openai import OpenAI
    client = OpenAI().with_options(max_retries=4)
    """,
    """
    from langchain_openai import ChatOpenAI
    llm = ChatOpenAI(model="gpt-4o", max_retries=2)
    """,
    """
    from openai import AzureOpenAI
    client = AzureOpenAI(azure_endpoint="https://x.example", api_version="2024-10-21", max_retries=1)
    """,
    # Unknown value from config: cannot judge.
    """
    from openai import OpenAI
    def make(settings):
        return OpenAI(max_retries=settings.retries)
    """,
    """
    import httpx
    transport = httpx.HTTPTransport(retries=10)
    """,
    # A class of the same name from a module that is neither imported nor an LLM SDK.
    """
    client = mylib.OpenAI(max_retries=50)
    """,
    # A constant assigned in a function is not the module-level one `find` resolves.
    """
    from openai import OpenAI
    RETRIES = 2
    def make():
        return OpenAI(max_retries=RETRIES)
    """,
]

INVALID = [
    """
    from openai import OpenAI
    client = OpenAI(max_retries=50)
    """,
    """
    import anthropic
    client = anthropic.Anthropic(max_retries=100)
    """,
    """
    from anthropic import AsyncAnthropic
    client = AsyncAnthropic(max_retries=10, timeout=600)
    """,
    """
    import openai
    client = openai.AsyncOpenAI(api_key="sk-test", max_retries=25)
    """,
    """
    from openai import OpenAI
    def ask(client: OpenAI, prompt):
        return client.with_options(max_retries=20).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": prompt}])
    """,
    """
    from openai import AzureOpenAI
    client = AzureOpenAI(azure_endpoint="https://x.example", api_version="2024-10-21", max_retries=8)
    """,
    """
    from langchain_openai import ChatOpenAI
    llm = ChatOpenAI(model="gpt-4o-mini", max_retries=30)
    """,
    """
    from langchain_anthropic import ChatAnthropic
    llm = ChatAnthropic(model="claude-sonnet-4-5", max_retries=12)
    """,
    """
    import sys
    from openai import OpenAI
    client = OpenAI(max_retries=sys.maxsize)
    """,
    """
    from openai import OpenAI
    MAX_RETRIES = 40
    client = OpenAI(max_retries=MAX_RETRIES)
    """,
    """
    from anthropic import AnthropicBedrock
    client = AnthropicBedrock(aws_region="us-east-1", max_retries=15)
    """,
    # An import alias of the SDK module (`oa` is expanded).
    """
    import openai as oa
    client = oa.OpenAI(max_retries=9)
    """,
    # An annotated module-level constant.
    """
    from anthropic import Anthropic
    RETRIES: int = 20
    client = Anthropic(max_retries=RETRIES)
    """,
    """
    from openai import OpenAI
    client = OpenAI(max_retries=float("inf"))
    """,
]


class ExcessiveSdkRetries(Rule):
    """
    ## What it does
    `OpenAI(max_retries=50)`, `AsyncAnthropic(max_retries=100)`, `client.with_options(
    max_retries=20)`, `ChatOpenAI(max_retries=30)`: more automatic retries than the threshold
    (default 5; `[tool.tokenbudget.check] max-sdk-retries = N` changes it).

    ## Why is this bad?
    The SDKs already retry connection errors, timeouts, 408/409/429 and 5xx twice with backoff.
    A large count turns one slow request into minutes of hanging: an oversized prompt that times out
    is re-sent, and re-billed, on every attempt, and a rate-limited batch keeps hammering instead of
    failing so the caller can back off. The failure the user needed to see arrives late or never.

    ## Example
    ```python
    client = OpenAI(max_retries=50)        # TB302
    ```

    ## Fix
    Keep the SDK default (2) or a small number, and handle what is left where you can act on
    it (shrink the prompt, queue the job, surface the error):
    ```python
    client = OpenAI(max_retries=3, timeout=60)
    ```

    ## Not a finding
    Counts at or below the threshold, and `max_retries` of things that are not LLM
    SDK clients.
    """

    code = CODE
    name = NAME
    message = "an SDK client built with a very large `max_retries`"
    # `max_retries=` on a call whose last name is a client class or `with_options` (`find` reads
    # both from the source text).
    triggers = ((r"max_retries", r"with_options|OpenAI|Anthropic|ChatLiteLLM"),)
    VALID = [textwrap.dedent(example) for example in VALID] + [
        # The threshold is configurable: [tool.tokenbudget.check] max-sdk-retries = 10
        Valid("from openai import OpenAI\nclient = OpenAI(max_retries=10)\n", config={"max-sdk-retries": 10}),
    ]
    INVALID = [textwrap.dedent(example) for example in INVALID] + [
        Invalid("from openai import OpenAI\nclient = OpenAI(max_retries=3)\n", line=2, column=17,
                message_contains="threshold 2", config={"max-sdk-retries": 2}),
    ]

    def finish(self) -> None:
        threshold = max_retries_threshold(self.context.settings.options)
        for node, message in find(self.context.index, threshold):
            self.report(node, message)


OPTION = "max-sdk-retries"


def max_retries_threshold(options) -> int:
    """`[tool.tokenbudget.check] max-sdk-retries = N` (also spelled max_sdk_retries)."""
    value = options.get(OPTION, options.get(OPTION.replace("-", "_"), DEFAULT_MAX_RETRIES))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"[tool.tokenbudget.check] {OPTION} must be a whole number >= 0, got {value!r}; "
                         f"for example: {OPTION} = {DEFAULT_MAX_RETRIES}")
    return value
