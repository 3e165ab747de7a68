"""TB301: a retry around an LLM call that re-sends the same request after a 400.

The rule's documentation is the docstring of RetryResendsOversized below (`tokenbudget rule TB301`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Iterator

import libcst as cst

from checker.rule import Rule

from ._ast_gate import Aliases, identifier_text, last_identifier, may_be_llm_call
from ._index import ModuleIndex, dotted, has_word, keyword_arg, last_name, names_in, positional_args, index_module
from ._llm import SENDS_TRIGGER, is_llm_call

CODE = "TB301"
NAME = "retry-resends-oversized"

# Exception names that include 400 Bad Request (and so the context-length error).
_BROAD = {"Exception", "BaseException", "APIError", "APIStatusError", "OpenAIError", "AnthropicError",
          "BadRequestError", "InvalidRequestError", "Error", "APIResponseValidationError",
          "HTTPStatusError", "HTTPError", "RequestException", "ClientError", "LLMError",
          "ContextWindowExceededError", "ContextLengthExceededError"}
# Names that are transient by nature.
_TRANSIENT_HINTS = ("ratelimit", "timeout", "connection", "unavailable", "internalserver", "overloaded",
                    "servererror", "gateway", "throttl", "toomanyrequests", "retryable", "transient",
                    "temporar", "conflict", "5xx")
# Words that show a handler tests for the non-retryable case before going round again.
_STOP_TESTS = ("context", "length", "400", "badrequest", "bad_request", "invalid", "too long",
               "too_long", "maximum", "max_tokens", "token", "status", "code", "retryable",
               "transient", "should_retry", "isinstance")
_SHRINK_WORDS = ("trim", "truncat", "shrink", "summar", "compress", "prune", "reduce", "shorten",
                 "cut", "fit", "clip", "pop")


def _exception_names(handler: cst.ExceptHandler) -> list[str] | None:
    """Last identifiers of the caught types; None for a bare `except:`."""
    if handler.type is None:
        return None
    types = handler.type.elements if isinstance(handler.type, cst.Tuple) else None
    exprs = [e.value for e in types] if types is not None else [handler.type]
    return [last_name(e) or "?" for e in exprs]


def _is_transient(name: str) -> bool:
    lowered = name.lower()
    return any(h in lowered for h in _TRANSIENT_HINTS)


def _broad_names(names: list[str] | None) -> list[str]:
    if names is None:
        return ["everything (bare except)"]
    return [n for n in names if n in _BROAD and not _is_transient(n)]


def _contains_stop(node: cst.CSTNode) -> bool:
    """Does `node` contain a raise / return / break that is not inside a nested function?"""
    found = False

    class _V(cst.CSTVisitor):
        def visit_FunctionDef(self, n):
            return False

        def visit_Lambda(self, n):
            return False

        def visit_Raise(self, n):
            nonlocal found
            found = True

        def visit_Return(self, n):
            nonlocal found
            found = True

        def visit_Break(self, n):
            nonlocal found
            found = True

    node.visit(_V())
    return found


def _unconditional_stop(body: cst.BaseSuite) -> bool:
    """The handler's top level always leaves the loop (`raise`, `return`, `break`)."""
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for statement in statements:
        small = statement.body if isinstance(statement, cst.SimpleStatementLine) else []
        for s in small:
            if isinstance(s, (cst.Raise, cst.Return, cst.Break)):
                return True
    return False


def _guarded_stop(handler: cst.ExceptHandler, index: ModuleIndex) -> bool:
    """An `if <test about status/context length/retryability>: raise|return|break` in the
    handler (or a call to a function whose name says it decides retryability)."""
    for statement in _walk_ifs(handler.body):
        test_code = index.code(statement.test).lower()
        if any(w in test_code for w in _STOP_TESTS) and _contains_stop(statement.body):
            if "attempt" in test_code and not any(w in test_code for w in ("context", "400", "status", "badrequest")):
                continue  # `if attempt == n - 1: raise` only ends the retries; earlier ones still re-send
            return True
    return False


def _walk_ifs(node: cst.CSTNode) -> Iterator[cst.If]:
    found: list[cst.If] = []

    class _V(cst.CSTVisitor):
        def visit_If(self, n):
            found.append(n)

        def visit_FunctionDef(self, n):
            return False

    node.visit(_V())
    return iter(found)


