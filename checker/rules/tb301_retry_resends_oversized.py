"""TB301: a retry around an LLM call that re-sends the same request after a 400.

The rule's documentation is the docstring of RetryResendsOversized below (`tokenbudget rule TB301`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Iterator

import libcst as cst

from checker.rule import Rule

from ._ast_gate import (_SDK_LAST, Aliases, argument_values, dotted_name, identifier_of, import_origins, last_names,
                        may_be_llm_call, qualified_names)
from ._index import ModuleIndex, dotted, has_word, keyword_arg, last_name, names_in, positional_args, index_module
from ._llm import _LITELLM_FUNCTIONS, SENDS_TRIGGER, is_llm_call, through_sink

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
                yield handler, (f"retry loop catches {', '.join(broad)} around an LLM call{through_sink(call)} and sends the same "
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

def _function_send(function: cst.FunctionDef, index: ModuleIndex) -> cst.Call | None:
    """The first LLM request the function itself makes, if any."""
    return next((c for c in index.calls_in(function.body) if index.scope_of(c) is function
                 and (is_llm_call(c, index, broad=False) or (is_llm_call(c, index) and _is_framework_send(c)))), None)


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
            send = _function_send(function, index) if message else None
            if send is not None:
                through = through_sink(send)
                yield decorator, message + (f" The request is sent{through.rstrip(')').replace(' (', ' ', 1)}." if through else "")


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
    # No retry word anywhere: the loop variable is `i`, the handler a bare except.
    """
    async def ask(client, messages):
        for i in range(3):
            try:
                return await client.messages.create(model="claude-sonnet-4-5", max_tokens=512, messages=messages)
            except:
                pass
    """,
    # The retry count is only named in a comment inside the `while` test.
    """
    def ask(client, items):
        count = 0
        while (count  # retries so far
               < 3):
            try:
                return client.chat.completions.create(model="gpt-4o", messages=items)
            except Exception:
                count += 1
    """,
]



# ---- ast prefilter: `find`'s three shapes on CPython's ast --------------------------------------

_FRAMEWORK_SENDS = frozenset({"invoke", "ainvoke", "complete", "acomplete", "chat", "achat"})  # `_is_framework_send`
_STRICT_LAST = _SDK_LAST | frozenset(_LITELLM_FUNCTIONS)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


class _Module:
    """What the gate's tests share: the module's import origins, read once when first needed."""

    def __init__(self, nodes) -> None:
        self.nodes = nodes
        self._origins = None
        self.aliases = Aliases(nodes)

    def origins(self, name: str) -> set[str]:
        if self._origins is None:
            self._origins = import_origins(self.nodes)
        return self._origins.get(name, set())

    def last_of_origins(self, name: str) -> set[str]:
        return {origin.rsplit(".", 1)[-1] for origin in self.origins(name)}

    def strict_send(self, call: ast.Call) -> bool:
        """A superset of `is_llm_call(c, broad=False) or (is_llm_call(c) and _is_framework_send(c))`:
        an SDK / LiteLLM method name, or a framework verb called on something with arguments."""
        func = call.func
        if isinstance(func, ast.Attribute):
            return func.attr in _STRICT_LAST or (func.attr in _FRAMEWORK_SENDS and bool(call.args or call.keywords))
        if isinstance(func, ast.Name):
            return func.id in _STRICT_LAST or not _STRICT_LAST.isdisjoint(self.last_of_origins(func.id))
        return False

    def qualified(self, expr) -> set[str]:
        """Every value `index.qualified(expr)` may have."""
        if self._origins is None:
            self._origins = import_origins(self.nodes)
        return qualified_names(expr, self._origins)


def _walk(statements, stop=()):
    """Every node under ``statements``, not entering nodes of the ``stop`` kinds."""
    stack = list(statements)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, stop):
            stack.extend(ast.iter_child_nodes(node))


def _ast_names(exprs) -> set[str]:
    """A subset of `names_in`: names and dotted attribute chains (libcst also adds attribute and
    keyword names), so an overlap found here is one the rule finds too."""
    found: set[str] = set()
    for expr in exprs:
        for node in ast.walk(expr):
            if isinstance(node, ast.Name):
                found.add(node.id)
            elif isinstance(node, ast.Attribute):
                text = dotted_name(node)
                if text is not None:
                    found.add(text)
    return found


def _has_no_names(expr) -> bool:
    """`not names_in(expr)`: libcst has a Name for every name, attribute, keyword, lambda
    parameter and True / False / None."""
    for node in ast.walk(expr):
        if isinstance(node, (ast.Name, ast.Attribute, ast.arg)) or (isinstance(node, ast.keyword) and node.arg) or \
                (isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool))):
            return False
    return True


def _constant_content_ast(call: ast.Call) -> bool:
    """`_constant_content`: only keyword arguments, no `**`, content keywords all literals."""
    content = [k.value for k in call.keywords if k.arg in _CONTENT_KEYWORDS]
    if not content or call.args or any(k.arg is None for k in call.keywords):
        return False
    return all(_has_no_names(value) for value in content)


def _is_broad_type(expr) -> bool:
    return any(name in _BROAD and not _is_transient(name) for name in last_names(expr) if name)


def _broad_types_ast(expr) -> bool:
    """`_broad_types(expr)` is not empty."""
    exprs = expr.elts if isinstance(expr, (ast.Tuple, ast.List)) else [expr]
    return any(_is_broad_type(e.value if isinstance(e, ast.Starred) else e) for e in exprs)


def _broad_filter(expr) -> bool:
    """`_broad_in_retry_filter(expr)` is not empty (any argument where the rule reads the first)."""
    if isinstance(expr, ast.BinOp):
        if isinstance(expr.op, ast.BitAnd):
            return _broad_filter(expr.left) and _broad_filter(expr.right)
        return _broad_filter(expr.left) or _broad_filter(expr.right)
    if not isinstance(expr, ast.Call):
        return False
    values = argument_values(expr)
    names = last_names(expr.func)
    if "retry_if_exception_type" in names and (not values or any(_broad_types_ast(v) for v in values)):
        return True
    if "retry_any" in names and any(_broad_filter(v) for v in values):
        return True
    return "retry_all" in names and bool(values) and all(_broad_filter(v) for v in values)


def _tenacity_may_complain(call) -> bool:
    """`_tenacity_problem(call)` may give a message."""
    if call is None:
        return True
    retry = [k.value for k in call.keywords if k.arg == "retry"]
    return not retry or _broad_filter(retry[0])


def _backoff_may_complain(call) -> bool:
    """`_backoff_problem(call)` may give a message."""
    if call is None or any(k.arg == "giveup" for k in call.keywords):
        return False
    exception = [k.value for k in call.keywords if k.arg == "exception"]
    if not exception:
        positional = [a for a in call.args if not isinstance(a, ast.Starred)]
        if len(positional) < 2:
            return False
        exception = [positional[1]]
    return _broad_types_ast(exception[0])


def _contains_stop_ast(statements) -> bool:
    return any(isinstance(n, (ast.Raise, ast.Return, ast.Break))
               for n in _walk(statements, (*_DEFS, ast.Lambda)))


def _direct_trys_ast(loop) -> list:
    """`_direct_trys`: `try` statements in the loop body, not inside a nested loop or function."""
    return [n for n in _walk(loop.body, (*_LOOPS, *_DEFS)) if isinstance(n, ast.Try)]


def _test_may_name_retries(test) -> bool:
    """`any(w in index.code(loop.test).lower() for w in ("retr", "attempt", "tries", "try"))`.
    A one-line test without strings holds only identifiers, keywords, numbers and operators; a
    test over several lines may hold a comment, and a literal's code may differ from its value."""
    if getattr(test, "end_lineno", test.lineno) != test.lineno:
        return True
    words = []
    for node in ast.walk(test):
        if isinstance(node, (ast.JoinedStr, ast.Constant)) and isinstance(getattr(node, "value", ""), (str, bytes)):
            return True
        name = identifier_of(node)
        if name:
            words.append(name)
    text = " ".join(words).lower()
    return any(w in text for w in ("retr", "attempt", "tries", "try"))


