"""TB301: a retry around an LLM call that re-sends the same request after a 400.

The rule's documentation is the docstring of RetryResendsOversized below (`tokenbudget rule TB301`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Iterable, Iterator

from checker.rule import Rule

from ._index import FUNCTIONS, LOOPS, ModuleIndex, dotted, has_word, iter_nodes, keyword_arg, last_name, names_in, \
    positional_args
from ._llm import SENDS_TRIGGER, is_llm_call, through_sink

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
_STOPS = (ast.Raise, ast.Return, ast.Break)
_FOR = (ast.For, ast.AsyncFor)


def _walk(statements: Iterable[ast.AST], stop: tuple[type, ...] = ()) -> Iterator[ast.AST]:
    """Every node under ``statements`` (in no particular order), not entering nodes of the
    ``stop`` kinds (which are themselves yielded)."""
    stack = list(statements)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, stop):
            stack.extend(ast.iter_child_nodes(node))


def _calls_in(statements: Iterable[ast.AST]) -> list[ast.Call]:
    """The calls under ``statements`` (a block's statement list), in pre-order."""
    return [node for statement in statements for node in iter_nodes(statement) if isinstance(node, ast.Call)]


def _exception_names(handler: ast.ExceptHandler) -> list[str] | None:
    """Last identifiers of the caught types; None for a bare `except:`."""
    if handler.type is None:
        return None
    exprs = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return [last_name(_unstarred(e)) or "?" for e in exprs]


def _unstarred(expr: ast.expr) -> ast.expr:
    return expr.value if isinstance(expr, ast.Starred) else expr


def _is_transient(name: str) -> bool:
    lowered = name.lower()
    return any(h in lowered for h in _TRANSIENT_HINTS)


def _broad_names(names: list[str] | None) -> list[str]:
    if names is None:
        return ["everything (bare except)"]
    return [n for n in names if n in _BROAD and not _is_transient(n)]


def _contains_stop(statements: list[ast.stmt]) -> bool:
    """Is there a raise / return / break in ``statements`` that is not inside a nested function?"""
    return any(isinstance(n, _STOPS) for n in _walk(statements, (*FUNCTIONS, ast.Lambda)))


def _unconditional_stop(body: list[ast.stmt]) -> bool:
    """The handler's top level always leaves the loop (`raise`, `return`, `break`)."""
    return any(isinstance(statement, _STOPS) for statement in body)


def _guarded_stop(handler: ast.ExceptHandler, index: ModuleIndex) -> bool:
    """An `if <test about status/context length/retryability>: raise|return|break` in the
    handler (or a call to a function whose name says it decides retryability)."""
    for statement in _walk(handler.body, FUNCTIONS):
        if not isinstance(statement, ast.If):
            continue
        test_code = index.code(statement.test).lower()
        if any(w in test_code for w in _STOP_TESTS) and _contains_stop(statement.body):
            if "attempt" in test_code and not any(w in test_code for w in ("context", "400", "status", "badrequest")):
                continue  # `if attempt == n - 1: raise` only ends the retries; earlier ones still re-send
            return True
    return False


def _shrinks(statements: list[ast.stmt], request_names: set[str]) -> bool:
    """The retry changes what it sends: reassigns/mutates a name the request reads, or calls a
    trimming helper."""
    for node in _walk(statements):
        if isinstance(node, ast.Assign):
            if any((dotted(t) or "") in request_names or _subscript_of(t, request_names) for t in node.targets):
                return True
        elif isinstance(node, ast.AugAssign):
            if (dotted(node.target) or "") in request_names:
                return True
        elif isinstance(node, ast.Delete):
            if names_in(node) & request_names:
                return True
        elif isinstance(node, ast.Call) and has_word(last_name(node.func), _SHRINK_WORDS):
            return True
    return False


def _subscript_of(target: ast.expr, names: set[str]) -> bool:
    return isinstance(target, ast.Subscript) and (dotted(target.value) or "") in names


_CONTENT_KEYWORDS = {"messages", "prompt", "input", "contents", "system", "instructions", "tools"}


def _constant_content(call: ast.Call) -> bool:
    """Every argument that carries content (messages, prompt, input...) is a literal with no
    identifier in it, and every argument is a keyword (nothing positional, no `*args` / `**kwargs`)."""
    content = [k.value for k in call.keywords if k.arg in _CONTENT_KEYWORDS]
    if not content or call.args or any(k.arg is None for k in call.keywords):
        return False
    return all(_has_no_identifier(value) for value in content)


def _has_no_identifier(expr: ast.expr) -> bool:
    """No name, attribute, keyword, lambda parameter or True / False / None anywhere in ``expr``:
    only literal data, so nothing the program computes can make the request grow."""
    for node in ast.walk(expr):
        if isinstance(node, (ast.Name, ast.Attribute, ast.arg)) or (isinstance(node, ast.keyword) and node.arg) or \
                (isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool))):
            return False
    return True


