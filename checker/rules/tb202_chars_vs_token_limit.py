"""TB202: a character length compared with a token-sized limit.

The rule's documentation is the docstring of CharsVsTokenLimit below (`tokenbudget rule TB202`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Iterator

from checker.rule import Rule

from ._flow import base_name, flows_into_llm, in_tokenizer_fallback, tokenizer_used_on
from ._index import (ModuleIndex, dotted, has_word, is_plural_collection, keyword_arg, last_name, len_argument,
                     names_in, number_value, string_value, words)
from ._llm import inside_display_call, is_llm_call, is_tokenizer_call

CODE = "TB202"
NAME = "chars-vs-token-limit"

_TOKEN_LIMIT_WORDS = ("token", "tokens", "ctx", "context")
_NOT_TOKEN_WORDS = ("char", "chr", "byte", "len", "length", "line", "word", "item", "msg", "message",
                    "turn", "count", "size", "doc", "chunk", "page", "row", "file", "entr", "element",
                    "step", "iter", "attempt", "retr", "request", "call", "sample", "example", "result")
_PROMPTISH_WORDS = ("prompt", "context", "history", "conversation", "transcript", "messages",
                    "system", "instructions", "query", "input")
# Literal limits this large are token budgets in LLM code; smaller ones are UI/display limits.
_MIN_LITERAL_LIMIT = 1000
# Below this a prompt-like name alone is not enough: the text must also reach a model in the same
# function (`len(prompt) > 1000` also guards UI history, previews and logs).
_NAME_ALONE_LITERAL_LIMIT = 8000
_ORDER_OPS = (ast.Gt, ast.GtE, ast.Lt, ast.LtE)


def _counts_tokens(call: ast.AST) -> bool:
    return isinstance(call, ast.Call) and (is_tokenizer_call(call) or last_name(call.func) == "encode")


def _is_token_list(expr: ast.expr, index: ModuleIndex, scope) -> bool:
    """`len(tokens)`, `len(enc.encode(x))`, `len(input_ids)`, or a name assigned from a
    tokenizer call: these lengths are already tokens."""
    if _counts_tokens(expr):
        return True
    if has_word(last_name(expr), ("tok", "ids", "encod", "byte", "enc", "bpe")):
        return True
    text = dotted(expr)
    return bool(text) and any(_counts_tokens(a.value) for a in index.assignments_to(text, scope))


def _is_list_like(expr: ast.expr) -> bool:
    """Plural collections whose length is a number of items, not characters."""
    name = last_name(expr) or ""
    lowered = name.lower()
    if isinstance(expr, (ast.List, ast.ListComp, ast.Tuple, ast.Set, ast.Dict)):
        return True
    return lowered in {"messages", "history", "docs", "documents", "chunks", "items", "turns",
                       "results", "nodes", "rows", "lines", "records", "examples", "tools"} \
        or lowered.endswith(("_messages", "_list", "_docs", "_chunks", "_items", "_turns")) \
        or is_plural_collection(name)


def _token_limit(expr: ast.expr) -> str | None:
    """The limit's name if it is a named token limit (MAX_TOKENS, max_context, ctx_window)."""
    name = last_name(expr)
    if name is None:
        return None
    parts = words(name)
    # "contexts" (plural) counts contexts; "context"/"ctx" and any "tok..." word size a window.
    if any(w.startswith("tok") or w in {"context", "ctx"} for w in parts) and \
            not has_word(name, _NOT_TOKEN_WORDS):
        return name
    return None


def _measured_in_chars(expr: ast.expr, index: ModuleIndex, scope) -> bool:
    """A limit assigned from `len(...)` is itself a character count (`EMPTY = len(TEMPLATE)`)."""
    text = dotted(expr)
    if not text:
        return False
    return any(len_argument(a.value) is not None
               for a in index.assignments_to(text, scope) + index.assignments_to(text, index.module))


# LangChain's splitters that measure chunk_size with len() unless told otherwise.
_CHAR_SPLITTERS = {"RecursiveCharacterTextSplitter", "CharacterTextSplitter"}


def _char_splitter_sized_by_tokens(call: ast.Call) -> str | None:
    """`RecursiveCharacterTextSplitter(chunk_size=MAX_TOKENS)`: the token limit's name when the
    splitter counts characters (no `length_function=`; `.from_tiktoken_encoder(...)` counts tokens
    and is another call)."""
    if last_name(call.func) not in _CHAR_SPLITTERS:
        return None
    size = keyword_arg(call, "chunk_size")
    if size is None or keyword_arg(call, "length_function") is not None or \
            any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    return _token_limit(size.value)