def _is_retry_loop_ast(loop) -> bool:
    """`_is_retry_loop` (the `input(` test of a `while True` body left out)."""
    if isinstance(loop, (ast.For, ast.AsyncFor)):
        return isinstance(loop.iter, ast.Call) and "range" in last_names(loop.iter.func)
    if _test_may_name_retries(loop.test):
        return True
    test = loop.test
    if (isinstance(test, ast.Constant) and test.value is True) or (isinstance(test, ast.Name) and test.id.lower() == "true"):
        return any(_contains_stop_ast(t.body) or _contains_stop_ast(t.orelse) for t in _direct_trys_ast(loop))
    return False


def _loop_may_report(loop, module: _Module) -> bool:
    """`_loop_retries` for one loop, without the handler's guarded-stop test."""
    body = list(_walk(loop.body))
    if any(isinstance(n, ast.Call) and all(has_word(name, _SHRINK_WORDS) for name in last_names(n.func)) for n in body):
        return False  # `_shrinks(loop.body, ...)` by a trimming call, whatever the request
    changed: set[str] = set()  # names `_shrinks` sees reassigned, mutated or deleted
    for n in body:
        if isinstance(n, ast.Assign):
            for target in n.targets:
                changed.add(dotted_name(target) or "")
                if isinstance(target, ast.Subscript):
                    changed.add(dotted_name(target.value) or "")
        elif isinstance(n, ast.AugAssign):
            changed.add(dotted_name(n.target) or "")
        elif isinstance(n, ast.Delete):
            changed |= _ast_names(n.targets)
    changed.discard("")
    loop_names = _ast_names([loop.target]) if isinstance(loop, (ast.For, ast.AsyncFor)) else set()
    for try_node in _direct_trys_ast(loop):
        viable = False
        for call in _walk(try_node.body):
            if not isinstance(call, ast.Call) or not module.strict_send(call):
                continue
            request = _ast_names(argument_values(call))
            if request & loop_names or request & changed or _constant_content_ast(call):
                continue  # a batch loop, a re-built prompt, a fixed probe
            viable = True
            break
        if not viable:
            continue
        for handler in try_node.handlers:
            if handler.type is None or _broad_types_ast(handler.type):
                # The first broad handler: `_unconditional_stop` ends the rule's look at this try.
                if not any(isinstance(s, (ast.Raise, ast.Return, ast.Break)) for s in handler.body):
                    return True
                break
    return False