def _request_names(call: ast.Call) -> set[str]:
    names: set[str] = set()
    for arg in call.args:
        names |= names_in(arg)
    for keyword in call.keywords:
        names |= names_in(keyword.value)
    return names


def find(index: ModuleIndex) -> Iterator[tuple[ast.AST, str]]:
    yield from _loop_retries(index)
    yield from _decorator_retries(index)
    yield from _retrying_objects(index)


# ---- hand-written retry loops ----------------------------------------------------------------

def _is_send(call: ast.Call, index: ModuleIndex) -> bool:
    """A request to a model: an SDK / LiteLLM call or a project sink, or a framework verb
    (`llm.invoke(prompt)`) that is also a send in the broad sense."""
    return is_llm_call(call, index, broad=False) or (is_llm_call(call, index) and _is_framework_send(call))


def _loop_retries(index: ModuleIndex) -> Iterator[tuple[ast.AST, str]]:
    for loop in index.loops:
        if not _is_retry_loop(loop, index):
            continue
        for try_node in _direct_trys(loop):
            call = next((c for c in _calls_in(try_node.body) if _is_send(c, index)), None)
            if call is None:
                continue
            request = _request_names(call)
            if isinstance(loop, _FOR) and names_in(loop.target) & request:
                continue  # each iteration sends a different item: a batch loop, not a retry
            if _constant_content(call):
                continue  # a fixed probe ("hi", max_tokens=1) cannot be oversized
            if _shrinks(loop.body, request):
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
                if _shrinks(handler.body, request):
                    break
                yield handler, (f"retry loop catches {', '.join(broad)} around an LLM call{through_sink(call)} and sends the same "
                                "request again: a prompt over the context window fails with a 400 on every "
                                "attempt. Retry only transient errors (rate limit, connection, timeout, 5xx) "
                                "and re-raise the rest.")
                break


def _is_framework_send(call: ast.Call) -> bool:
    return last_name(call.func) in {"invoke", "ainvoke", "complete", "acomplete", "chat", "achat"}


def _is_retry_loop(loop: ast.stmt, index: ModuleIndex) -> bool:
    if isinstance(loop, _FOR):
        iterator = loop.iter
        return isinstance(iterator, ast.Call) and last_name(iterator.func) == "range"
    if isinstance(loop, ast.While):
        test, body = _while_texts(loop, index)
        test = test.lower()
        if any(w in test for w in ("retr", "attempt", "tries", "try")):
            return True
        if test == "true":
            # `while True:` is a retry only if success leaves the loop right after the call
            # (a chat REPL that reads input each turn is TB401's business).
            return "input(" not in body and _success_exits(loop)
    return False


def _while_texts(loop: ast.While, index: ModuleIndex) -> tuple[str, str]:
    """The source of a `while` loop's test as written between `while` and `:` (with its
    parentheses and any comment inside them, which name retries as often as the code does),
    and of its body from just after the `:` (the header's comment included)."""
    test, first, last = loop.test, loop.body[0], loop.body[-1]
    before = index.code(_span(loop.lineno, loop.col_offset, test.lineno, test.col_offset))[len("while"):]
    after = index.code(_span(test.end_lineno, test.end_col_offset, first.lineno, first.col_offset))
    colon = _header_colon(after)
    body = after[colon + 1:] + index.code(_span(first.lineno, first.col_offset, last.end_lineno, last.end_col_offset))
    return (before + index.code(test) + after[:colon]).strip(), body


def _span(lineno: int, col_offset: int, end_lineno: int | None, end_col_offset: int | None) -> ast.AST:
    """A node-less source range, for `index.code` of text between two nodes."""
    span = ast.AST()
    span.lineno, span.col_offset, span.end_lineno, span.end_col_offset = lineno, col_offset, end_lineno, end_col_offset
    return span


def _header_colon(text: str) -> int:
    """Offset of the `:` that ends a compound statement's header in ``text`` (what follows its
    test: closing parentheses, whitespace, comments), or len(text)."""
    position = 0
    while position < len(text):
        char = text[position]
        if char == ":":
            return position
        if char == "#":
            newline = text.find("\n", position)
            position = len(text) if newline < 0 else newline
        position += 1
    return len(text)


def _success_exits(loop: ast.While) -> bool:
    return any(_contains_stop(t.body) or _contains_stop(t.orelse) for t in _direct_trys(loop))


def _direct_trys(loop: ast.stmt) -> list[ast.Try]:
    """`try` statements in the loop body, not inside a nested loop or function."""
    return [n for n in _walk(loop.body, (*LOOPS, *FUNCTIONS)) if isinstance(n, ast.Try)]


# ---- tenacity / backoff decorators -----------------------------------------------------------

def _function_send(function: ast.FunctionDef | ast.AsyncFunctionDef, index: ModuleIndex) -> ast.Call | None:
    """The first LLM request the function itself makes, if any."""
    return next((c for c in _calls_in(function.body) if index.scope_of(c) is function and _is_send(c, index)), None)