def _shrinks(handler_or_body: cst.CSTNode, request_names: set[str], index: ModuleIndex) -> bool:
    """The retry changes what it sends: reassigns/mutates a name the request reads, or calls a
    trimming helper."""
    found = False

    class _V(cst.CSTVisitor):
        def visit_Assign(self, n):
            nonlocal found
            for t in n.targets:
                if (dotted(t.target) or "") in request_names or _subscript_of(t.target, request_names):
                    found = True

        def visit_AugAssign(self, n):
            nonlocal found
            if (dotted(n.target) or "") in request_names:
                found = True

        def visit_Del(self, n):
            nonlocal found
            if names_in(n) & request_names:
                found = True

        def visit_Call(self, n):
            nonlocal found
            if has_word(last_name(n.func), _SHRINK_WORDS):
                found = True

    handler_or_body.visit(_V())
    return found


def _subscript_of(target: cst.BaseExpression, names: set[str]) -> bool:
    return isinstance(target, cst.Subscript) and (dotted(target.value) or "") in names


_CONTENT_KEYWORDS = {"messages", "prompt", "input", "contents", "system", "instructions", "tools"}


def _constant_content(call: cst.Call) -> bool:
    """Every argument that carries content (messages, prompt, input...) is a literal with no
    variable in it, and nothing arrives through `*args` / `**kwargs`."""
    content = [a for a in call.args if a.keyword is not None and a.keyword.value in _CONTENT_KEYWORDS]
    if not content or any(a.star for a in call.args) or \
            any(a.keyword is None for a in call.args):
        return False
    return all(not names_in(a.value) for a in content)


def _request_names(call: cst.Call) -> set[str]:
    names: set[str] = set()
    for arg in call.args:
        names |= names_in(arg.value)
    return names


def find(index: ModuleIndex) -> Iterator[tuple[cst.CSTNode, str]]:
    yield from _loop_retries(index)
    yield from _decorator_retries(index)
    yield from _retrying_objects(index)


# ---- hand-written retry loops ----------------------------------------------------------------

def _loop_retries(index: ModuleIndex) -> Iterator[tuple[cst.CSTNode, str]]:
    for loop in index.loops:
        if not _is_retry_loop(loop, index):
            continue
        for try_node in _direct_trys(loop):
            llm_calls = [c for c in index.calls_in(try_node.body) if is_llm_call(c, index, broad=False)
                         or is_llm_call(c, index) and _is_framework_send(c)]
            if not llm_calls:
                continue
            call = llm_calls[0]
            if isinstance(loop, cst.For) and names_in(loop.target) & _request_names(call):
                continue  # each iteration sends a different item: a batch loop, not a retry
            if _constant_content(call):
                continue  # a fixed probe ("hi", max_tokens=1) cannot be oversized
            request = _request_names(call)
            if _shrinks(loop.body, request, index):
                continue  # the prompt is re-built or re-checked on each attempt
            handled_narrowly = False
            for handler in try_node.handlers:
                caught = _exception_names(handler)
                broad = _broad_names(caught)
                if not broad:
                    names = caught or []
                    if any(n in {"BadRequestError", "InvalidRequestError", "ContextWindowExceededError"}
                           for n in names) and _contains_stop(handler.body):
                        handled_narrowly = True
                    continue
                if handled_narrowly:
                    break
                if _unconditional_stop(handler.body) or _guarded_stop(handler, index):
                    break
                if _shrinks(handler.body, request, index):
                    break
                yield handler, (f"retry loop catches {', '.join(broad)} around an LLM call and sends the same "
                                "request again: a prompt over the context window fails with a 400 on every "
                                "attempt. Retry only transient errors (rate limit, connection, timeout, 5xx) "
                                "and re-raise the rest.")
                break


def _is_framework_send(call: cst.Call) -> bool:
    return last_name(call.func) in {"invoke", "ainvoke", "complete", "acomplete", "chat", "achat"}


