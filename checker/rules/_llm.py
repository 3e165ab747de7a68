"""What the heuristic rules treat as an LLM request, a real tokenizer, and a log/display call.

The rules in this package look at what flows *into* a request (a prompt cut by characters, a
history that only grows, a retry that re-sends it), so they recognise requests broadly: the
OpenAI and Anthropic SDK methods, LiteLLM, and the framework verbs (`llm.invoke(...)`,
`llm.complete(...)`) that send a prompt to a model. Recognition is by the call's shape, so an
unusual client name still matches; the cost is an occasional non-LLM `.invoke()`, which only
matters when the other conditions of a rule also hold.
"""

from __future__ import annotations

import ast

from checker.summaries import sink_of

from ._index import ModuleIndex, dotted, first_argument, last_name, string_value

# Prefilter trigger for "this file sends something to a model" (checker.triggers).
from checker.triggers import SENDS_TRIGGER  # noqa: E402,F401 - re-exported for the rules

# Dotted suffixes of SDK request methods (openai>=1, legacy openai<1, anthropic, google).
_SDK_SUFFIXES = (
    "chat.completions.create",
    "chat.completions.parse",
    "chat.completions.stream",
    "completions.create",
    "messages.create",
    "messages.stream",
    "messages.parse",
    "responses.create",
    "responses.parse",
    "responses.stream",
    "ChatCompletion.create",
    "ChatCompletion.acreate",
    "Completion.create",
    "Completion.acreate",
    "generate_content",
    "generate_content_async",
)
# As str.endswith takes them: every call of every rule asks (one C call instead of a loop).
_SDK_SUFFIX_NAMES = frozenset(_SDK_SUFFIXES)
_DOTTED_SDK_SUFFIXES = tuple("." + suffix for suffix in _SDK_SUFFIXES)
_LITELLM_FUNCTIONS = {"completion", "acompletion", "text_completion", "atext_completion"}
# Framework methods that send a prompt or a message list to a model.
_FRAMEWORK_METHODS = {
    "invoke", "ainvoke", "predict", "apredict", "predict_messages", "chat", "achat",
    "complete", "acomplete", "stream_chat", "astream_chat", "stream_complete",
    "astream_complete", "generate", "agenerate", "create_completion", "create_chat_completion",
}
# Receivers whose `.chat()` / `.generate()` are not model calls.
_NOT_LLM_RECEIVERS = {"str", "os", "re", "json", "self.tokenizer", "tokenizer", "np", "random"}


def is_llm_call(call: ast.Call, index: ModuleIndex, *, broad: bool = True) -> bool:
    """True if `call` sends a request to a language model, directly or through one of the
    project's own wrappers (`checker.summaries`)."""
    if sink_of(call) is not None:
        return True
    func = call.func
    text = dotted(func)
    if text is None:
        # `client.with_options(...).chat.completions.create(...)`: look at the attribute chain.
        if isinstance(func, ast.Attribute):
            chain = _attribute_suffix(func)
            return chain.endswith(_SDK_SUFFIXES) or (
                broad and func.attr in _FRAMEWORK_METHODS and _has_call_args(call))
        return False
    qualified = index.qualified(func) or text
    if qualified in _SDK_SUFFIX_NAMES or qualified.endswith(_DOTTED_SDK_SUFFIXES):
        return True
    name = qualified.rsplit(".", 1)[-1]
    if name in _LITELLM_FUNCTIONS and ("litellm" in qualified or qualified == name):
        return True
    if broad and isinstance(func, ast.Attribute) and name in _FRAMEWORK_METHODS:
        receiver = dotted(func.value)
        return receiver not in _NOT_LLM_RECEIVERS and _has_call_args(call)
    return False


def _attribute_suffix(func: ast.Attribute) -> str:
    parts: list[str] = []
    node: ast.expr = func
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join(reversed(parts))


def _has_call_args(call: ast.Call) -> bool:
    return bool(call.args or call.keywords)


# Names of functions and methods that count tokens with a real tokenizer.
_TOKENIZER_METHODS = {
    "encode", "encode_ordinary", "encode_batch", "encode_ordinary_batch", "tokenize",
    "count_tokens", "num_tokens", "get_num_tokens", "get_num_tokens_from_messages",
    "token_counter", "count_messages", "count_request", "count_text_tokens",
    "num_tokens_from_string", "num_tokens_from_messages", "num_tokens_from_text",
    "get_token_count", "get_token_ids", "token_count", "count_string_tokens",
    "tokens_from_string", "calculate_tokens", "len_tokens", "tiktoken_len",
}