def find(index: ModuleIndex) -> Iterator[tuple[ast.AST, str]]:
    for call in index.calls:
        limit = _char_splitter_sized_by_tokens(call)
        if limit is not None:
            yield call, (f"`{last_name(call.func)}` measures chunk_size in characters, but `{limit}` is a "
                         "token limit: each chunk is 2-4x more tokens than meant for code, JSON or non-English "
                         "text. Build it with `.from_tiktoken_encoder(chunk_size=...)` or pass a "
                         "token-counting length_function.")
    for comparison in index.comparisons:
        if not any(isinstance(op, _ORDER_OPS) for op in comparison.ops):
            continue
        if inside_display_call(comparison, index) or in_tokenizer_fallback(comparison, index):
            continue
        operands = [comparison.left, *comparison.comparators]
        scope = index.scope_of(comparison)
        for i, operand in enumerate(operands):
            text = len_argument(operand)
            if text is None or _is_token_list(text, index, scope) or _is_list_like(text):
                continue
            message = None
            for j, other in enumerate(operands):
                if j != i:
                    message = _limit_message(other, text, index, scope)
                    if message:
                        break
            if message and not tokenizer_used_on(index, scope, base_name(text)):
                yield comparison, message
                break
        else:
            message = _total_message(operands, index, scope)
            if message:
                yield comparison, message


def _char_total(expr: ast.expr, index: ModuleIndex, scope) -> list[ast.expr] | None:
    """The texts a running total of character lengths measures (`total += len(a) + len(b)`,
    started at a number), or None when ``expr`` is no such total."""
    if not isinstance(expr, ast.Name) or isinstance(scope, ast.Module):
        return None
    texts: list[ast.expr] = []
    for a in index.assignments_to(expr.id, scope):
        if not a.augmented:
            if number_value(a.value) is None:
                return None  # assigned something else too: not only a sum of lengths
            continue
        if not isinstance(a.node, ast.AugAssign) or not isinstance(a.node.op, ast.Add):
            return None
        lengths = _summed_lengths(a.value)
        if lengths is None:
            return None
        texts += lengths
    return texts or None


def _summed_lengths(value: ast.expr | None) -> list[ast.expr] | None:
    """`len(a) + len(b)` -> [a, b]; None unless every term is a `len()` (or a number)."""
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
        left, right = _summed_lengths(value.left), _summed_lengths(value.right)
        return None if left is None or right is None else left + right
    text = len_argument(value)
    if text is not None:
        return [text]
    return [] if number_value(value) is not None else None


def _in_message_content(text: ast.expr, index: ModuleIndex, scope) -> bool:
    """The same text is the content of a role-tagged message built in the function
    (`{"role": "user", "content": parent.message}`): what is measured is what is sent."""
    code = index.code(text)
    for d in index.dicts:
        if index.scope_of(d) is not scope:
            continue
        keys = {string_value(k): v for k, v in zip(d.keys, d.values) if k is not None}
        content = keys.get("content")
        if "role" in keys and content is not None and index.code(content) == code:
            return True
    return False


def _total_message(operands: list[ast.expr], index: ModuleIndex, scope) -> str | None:
    """A running total of character lengths against a token limit: a context filled message by
    message until `total_length > 2048` (chatgpt-telegram's generate_prompt)."""
    for i, operand in enumerate(operands):
        texts = _char_total(operand, index, scope)
        if not texts or any(_is_token_list(t, index, scope) or _is_list_like(t) for t in texts):
            continue
        for j, limit in enumerate(operands):
            if j == i or _measured_in_chars(limit, index, scope):
                continue
            named = _token_limit(limit)
            value = number_value(limit)
            literal = isinstance(value, int) and value >= _MIN_LITERAL_LIMIT and any(
                _in_message_content(t, index, scope) or _prompt_like(
                    t, index, scope, name_suffices=value >= _NAME_ALONE_LITERAL_LIMIT) for t in texts)
            if (named or literal) and not any(tokenizer_used_on(index, scope, base_name(t)) for t in texts):
                return (f"`{operand.id}` adds up character lengths (len({index.code(texts[0])}) ...) and is compared "
                        f"with {named and f'token limit `{named}`' or index.code(limit) + ', a token-sized limit'}: "
                        "characters are not tokens, so the context this fills is off by 1-4x. Add up token "
                        "counts instead: pytest_tokenbudget.count_tokens(text, model).")
    return None