def _decorator_retries(index: ModuleIndex) -> Iterator[tuple[ast.AST, str]]:
    for function in index.functions:
        for expr in function.decorator_list:
            call = expr if isinstance(expr, ast.Call) else None
            target = index.qualified(call.func if call else expr) or ""
            if target == "tenacity.retry":
                message = _tenacity_problem(call)
            elif target.endswith("on_exception") and "backoff" in target:
                message = _backoff_problem(call)
            else:
                continue
            send = _function_send(function, index) if message else None
            if send is not None:
                through = through_sink(send)
                yield _decorator(expr, index), \
                    message + (f" The request is sent{through.rstrip(')').replace(' (', ' ', 1)}." if through else "")


def _decorator(expr: ast.expr, index: ModuleIndex) -> ast.AST:
    """The range of the whole decorator, from its `@` (the diagnostic's column, as before the
    rule was on ast) to the end of the expression; the expression itself when the `@` is not
    on its line."""
    line = index.line_text(expr).split("\n", 1)[0]
    # Before the expression on its line: indentation, `@`, blanks and parentheses, all ASCII, so
    # the byte offset is the character offset.
    at = line[:expr.col_offset].rfind("@")
    if at < 0:
        return expr
    return _span(expr.lineno, at, expr.end_lineno, expr.end_col_offset)


def _tenacity_problem(call: ast.Call | None) -> str | None:
    retry_arg = keyword_arg(call, "retry") if call is not None else None
    if retry_arg is None:
        return ("tenacity retry without a `retry=` filter retries every exception, including the 400 a "
                "prompt over the context window gets, and re-sends the same request each time. Add "
                "retry=retry_if_exception_type((RateLimitError, APIConnectionError, APITimeoutError, "
                "InternalServerError)).")
    broad = _broad_in_retry_filter(retry_arg.value)
    if broad:
        return (f"tenacity `retry=` admits {', '.join(broad)}, which includes the 400 a prompt over the "
                "context window gets; the same request is re-sent each attempt. Retry only transient "
                "errors (rate limit, connection, timeout, 5xx).")
    return None


def _argument_values(call: ast.Call) -> list[ast.expr]:
    """Every argument's expression, positional (what a `*` stars) then keyword (what a `**` unpacks)."""
    return [_unstarred(a) for a in call.args] + [k.value for k in call.keywords]


def _broad_in_retry_filter(expr: ast.expr) -> list[str]:
    """Broad exception types admitted by a tenacity retry condition (`|` / `&` combined)."""
    if isinstance(expr, ast.BinOp):
        if isinstance(expr.op, ast.BitAnd):
            left = _broad_in_retry_filter(expr.left)
            right = _broad_in_retry_filter(expr.right)
            return left if left and right else []
        return _broad_in_retry_filter(expr.left) + _broad_in_retry_filter(expr.right)
    if not isinstance(expr, ast.Call):
        return []
    name = last_name(expr.func) or ""
    values = _argument_values(expr)
    if name == "retry_if_exception_type":
        if not values:
            return ["Exception"]
        return _broad_types(values[0])
    if name == "retry_any":
        out: list[str] = []
        for value in values:
            out += _broad_in_retry_filter(value)
        return out
    if name == "retry_all":
        results = [_broad_in_retry_filter(value) for value in values]
        return results[0] if results and all(results) else []
    return []  # retry_if_not_exception_type, retry_if_exception(pred), retry_if_result: filtered


def _broad_types(expr: ast.expr) -> list[str]:
    exprs = expr.elts if isinstance(expr, (ast.Tuple, ast.List)) else [expr]
    return [n for n in (last_name(_unstarred(e)) or "" for e in exprs) if n in _BROAD and not _is_transient(n)]


def _backoff_problem(call: ast.Call | None) -> str | None:
    if call is None:
        return None
    if keyword_arg(call, "giveup") is not None:
        return None
    exception_arg = keyword_arg(call, "exception")
    if exception_arg is not None:
        exceptions = exception_arg.value
    else:
        positional = positional_args(call)
        if len(positional) < 2:
            return None
        exceptions = positional[1]
    broad = _broad_types(exceptions)
    if not broad:
        return None
    return (f"backoff.on_exception retries on {', '.join(broad)} without a `giveup=`, so a 400 for a "
            "prompt over the context window is re-sent until max_tries. Retry transient errors only, or "
            "add giveup=lambda e: getattr(e, 'status_code', None) == 400.")


def _retrying_objects(index: ModuleIndex) -> Iterator[tuple[ast.AST, str]]:
    """`for attempt in Retrying(...): with attempt: client....create(...)`."""
    for loop in index.loops:
        if not isinstance(loop, _FOR) or not isinstance(loop.iter, ast.Call):
            continue
        target = index.qualified(loop.iter.func) or ""
        if not target.endswith(("Retrying", "AsyncRetrying")):
            continue
        if not any(is_llm_call(c, index) for c in _calls_in(loop.body)):
            continue
        message = _tenacity_problem(loop.iter)
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
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(self.context.index):
            self.report(node, message)