def _ast_may_report(nodes, settings) -> bool:
    """One of `find`'s three shapes, each around a call that may send to a model: a retry loop
    (`for ... in range(...)`, a `while` whose test names retries or is `True`) whose direct `try`
    has a broad first-reached handler that does not stop; a function under a tenacity `retry` /
    `backoff.on_exception` decorator that may retry a 400; a loop over a `Retrying(...)` object
    that may retry a 400."""
    module = _Module(nodes)
    for node in nodes:
        if isinstance(node, _LOOPS):
            if isinstance(node, (ast.For, ast.AsyncFor)) and isinstance(node.iter, ast.Call) and \
                    any(q.endswith("Retrying") for q in module.qualified(node.iter.func)) and _tenacity_may_complain(node.iter) and \
                    any(isinstance(n, ast.Call) and may_be_llm_call(n, module.aliases) for n in _walk(node.body)):
                return True
            if _is_retry_loop_ast(node) and _loop_may_report(node, module):
                return True
        elif isinstance(node, _DEFS) and node.decorator_list:
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                target = call.func if call is not None else decorator
                qualified = module.qualified(target)
                tenacity = "tenacity.retry" in qualified and _tenacity_may_complain(call)
                backoff = any(q.endswith("on_exception") and "backoff" in q for q in qualified) and \
                    _backoff_may_complain(call)
                if (tenacity or backoff) and any(isinstance(n, ast.Call) and module.strict_send(n)
                                                 for n in _walk(node.body, _DEFS)):
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
    # `_loop_retries` needs a `try` with handlers in a `for ... in range(...)` or `while` loop
    # (whatever the loop variable is called); `_decorator_retries` a name qualified as
    # `tenacity.retry` or `backoff...on_exception`, and `_retrying_objects` one ending in
    # `Retrying` (the import or the dotted name holds those words).
    # SENDS_TRIGGER first: rarer than the others, and already searched for TB203 in the same file.
    triggers = ((SENDS_TRIGGER, r"except", r"range|while"), (SENDS_TRIGGER, r"tenacity|Retrying"),
                (SENDS_TRIGGER, r"on_exception", r"backoff"))
    ast_may_report = staticmethod(_ast_may_report)
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(index_module(self.context.module)):
            self.report(node, message)