def _limit_message(limit: ast.expr, text: ast.expr, index: ModuleIndex, scope) -> str | None:
    what = index.code(text)
    if _measured_in_chars(limit, index, scope):
        return None
    named = _token_limit(limit)
    if named is None and isinstance(limit, ast.BinOp):
        # `max_context - reserved` or `self.max_tokens * 0.9`: still a number of tokens.
        named = _token_limit(limit.left) or _token_limit(limit.right)
        if named and isinstance(limit.op, ast.Mult) and \
                any((number_value(x) or 0) >= 3 for x in (limit.left, limit.right)):
            return None  # `max_tokens * 4` is a converted character limit: TB201's business
    if named is not None:
        return (f"character length `len({what})` compared with token limit `{named}`: characters "
                "are not tokens (1-4+ characters per token depending on the text). Compare a token "
                "count: pytest_tokenbudget.count_tokens(text, model).")
    value = number_value(limit)
    if isinstance(value, int) and value >= _MIN_LITERAL_LIMIT and \
            _prompt_like(text, index, scope, name_suffices=value >= _NAME_ALONE_LITERAL_LIMIT):
        return (f"character length `len({what})` compared with {index.code(limit)}, a token-sized "
                "limit: characters are not tokens, so this check is off by 1-4x. Compare a token "
                "count: pytest_tokenbudget.count_tokens(text, model).")
    return None


def _prompt_like(text: ast.expr, index: ModuleIndex, scope, *, name_suffices: bool = True) -> bool:
    """A literal limit is taken for a token budget only for text that is plainly a prompt: its
    name says so (for large limits), or it is sent to a model in the same function."""
    name = last_name(text)
    if has_word(name, ("byte", "char", "payload", "file", "body", "url", "path", "html")):
        return False
    if name_suffices and has_word(name, _PROMPTISH_WORDS):
        return True
    if isinstance(text, (ast.Name, ast.Attribute)):
        return flows_into_llm(index, scope, _first_binding(text, index, scope) or text) is not None \
            or _sent_directly(text, index, scope)
    return False


def _first_binding(text: ast.expr, index: ModuleIndex, scope) -> ast.AST | None:
    for a in index.assignments_to(dotted(text) or "", scope):
        if a.value is not None:
            return a.value
    return None


def _sent_directly(text: ast.expr, index: ModuleIndex, scope) -> bool:
    name = dotted(text)
    return any(index.scope_of(c) is scope and is_llm_call(c, index) and name in names_in(c)
               for c in index.calls)