def _is_retry_loop(loop: cst.CSTNode, index: ModuleIndex) -> bool:
    if isinstance(loop, cst.For):
        iterator = loop.iter
        if isinstance(iterator, cst.Call) and last_name(iterator.func) == "range":
            return True
        return False
    if isinstance(loop, cst.While):
        test = index.code(loop.test).lower()
        if any(w in test for w in ("retr", "attempt", "tries", "try")):
            return True
        if test.strip() == "true":
            # `while True:` is a retry only if success leaves the loop right after the call
            # (a chat REPL that reads input each turn is TB401's business).
            body_code = index.code(loop.body)
            return "input(" not in body_code and _success_exits(loop)
    return False


def _success_exits(loop: cst.While) -> bool:
    for try_node in _direct_trys(loop):
        if _contains_stop(try_node.body) or (try_node.orelse is not None and _contains_stop(try_node.orelse)):
            return True
    return False


def _direct_trys(loop: cst.CSTNode) -> list[cst.Try]:
    """`try` statements in the loop body, not inside a nested loop or function."""
    found: list[cst.Try] = []

    class _V(cst.CSTVisitor):
        def visit_Try(self, n):
            found.append(n)

        def visit_For(self, n):
            return False

        def visit_While(self, n):
            return False

        def visit_FunctionDef(self, n):
            return False

    loop.body.visit(_V())
    return found


# ---- tenacity / backoff decorators -----------------------------------------------------------

def _function_sends(function: cst.FunctionDef, index: ModuleIndex) -> bool:
    return any(is_llm_call(c, index, broad=False) or (is_llm_call(c, index) and _is_framework_send(c))
               for c in index.calls_in(function.body) if index.scope_of(c) is function)


def _decorator_retries(index: ModuleIndex) -> Iterator[tuple[cst.CSTNode, str]]:
    for function in index.functions:
        for decorator in function.decorators:
            expr = decorator.decorator
            call = expr if isinstance(expr, cst.Call) else None
            target = index.qualified(call.func if call else expr) or ""
            if target == "tenacity.retry":
                message = _tenacity_problem(call, index)
            elif target.endswith("on_exception") and "backoff" in target:
                message = _backoff_problem(call, index)
            else:
                continue
            if message and _function_sends(function, index):
                yield decorator, message


def _tenacity_problem(call: cst.Call | None, index: ModuleIndex) -> str | None:
    retry_arg = keyword_arg(call, "retry") if call is not None else None
    if retry_arg is None:
        return ("tenacity retry without a `retry=` filter retries every exception, including the 400 a "
                "prompt over the context window gets, and re-sends the same request each time. Add "
                "retry=retry_if_exception_type((RateLimitError, APIConnectionError, APITimeoutError, "
                "InternalServerError)).")
    broad = _broad_in_retry_filter(retry_arg.value, index)
    if broad:
        return (f"tenacity `retry=` admits {', '.join(broad)}, which includes the 400 a prompt over the "
                "context window gets; the same request is re-sent each attempt. Retry only transient "
                "errors (rate limit, connection, timeout, 5xx).")
    return None


def _broad_in_retry_filter(expr: cst.BaseExpression, index: ModuleIndex) -> list[str]:
    """Broad exception types admitted by a tenacity retry condition (`|` / `&` combined)."""
    if isinstance(expr, cst.BinaryOperation):
        if isinstance(expr.operator, cst.BitAnd):
            left = _broad_in_retry_filter(expr.left, index)
            right = _broad_in_retry_filter(expr.right, index)
            return left if left and right else []
        return _broad_in_retry_filter(expr.left, index) + _broad_in_retry_filter(expr.right, index)
    if not isinstance(expr, cst.Call):
        return []
    name = last_name(expr.func) or ""
    if name == "retry_if_exception_type":
        if not expr.args:
            return ["Exception"]
        return _broad_types(expr.args[0].value)
    if name in {"retry_any"}:
        out: list[str] = []
        for arg in expr.args:
            out += _broad_in_retry_filter(arg.value, index)
        return out
    if name == "retry_all":
        results = [_broad_in_retry_filter(a.value, index) for a in expr.args]
        return results[0] if results and all(results) else []
    return []  # retry_if_not_exception_type, retry_if_exception(pred), retry_if_result: filtered


def _broad_types(expr: cst.BaseExpression) -> list[str]:
    exprs = [e.value for e in expr.elements] if isinstance(expr, (cst.Tuple, cst.List)) else [expr]
    return [n for n in (last_name(e) or "" for e in exprs) if n in _BROAD and not _is_transient(n)]