def is_tokenizer_call(call: ast.Call) -> bool:
    """`enc.encode(x)`, `count_tokens(x, model)`, `tokenizer(x)`, `litellm.token_counter(...)`:
    a call that counts with a real tokenizer rather than estimating from characters."""
    name = last_name(call.func)
    if name is None:
        return False
    lowered = name.lower()
    if lowered in _TOKENIZER_METHODS:
        # `s.encode("utf-8")` is bytes, not tokens.
        if lowered == "encode" and _is_bytes_encode(call):
            return False
        return True
    # `num_tokens(x)`, `truncate_tokens(x, n)`, `self._get_token_count(x)`: helpers named for
    # what they do with tokens run a tokenizer on their argument.
    return "tokenizer" in lowered or lowered.startswith("count_token") or (
        "token" in lowered and any(verb in lowered for verb in _TOKEN_VERBS))


_TOKEN_VERBS = ("count", "num", "len", "truncate", "trim", "clip", "limit", "split", "chunk", "encode")


def _is_bytes_encode(call: ast.Call) -> bool:
    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
    first = first_argument(call)
    if first is None:
        # `text.encode()` on a str is bytes; `enc.encode()` with no args cannot be tokenizing.
        return receiver is None or not _looks_like_encoder(receiver)
    value_node, keyword = first
    value = string_value(value_node)
    if value is not None and value.lower().replace("_", "-") in {
            "utf-8", "utf8", "ascii", "latin-1", "latin1", "utf-16", "utf-32"}:
        return True
    if keyword in {"encoding", "errors"}:
        return True
    return receiver is not None and not _looks_like_encoder(receiver)


def _looks_like_encoder(receiver: ast.expr) -> bool:
    name = (last_name(receiver) or "").lower()
    text = (dotted(receiver) or "").lower()
    return any(w in name for w in ("enc", "tok", "tiktoken", "bpe")) or "tiktoken" in text or (
        isinstance(receiver, ast.Call) and "encoding" in (last_name(receiver.func) or "").lower())


_LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log",
                "print", "echo", "secho", "write", "markdown", "caption", "text", "success"}
_LOG_RECEIVERS = ("log", "logger", "logging", "console", "st", "click", "typer", "rich",
                  "sys.stdout", "sys.stderr", "warnings", "print", "tqdm", "pbar", "span")


def is_display_call(call: ast.Call) -> bool:
    """`print(...)`, `logger.info(...)`, `st.write(...)`, `warnings.warn(...)`: output for
    people, where cutting text by characters is the right thing to do."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in {"print", "pprint", "repr"}
    if isinstance(func, ast.Attribute):
        receiver = (dotted(func.value) or "").lower()
        method = func.attr
        if method in _LOG_METHODS and (receiver.endswith(_LOG_RECEIVERS) or "log" in receiver):
            return True
        if method in {"set_description", "set_postfix", "set_attribute", "add_event"}:
            return True
    return False


def inside_display_call(node: ast.AST, index: ModuleIndex) -> bool:
    """`node` is part of a display call's arguments or of a `raise`, within its statement."""
    for ancestor in index.ancestors(node):
        if isinstance(ancestor, ast.Call) and is_display_call(ancestor):
            return True
        if isinstance(ancestor, ast.Raise):
            return True
        if isinstance(ancestor, ast.stmt):
            break
    return False


def inside_raise_or_assert(node: ast.AST, index: ModuleIndex) -> bool:
    for ancestor in index.ancestors(node):
        if isinstance(ancestor, (ast.Raise, ast.Assert)):
            return True
        if isinstance(ancestor, ast.stmt):
            return False
    return False


def through_sink(call: ast.Call | None) -> str:
    """` (through ask() in app/llm.py:8)` when `call` sends by way of a project wrapper, else ``."""
    sink = sink_of(call) if call is not None else None
    return f" (through {sink.display})" if sink is not None else ""


def sent_to(call: ast.Call | None) -> str:
    """`ask() in app/llm.py:8` when `call` sends by way of a project wrapper, else `the model`."""
    sink = sink_of(call) if call is not None else None
    return sink.display if sink is not None else "the model"