VALID = [
    # The splitter counts tokens, or its chunk_size is in characters.
    """
    from langchain.text_splitter import RecursiveCharacterTextSplitter
    by_tokens = RecursiveCharacterTextSplitter.from_tiktoken_encoder(chunk_size=MAX_TOKENS)
    measured = RecursiveCharacterTextSplitter(chunk_size=MAX_TOKENS, length_function=count_tokens)
    by_chars = RecursiveCharacterTextSplitter(chunk_size=MAX_CHARS, chunk_overlap=200)
    """,
    # A token count compared with a token limit.
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    MAX_TOKENS = 8000
    def fits(prompt):
        return len(enc.encode(prompt)) <= MAX_TOKENS
    """,
    # Token list length.
    """
    def clip(tokens, max_tokens):
        if len(tokens) > max_tokens:
            tokens = tokens[:max_tokens]
        return tokens
    """,
    # A character limit named as such.
    """
    MAX_PROMPT_CHARS = 20_000
    def check(prompt):
        if len(prompt) > MAX_PROMPT_CHARS:
            raise ValueError("prompt too long")
    """,
    # Number of messages, not characters.
    """
    MAX_CONTEXT_MESSAGES = 20
    def trim(messages):
        while len(messages) > MAX_CONTEXT_MESSAGES:
            messages.pop(1)
    """,
    # Display truncation.
    """
    def preview(text):
        return text if len(text) < 80 else text[:77] + "..."
    """,
    # Byte limit for an upload.
    """
    MAX_UPLOAD = 10_000_000
    def upload(payload: bytes):
        if len(payload) > MAX_UPLOAD:
            raise ValueError("too big")
    """,
    # Cheap pre-check followed by an exact count of the same text.
    """
    def fits(text, enc, max_tokens):
        if len(text) <= max_tokens:
            return True
        return len(enc.encode(text)) <= max_tokens
    """,
    # Item count against a literal, for a list of documents.
    """
    def too_many(docs):
        return len(docs) > 5000
    """,
    # Token ids from a tokenizer assigned first.
    """
    def fits(text, tokenizer, max_context):
        ids = tokenizer.encode(text)
        return len(ids) < max_context
    """,
    # Length of a file on disk compared with a big literal: not a prompt.
    """
    def is_big(path):
        data = open(path).read()
        return len(data) > 1_000_000
    """,
    # History length in turns.
    """
    def should_summarize(history_turns, max_turns):
        return len(history_turns) >= max_turns
    """,
    # Equality, not a limit.
    """
    def same(a, max_tokens):
        return len(a) == max_tokens
    """,
    # The limit is itself a character count.
    """
    EMPTY_CONTEXT = len(TEMPLATE.format(context=""))
    def is_empty(context_str):
        return len(context_str.strip()) <= EMPTY_CONTEXT
    """,
    # A number of stored contexts against a number of entries.
    """
    def full(self):
        return len(self._feedback_contexts) >= _FEEDBACK_CONTEXT_MAX_ENTRIES
    """,
    # A running total of characters against a character budget, and a total of token counts.
    """
    MAX_CHARS = 12_000
    def pick(history, enc):
        used_chars = used_tokens = 0
        picked = []
        for turn in history:
            used_chars += len(turn.text)
            used_tokens += len(enc.encode(turn.text))
            if used_chars > MAX_CHARS or used_tokens > 2048:
                break
            picked.append({"role": "user", "content": turn.text})
        return picked
    """,
    # A total of characters of log lines that never reach a model.
    """
    def tail(lines):
        shown, size = [], 0
        for line in reversed(lines):
            size += len(line)
            if size > 4096:
                break
            shown.append(line)
        return shown
    """,
    # Long prompts kept out of the input history: a UI decision in characters.
    """
    def remember(history, prompts):
        for prompt in prompts:
            if prompt and len(prompt) > 1000:
                continue
            history.append_string(prompt)
    """,
]

INVALID = [
    # A character splitter sized with a token limit.
    """
    from langchain.text_splitter import RecursiveCharacterTextSplitter
    class Summarizer:
        MAX_GPT_TOKENS = 4096
        def __init__(self):
            self.text_splitter = RecursiveCharacterTextSplitter(chunk_size=self.MAX_GPT_TOKENS, chunk_overlap=0)
    """,
    """
    def build(prompt):
        if len(prompt) > 100_000:
            prompt = prompt[-100_000:]
        return prompt
    """,
    """
    MAX_TOKENS = 4096
    def check(context):
        if len(context) > MAX_TOKENS:
            raise ValueError("context too long")
    """,
    """
    def needs_summary(history_text, max_context):
        return len(history_text) >= max_context
    """,
    """
    class Agent:
        def ask(self, question):
            if len(question) > self.max_input_tokens:
                question = question[: self.max_input_tokens]
            return question
    """,
    """
    from .config import CONTEXT_WINDOW
    def fits(document):
        return len(document) < CONTEXT_WINDOW
    """,
    """
    def fits(text, model_info):
        return len(text) <= model_info.context_window - 500
    """,
    """
    def run(client, user_text):
        if len(user_text) > 120000:
            user_text = user_text[:120000]
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": user_text}])
    """,
    """
    def guard(system_prompt, settings):
        assert len(system_prompt) < settings.max_prompt_tokens
    """,
    """
    def compact(conversation: str, token_limit: int):
        while len(conversation) > token_limit:
            conversation = conversation[1000:]
        return conversation
    """,
    """
    def split_needed(page_text, cfg):
        return len(page_text) > cfg["max_tokens"]
    """,
    """
    def ok(query, limits):
        return 0 < len(query) <= limits.ctx_tokens
    """,
    """
    def prepare(transcript):
        if len(transcript) > 200_000:
            raise ValueError("transcript exceeds Claude's context window")
        return transcript
    """,
    # The limit on the line after the operator (the text triggers look two lines far).
    """
    def fits(text, cfg):
        return len(text) <= (
            cfg.max_context_tokens - cfg.reserved
        )
    """,
    # The limit on the line before (black puts the operator first when it splits).
    """
    def overflows(prompt, settings):
        return (
            settings.model_context_window
            < len(prompt)
        )
    """,
    # A literal limit on the left, and a plain word as the text: the model call makes it a prompt.
    """
    def ask(llm, text):
        if 4000 < len(text):
            text = text[-4000:]
        return llm.invoke(text)
    """,
    # A context filled message by message until a running total of characters passes a
    # token-sized number (chatgpt-telegram's generate_prompt).
    """
    def generate_prompt(history, message):
        picked = []
        total_length = 0
        for turn in reversed(history):
            total_length += len(turn.message) + len(turn.completion)
            if total_length > 2048:
                break
            picked.append(turn)
        messages = [{"role": "system", "content": "You are helpful."}]
        for turn in reversed(picked):
            messages.append({"role": "user", "content": turn.message})
            messages.append({"role": "assistant", "content": turn.completion})
        return messages + [{"role": "user", "content": message}]
    """,
    # The limit after a line continuation, and on the right of arithmetic.
    """
    def fits(prompt, cfg):
        return len(prompt) <= \\
            500 + cfg.max_context_tokens
    """,
]



# Text triggers: a superset of `find` for comparisons whose `len(` and `)` are on one line (as
# before). The limit is the operand next to the operator, so the triggers look there and only
# there; an operand is what may stand in one (names, literals, arithmetic, brackets, line breaks),
# never past a keyword (`len(x) > 1 or tokens`). Lookaheads are atomic in `re`: `(?=(X))\1`
# commits to the first X, which keeps the `len(` regexes linear in the line length.
# - `_token_limit`: a word starting with "tok" or the word "context"/"ctx" in the limit's name,
#   also on either side of arithmetic (`max_context - reserved`).
_LIMIT_NAME = r"(?i:tok|ctx|context)"
_OPERAND_CHAR = r"""(?:(?!\b(?:and|or|not|if|else|for|in|is|lambda)\b)[\w.\[\]'"\s+\-*/%()\\])"""
# - `_limit_message` literal: `number_value` int >= 1000 starting the operand: 4+ digits, `1_000`,
#   hex/octal/binary, or a product of literals (`32 * 32`; not a power, `2 ** n`).
_LIMIT_LITERAL = r"(?:\d{4}|\d[\d_]*_\d|0[xXoObB]|\d[\d_.]*\)*\s*\*(?!\*)\s*\(*\s*\d)"
_LITERAL_OPERAND = r"[\d_.xXoObBa-fA-F\s*()\\]*"
# ... and `_prompt_like`: a prompt-ish name (`_PROMPTISH_WORDS`) or an LLM call in the module
# (`flows_into_llm` / `_sent_directly` use `is_llm_call`, whose every callee's last name contains
# one of the first nine words: SDK create/parse/stream/generate_content, LiteLLM *completion,
# framework invoke/predict/chat/complete/generate/stream_*).
_LITERAL_WORDS = (r"(?i)create|parse|stream|generate|complet|invoke|predict|chat|"
                  + "|".join(_PROMPTISH_WORDS))
_LEN_THEN_OP = r"len\((?=([^\n]*?\)\s*[<>]=?))\1"
# `[<>]=?\s*len\(` itself scans every byte of the file; this superset of it only looks behind each
# `len(` (0 or 1 whitespace after the operator, or any `len(` after 2+ whitespace characters).
_OP_BEFORE_LEN = r"len\((?:(?<=[<>]len\()|(?<=[<>]=len\()|(?<=[<>]\slen\()|(?<=[<>]=\slen\()|(?<=\s\slen\())"
_OP_THEN_LEN = r"\s*[<>]=?\s*len\("
# `_OP_BEFORE_LEN` where the operator follows what can end a literal; whitespace runs (line breaks)
# before or after the operator are let through.
_LITERAL_BEFORE_OP = "len\\((?:" + "|".join(
    f"(?<={before}{op}{after}len\\()"
    for before in (r"[\da-fA-F.)]", r"[\da-fA-F.)]\s", r"\s\s") for op in ("[<>]", "[<>]=") for after in ("", r"\s")
) + r"|(?<=\s\slen\())"
# The limit next to an order operator (not `>>`, `->`): a literal of 4+ digits or a name with a
# token-limit word (`_total_message`), on either side.
_TOTAL_OP = r"(?<![<>\-])[<>](?![<>])=?"
_TOTAL_LIMIT_OPERAND = r"(?:\d[\d_]{3,}|[A-Za-z_][\w.]*?(?i:tok|ctx|context))"
# Before the operator the operand's last word is taken whole, atomically (`(?=(X))\1`): only a
# whole word can be followed by the operator, and trying every shorter one made a long number
# quadratic (0.15 s for one line of 6,833 digits in sympy's tests).
_TOTAL_LIMIT = (_TOTAL_OP + r"[ \t]*\(?[ \t]*" + _TOTAL_LIMIT_OPERAND + "|"
                r"(?<![\w./])(?:(?=(\d[\d_]{3,}\w*))\1|[A-Za-z_][\w.]*?(?i:tok|ctx|context)(?=(\w*))\2)"
                r"[ \t]*\)?[ \t]*" + _TOTAL_OP)
_TRIGGERS = (
    (r"CharacterTextSplitter", r"chunk_size\s*=\s*[\w.]*(?i:tok|ctx|context)"),
    # A running total of lengths (`total += len(a) + len(b)`) compared with a limit that may be a
    # token-limit name or a literal >= 1000, on either side of the operator. The plain word first:
    # one substring search per file (`+=len(` unformatted, or `+= (len(a) ...` split over lines,
    # is left out).
    (r"\+= len\(", _TOTAL_LIMIT),
    (r"(?i)tok|ctx|context", _LEN_THEN_OP + _OPERAND_CHAR + "*?" + _LIMIT_NAME),
    (r"(?i)tok|ctx|context", _OP_BEFORE_LEN, r"[<>]=?\s*len\(",
     _LIMIT_NAME + _OPERAND_CHAR + "*?" + _OP_THEN_LEN),
    # The words match most files and cost ~18 scans: after the regexes, which jump from `len(`
    # to `len(` and rule out almost every file.
    (_LEN_THEN_OP + r"[\s(\\]*" + _LIMIT_LITERAL, _LITERAL_WORDS),
    # `100_000 < len(x)`: the whole left operand a literal. First, cheaply, what can end one (a
    # digit, a hex digit, a dot, a bracket) before the operator; the exact regex starts at a digit.
    (_LITERAL_BEFORE_OP, r"[<>]=?\s*len\(", _LITERAL_WORDS,
     r"(?=\d)(?<![\w.])" + _LIMIT_LITERAL + _LITERAL_OPERAND + _OP_THEN_LEN),
)


class CharsVsTokenLimit(Rule):
    """
    ## What it does
    `len(prompt) > 100_000`, `len(context) > MAX_TOKENS`, `len(history_text) >= max_context`:
    a string's length in characters tested against a number that is a count of tokens. Also a
    character splitter sized with a token limit
    (`RecursiveCharacterTextSplitter(chunk_size=MAX_TOKENS)`, which measures chunks with `len`).

    ## Why is this bad?
    Characters and tokens are different units. English prose runs about four characters per
    token, so the check fires four times too early and throws away context you paid for; code, JSON
    or non-English text run 1-2 characters per token (some CJK and emoji more than one token per
    character), so the same check lets through prompts that overflow the context window.

    ## Example
    ```python
    MAX_CONTEXT_TOKENS = 128_000
    if len(prompt) > MAX_CONTEXT_TOKENS:   # TB202
        prompt = summarize(prompt)
    ```

    ## Fix
    Compare a token count with the token limit:
    ```python
    from pytest_tokenbudget import count_tokens
    if count_tokens(prompt, "gpt-4o") > MAX_CONTEXT_TOKENS: ...
    ```

    ## Not a finding
    A length compared with a character or byte limit (`MAX_CHARS`, `max_bytes`), the
    length of a token list (`len(tokens) > max_tokens`), lengths for display, and a character check
    next to a real tokenizer run on the same value (a cheap pre-check before counting).
    """

    code = CODE
    name = NAME
    message = "a character length compared with a token-sized limit"
    # `len(...)` in an order comparison whose other side is on the same line (or the line after /
    # before) and is a token-limit name or a literal that can be >= 1000 (see _TRIGGERS above).
    triggers = _TRIGGERS
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(self.context.index):
            self.report(node, message)