def _backoff_problem(call: cst.Call | None, index: ModuleIndex) -> str | None:
    if call is None:
        return None
    if keyword_arg(call, "giveup") is not None:
        return None
    exception_arg = keyword_arg(call, "exception")
    if exception_arg is None:
        positional = positional_args(call)
        if len(positional) < 2:
            return None
        exception_arg = positional[1]
    broad = _broad_types(exception_arg.value)
    if not broad:
        return None
    return (f"backoff.on_exception retries on {', '.join(broad)} without a `giveup=`, so a 400 for a "
            "prompt over the context window is re-sent until max_tries. Retry transient errors only, or "
            "add giveup=lambda e: getattr(e, 'status_code', None) == 400.")


def _retrying_objects(index: ModuleIndex) -> Iterator[tuple[cst.CSTNode, str]]:
    """`for attempt in Retrying(...): with attempt: client....create(...)`."""
    for loop in index.loops:
        if not isinstance(loop, cst.For) or not isinstance(loop.iter, cst.Call):
            continue
        target = index.qualified(loop.iter.func) or ""
        if not target.endswith(("Retrying", "AsyncRetrying")):
            continue
        if not any(is_llm_call(c, index) for c in index.calls_in(loop.body)):
            continue
        message = _tenacity_problem(loop.iter, index)
        if message:
            yield loop.iter, message.replace("tenacity retry", "tenacity Retrying()")


VALID = [
    # Transient errors only.
    """
    import time, openai
    def ask(client, messages):
        for attempt in range(5):
            try:
                return client.chat.completions.create(model="gpt-4o", messages=messages)
            except (openai.RateLimitError, openai.APIConnectionError, openai.InternalServerError):
                time.sleep(2 ** attempt)
        raise RuntimeError("gave up")
    """,
    # Broad catch, but a 400 / context-length error stops the loop.
    """
    import time
    def ask(client, messages):
        for attempt in range(3):
            try:
                return client.chat.completions.create(model="gpt-4o", messages=messages)
            except Exception as e:
                if "context_length_exceeded" in str(e):
                    raise
                time.sleep(1)
    """,
    # BadRequestError handled first and re-raised.
    """
    import anthropic, time
    def ask(client, prompt):
        for _ in range(4):
            try:
                return client.messages.create(model="claude-sonnet-4-5", max_tokens=1024,
                                              messages=[{"role": "user", "content": prompt}])
            except anthropic.BadRequestError:
                raise
            except anthropic.APIError:
                time.sleep(5)
    """,
    # The handler shrinks the prompt before going round again.
    """
    def ask(client, messages):
        for attempt in range(3):
            try:
                return client.chat.completions.create(model="gpt-4o", messages=messages)
            except Exception:
                messages = messages[:1] + messages[-4:]
    """,
    # tenacity limited to transient errors.
    """
    from openai import APITimeoutError, RateLimitError
    from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential
    @retry(retry=retry_if_exception_type((RateLimitError, APITimeoutError)),
           wait=wait_random_exponential(min=1, max=60), stop=stop_after_attempt(6))
    def completion_with_backoff(client, **kwargs):
        return client.chat.completions.create(**kwargs)
    """,
    # tenacity with a custom predicate.
    """
    from tenacity import retry, retry_if_exception, stop_after_attempt
    def is_transient(exc):
        return getattr(exc, "status_code", 500) >= 500
    @retry(retry=retry_if_exception(is_transient), stop=stop_after_attempt(4))
    def call(client, prompt):
        return client.responses.create(model="gpt-4.1", input=prompt)
    """,
    # backoff on rate limits only.
    """
    import backoff, openai
    @backoff.on_exception(backoff.expo, openai.RateLimitError, max_tries=6)
    def completions_with_backoff(client, **kwargs):
        return client.chat.completions.create(**kwargs)
    """,
    # backoff with a giveup on client errors.
    """
    import backoff
    @backoff.on_exception(backoff.expo, Exception, max_tries=5,
                          giveup=lambda e: getattr(e, "status_code", 0) == 400)
    def call(client, **kwargs):
        return client.chat.completions.create(**kwargs)
    """,
    # A batch loop: each iteration sends a different item.
    """
    def label_all(client, items):
        out = []
        for i in range(len(items)):
            try:
                out.append(client.chat.completions.create(model="gpt-4o-mini",
                           messages=[{"role": "user", "content": items[i]}]))
            except Exception:
                out.append(None)
        return out
    """,
    # The handler logs and re-raises: no retry.
    """
    import logging
    def ask(client, messages):
        for attempt in range(3):
            try:
                return client.chat.completions.create(model="gpt-4o", messages=messages)
            except Exception as e:
                logging.exception("failed")
                raise
    """,
    # A retry loop around a non-LLM call.
    """
    import time, requests
    def fetch(url):
        for attempt in range(5):
            try:
                return requests.get(url, timeout=10)
            except Exception:
                time.sleep(1)
    """,
    # Status-code check stops on 4xx.
    """
    import time, openai
    def ask(client, messages):
        while True:
            try:
                return client.chat.completions.create(model="gpt-4o", messages=messages)
            except openai.APIStatusError as e:
                if e.status_code < 500:
                    raise
                time.sleep(3)
    """,
    # tenacity that never retries BadRequestError.
    """
    import openai
    from tenacity import retry, retry_if_not_exception_type, stop_after_attempt
    @retry(retry=retry_if_not_exception_type(openai.BadRequestError), stop=stop_after_attempt(3))
    def ask(client, messages):
        return client.chat.completions.create(model="gpt-4o", messages=messages)
    """,
    # Polling an endpoint until it answers with a fixed one-token probe.
    """
    import time
    def wait_ready(client, model_name):
        for _ in range(30):
            try:
                client.chat.completions.create(messages=[{"role": "user", "content": "hi"}],
                                               model=model_name, max_tokens=1)
                return
            except Exception:
                time.sleep(60)
    """,
]

INVALID = [
    """
    import time
    def ask(client, messages):
        for attempt in range(5):
            try:
                return client.chat.completions.create(model="gpt-4o", messages=messages)
            except Exception:
                time.sleep(2 ** attempt)
    """,
    """
    import time
    def ask(client, prompt):
        retries = 0
        while retries < 3:
            try:
                return client.responses.create(model="gpt-4.1", input=prompt)
            except:
                retries += 1
                time.sleep(1)
    """,
    """
    import time, openai
    def ask(client, messages):
        for attempt in range(4):
            try:
                resp = client.chat.completions.create(model="gpt-4o", messages=messages)
                return resp.choices[0].message.content
            except openai.APIError as e:
                print(f"attempt {attempt} failed: {e}")
                time.sleep(10)
    """,
    """
    import time
    from openai import BadRequestError
    def ask(client, messages):
        for _ in range(3):
            try:
                return client.chat.completions.create(model="gpt-4o", messages=messages)
            except BadRequestError:
                time.sleep(1)
                continue
    """,
    """
    from tenacity import retry, stop_after_attempt, wait_random_exponential
    @retry(wait=wait_random_exponential(min=1, max=60), stop=stop_after_attempt(6))
    def completion_with_backoff(client, **kwargs):
        return client.chat.completions.create(**kwargs)
    """,
    """
    import tenacity
    @tenacity.retry(stop=tenacity.stop_after_attempt(3))
    def summarize(client, text):
        return client.messages.create(model="claude-3-5-sonnet-latest", max_tokens=1024,
                                      messages=[{"role": "user", "content": text}])
    """,
    """
    from tenacity import retry, retry_if_exception_type, stop_after_attempt
    @retry(retry=retry_if_exception_type(Exception), stop=stop_after_attempt(5))
    def call(client, prompt):
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
    """,
    """
    import backoff
    @backoff.on_exception(backoff.expo, Exception, max_tries=8)
    def call(client, **kwargs):
        return client.chat.completions.create(**kwargs)
    """,
    """
    import backoff, openai
    @backoff.on_exception(backoff.expo, (openai.RateLimitError, openai.APIError), max_time=120)
    def call(client, **kwargs):
        return client.chat.completions.create(**kwargs)
    """,
    """
    from tenacity import Retrying, stop_after_attempt
    def ask(client, messages):
        for attempt in Retrying(stop=stop_after_attempt(3)):
            with attempt:
                return client.chat.completions.create(model="gpt-4o", messages=messages)
    """,
    """
    import asyncio
    async def ask(client, messages, max_retries=5):
        for attempt in range(max_retries):
            try:
                return await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            except Exception as exc:
                if attempt == max_retries - 1:
                    raise
                await asyncio.sleep(2 ** attempt)
    """,
    """
    import time
    import litellm
    def complete(messages):
        while True:
            try:
                return litellm.completion(model="gpt-4o", messages=messages)
            except Exception as e:
                print("retrying", e)
                time.sleep(5)
    """,
    """
    import time
    def ask(llm, prompt):
        for attempt in range(3):
            try:
                return llm.invoke(prompt)
            except Exception:
                time.sleep(attempt + 1)
    """,
]



def _ast_may_report(nodes, settings) -> bool:
    """One of `find`'s three shapes, each around a call that may send to a model: a `try` in a
    `for ... in range(...)` / `while` loop, a function under a retry decorator, or a loop over a
    `Retrying(...)` object."""
    aliases = Aliases(nodes)

    def sends(statements) -> bool:
        return any(isinstance(n, ast.Call) and may_be_llm_call(n, aliases)
                   for statement in statements for n in ast.walk(statement))

    def callee(expr) -> str:
        name = last_identifier(expr) or ""
        return f"{name} {aliases.origin(name) or ''}" if isinstance(expr, ast.Name) else name

    for node in nodes:
        if isinstance(node, (ast.For, ast.AsyncFor)) and isinstance(node.iter, ast.Call):
            if callee(node.iter.func).endswith("Retrying") or "Retrying " in callee(node.iter.func):
                if sends(node.body):
                    return True
            if last_identifier(node.iter.func) != "range":
                continue
        elif not isinstance(node, ast.While):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
                for decorator in node.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    words = identifier_text(target) + " " + callee(target)
                    if ("retry" in words or "on_exception" in words) and sends(node.body):
                        return True
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Try) and sends(inner.body):
                return True
    return False


class RetryResendsOversized(Rule):
    """
    ## What it does
    A retry construct whose error filter includes client errors (400 Bad Request, which is
    what an over-long prompt gets) and that sends the unchanged request again:
      * `for attempt in range(n)` / `while` loops whose `except` catches `Exception`, `APIError`,
    ```python
    `APIStatusError`, `BadRequestError` (or everything) and goes round again;
    ```
      * tenacity `@retry` / `Retrying()` with no `retry=` filter, or one that admits such errors;
      * `backoff.on_exception(..., Exception)` (or `APIError`) without a `giveup=`.

    ## Why is this bad?
    A request over the context window fails with a 400 every time. Re-sending it unchanged
    never succeeds: it multiplies latency by the number of attempts and backoff, hides the real
    error behind a "retries exhausted" one, and with some gateways bills the input tokens of each
    attempt.

    ## Example
    ```python
    for attempt in range(5):
        try:
            return client.chat.completions.create(model=m, messages=messages)
        except Exception:                               # TB301
            time.sleep(2 ** attempt)
    ```

    ## Fix
    Retry only transient errors, and stop on the rest:
    ```python
    except (openai.RateLimitError, openai.APIConnectionError, openai.InternalServerError):
        time.sleep(2 ** attempt)
    ```
    or with tenacity: `@retry(retry=retry_if_exception_type((RateLimitError, APITimeoutError)), ...)`.

    ## Not a finding
    Retries limited to transient errors (rate limit, connection, timeout, 5xx);
    handlers that re-raise or stop on a context-length / 400 error (a `raise` guarded by a test of
    the status code or the error text, or an earlier `except BadRequestError: raise`); retries that
    shrink or re-check the prompt between attempts (the handler reassigns or trims what is sent).
    """

    code = CODE
    name = NAME
    message = "a retry around an LLM call that re-sends the same request after a 400"
    # A retry construct in a file that sends to a model.
    triggers = ((r"(?i)retr|backoff|attempt|tries|for _ in range\(|while true", SENDS_TRIGGER),)
    ast_may_report = staticmethod(_ast_may_report)
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(index_module(self.context.module)):
            self.report(node, message)
