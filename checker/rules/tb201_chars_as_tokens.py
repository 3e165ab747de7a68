"""TB201: a token count estimated from characters or words.

The rule's documentation is the docstring of CharsAsTokens below (`tokenbudget rule TB201`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Iterator

from checker.rule import Rule

from ._flow import base_name, behind_setting_switch, in_tokenizer_fallback, tokenizer_used_on
from ._index import FUNCTIONS, ModuleIndex, dotted, has_word, iter_nodes, last_name, len_argument, number_value, string_value
from ._llm import inside_display_call, is_display_call, is_tokenizer_call

CODE = "TB201"
NAME = "chars-as-tokens"

# Divisors that read as characters per token (English prose 3.5-4.7, "safe" 3, CJK 1.5-2).
_DIVISOR_RANGE = (2.5, 6.0)
# Multipliers that read as tokens per character (0.25, 0.3) or tokens per word (1.3, 1.33, 0.75).
_CHAR_FACTORS = (0.2, 0.4)
_WORD_FACTORS = (0.6, 2.0)
_TOKEN_WORDS = ("tok",)
_CHAR_CONST_WORDS = ("char", "chr", "letter")
# Lengths of these are tokens already, bytes, or numbers of items: not characters.
_NOT_TEXT_WORDS = ("tok", "ids", "encod", "byte", "embedding", "vector", "vec", "list", "array", "items")
# Test doubles report made-up usage; an estimate there budgets nothing.
_TEST_DOUBLE_WORDS = ("mock", "fake", "dummy", "stub")
# Statements with a body: only their header is "the statement" a finding's context is read from.
_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
             ast.With, ast.AsyncWith, ast.Try, ast.Match) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())


def _is_len_of_text(expr: ast.expr) -> ast.Call | None:
    """The `len(x)` call if `expr` is `len(x)` (through `float()`/`int()`), else None."""
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in {"float", "int"} \
            and len(expr.args) == 1 and not expr.keywords and not isinstance(expr.args[0], ast.Starred):
        expr = expr.args[0]
    inner = len_argument(expr)
    if inner is None:
        return None
    if isinstance(inner, ast.Call) and is_tokenizer_call(inner):
        return None  # len(enc.encode(text)) is a real count
    if has_word(last_name(inner), _NOT_TEXT_WORDS) or \
            (isinstance(inner, ast.Call) and last_name(inner.func) == "encode"):
        return None  # already tokens, or bytes
    return expr


def _is_word_split(len_call: ast.Call) -> bool:
    inner = len_call.args[0]
    return isinstance(inner, ast.Call) and last_name(inner.func) == "split"


def _chars_per_token_constant(expr: ast.expr, index: ModuleIndex, scope) -> bool:
    """A named ratio like CHARS_PER_TOKEN / settings.chars_per_token that is a fixed guess, not
    a ratio measured from a real tokenizer in the same function."""
    name = last_name(expr)
    if name is None or not has_word(name, _CHAR_CONST_WORDS) or not has_word(name, _TOKEN_WORDS):
        return False
    text = dotted(expr)
    if text is None:
        return False
    for a in index.assignments_to(text, scope):
        if a.value is not None and number_value(a.value) is None:
            return False  # computed here, e.g. len(text) / n_tokens: a measured ratio
    return True


def _token_context(node: ast.AST, index: ModuleIndex) -> bool:
    """Does the code around `node` say it is about tokens? The statement (with its comment),
    the function it is in, or the name it is assigned to mentions tokens."""
    statement = index.statement_of(node)
    compound = isinstance(statement, _COMPOUND)
    text = index.code(node) if compound else index.line_text(statement)
    if "token" in text.lower():
        return True
    if compound:
        # `if len(x) / 4 > limit:` - look at the header only, not the whole block.
        header = getattr(statement, "test", None)
        if header is not None and "token" in index.code(header).lower():
            return True
    function = index.scope_of(node)
    return isinstance(function, FUNCTIONS) and "tok" in function.name.lower()


def _operand_code(op: ast.BinOp, operand: ast.expr, index: ModuleIndex) -> str:
    """`operand`'s source with its own brackets (`(2 * 2)`): ast positions leave them out, and
    `characters / 2 * 2` would misread the divisor. They are inside `op`'s source."""
    text, inner = index.code(op), index.code(operand)
    if operand is op.right:
        at = text.rfind(inner)
        closing = text[at + len(inner):].count(")")
        start = at
        while closing and start > 0:
            start -= 1
            closing -= text[start] == "("
        return text[start:].strip()
    at = text.find(inner)
    opening = text[:at].count("(")
    end = at + len(inner)
    while opening and end < len(text):
        opening -= text[end] == ")"
        end += 1
    return text[:end].strip()


def _shown_only(op: ast.BinOp, index: ModuleIndex) -> bool:
    """`est = len(doc) // 4` whose every use is in an f-string or a print/log call: an estimate
    shown to people ("~1,200 tokens"), not one that decides what is sent."""
    statement = index.statement_of(op)
    if not isinstance(statement, ast.Assign) or len(statement.targets) != 1 or \
            not isinstance(statement.targets[0], ast.Name):
        return False
    target = statement.targets[0]
    uses = [n for n in iter_nodes(index.scope_of(op))
            if type(n) is ast.Name and n.id == target.id and n is not target]
    if not uses:
        return False
    for use in uses:
        if not any(isinstance(a, ast.JoinedStr) or (isinstance(a, ast.Call) and is_display_call(a))
                   for a in _ancestors_in_statement(use, index)):
            return False
    return True


def _ancestors_in_statement(node: ast.AST, index: ModuleIndex) -> Iterator[ast.AST]:
    for ancestor in index.ancestors(node):
        if isinstance(ancestor, ast.stmt):
            return
        yield ancestor


def _in_test_double(node: ast.AST, index: ModuleIndex) -> bool:
    return any(isinstance(ancestor, (ast.ClassDef, *FUNCTIONS)) and has_word(ancestor.name, _TEST_DOUBLE_WORDS)
               for ancestor in index.ancestors(node))


def find(index: ModuleIndex, path: str = "") -> Iterator[tuple[ast.AST, str]]:
    if has_word(path.replace("/", "_").replace("\\", "_").rsplit(".", 1)[0], _TEST_DOUBLE_WORDS):
        return
    for op in index.binops:
        if not isinstance(op.op, (ast.Div, ast.FloorDiv, ast.Mult)):
            continue  # cheap first: the context tests below walk ancestors
        if inside_display_call(op, index) or _in_test_double(op, index) or in_tokenizer_fallback(op, index) \
                or _shown_only(op, index):
            continue
        finding = _check_binop(op, index)
        if finding is not None:
            yield op, finding
    for len_call in _word_counts(index):
        if _in_test_double(len_call, index) or in_tokenizer_fallback(len_call, index):
            continue
        yield len_call, ("`len(text.split())` counts words, not tokens; a word is 1-3+ tokens "
                         "depending on the text. Count with the model's tokenizer "
                         "(pytest_tokenbudget.count_tokens).")


def _check_binop(op: ast.BinOp, index: ModuleIndex) -> str | None:
    scope = index.scope_of(op)
    if isinstance(op.op, (ast.Div, ast.FloorDiv)):
        len_call = _is_len_of_text(op.left)
        if len_call is None:
            return None
        divisor = number_value(op.right)
        named = divisor is None and _chars_per_token_constant(op.right, index, scope)
        if divisor is not None:
            if not (_DIVISOR_RANGE[0] <= divisor <= _DIVISOR_RANGE[1]) or not _token_context(op, index):
                return None
        elif not named:
            return None
        if tokenizer_used_on(index, scope, base_name(len_call.args[0])) and not behind_setting_switch(op, index):
            return None
        if _is_word_split(len_call):
            return "a token count estimated from a word count; count with the model's tokenizer."
        what = dotted(op.right) if named else _operand_code(op, op.right, index)
        return (f"token count estimated as characters / {what}: real text runs 1-4 characters "
                "per token (code, JSON, non-English), so this undercounts by up to 3x. Count with "
                "the model's tokenizer (pytest_tokenbudget.count_tokens).")
    if isinstance(op.op, ast.Mult):
        for left, right in ((op.left, op.right), (op.right, op.left)):
            len_call = _is_len_of_text(left)
            factor = number_value(right)
            if len_call is not None and factor is not None:
                word = _is_word_split(len_call)
                low, high = _WORD_FACTORS if word else _CHAR_FACTORS
                if low <= factor <= high and _token_context(op, index) and \
                        not tokenizer_used_on(index, scope, base_name(len_call.args[0])):
                    unit = "words" if word else "characters"
                    return (f"token count estimated as {unit} * {_operand_code(op, right, index)}; count "
                            "with the model's tokenizer (pytest_tokenbudget.count_tokens).")
            inverse = _inverse_limit(left, right, op, index, scope)
            if inverse is not None:
                return inverse
    return None


def _inverse_limit(tokens: ast.expr, factor: ast.expr, op: ast.BinOp, index: ModuleIndex, scope) -> str | None:
    """`max_tokens * 4` (or `* CHARS_PER_TOKEN`) used as a character limit."""
    name = last_name(tokens)
    if name is None or not has_word(name, _TOKEN_WORDS) or has_word(name, ("byte",)):
        return None
    value = number_value(factor)
    if value is not None:
        if not (3 <= value <= 5):
            return None
    elif not _chars_per_token_constant(factor, index, scope):
        return None
    if not _used_as_char_limit(op, index):
        return None
    sliced = _sliced_value(op, index)
    if sliced is not None and tokenizer_used_on(index, scope, base_name(sliced)):
        return None  # counted with a real tokenizer first; the cut is a fallback or a margin
    return (f"`{index.code(op)}` turns a token limit into a character limit with a fixed ratio; "
            "text with 1-3 characters per token then overflows it. Cut by tokens instead "
            "(encode, slice the token list, decode).")


def _sliced_value(op: ast.BinOp, index: ModuleIndex) -> ast.expr | None:
    """`text` in `text[: max_tokens * 4]`."""
    for ancestor in _ancestors_in_statement(op, index):
        if isinstance(ancestor, ast.Subscript):
            return ancestor.value
    return None


def _used_as_char_limit(op: ast.BinOp, index: ModuleIndex) -> bool:
    child: ast.AST = op
    for ancestor in index.ancestors(op):
        if isinstance(ancestor, (ast.Slice, ast.Compare)):
            return True
        if isinstance(ancestor, (ast.Assign, ast.AnnAssign)):
            targets = ancestor.targets if isinstance(ancestor, ast.Assign) else [ancestor.target]
            return any(has_word(last_name(t), ("char", "len", "length", "size", "limit"))
                       and not has_word(last_name(t), ("byte", "tok")) for t in targets)
        if isinstance(ancestor, ast.keyword):
            return has_word(ancestor.arg or "", ("char", "chunk_size", "length", "size"))
        if isinstance(ancestor, ast.Call) and child is not ancestor.func:
            return False  # a positional argument
        if isinstance(ancestor, ast.stmt):
            return False
        child = ancestor
    return False


def _word_counts(index: ModuleIndex) -> Iterator[ast.Call]:
    """`len(text.split())` assigned to / returned as / compared with a token count (not
    divided or multiplied: those are reported with their operator above)."""
    for call in index.calls:
        inner = len_argument(call)
        if not (isinstance(inner, ast.Call) and last_name(inner.func) == "split"):
            continue
        if isinstance(index.parent(call), ast.BinOp) or inside_display_call(call, index):
            continue
        if _word_count_is_token_count(call, index):
            receiver = base_name(inner.func.value) if isinstance(inner.func, ast.Attribute) else None
            if not tokenizer_used_on(index, index.scope_of(call), receiver):
                yield call


def _word_count_is_token_count(call: ast.Call, index: ModuleIndex) -> bool:
    child: ast.AST = call
    for ancestor in index.ancestors(call):
        if isinstance(ancestor, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = ancestor.targets if isinstance(ancestor, ast.Assign) else [ancestor.target]
            return any(has_word(last_name(t), _TOKEN_WORDS) for t in targets)
        if isinstance(ancestor, ast.Compare):
            return any(has_word(last_name(c), _TOKEN_WORDS) for c in [ancestor.left, *ancestor.comparators])
        if isinstance(ancestor, ast.keyword) and ancestor.arg is not None:
            return has_word(ancestor.arg, _TOKEN_WORDS)
        if isinstance(ancestor, ast.Dict):
            for key, value in zip(ancestor.keys, ancestor.values):
                if key is not None and (child is key or child is value):
                    return has_word(last_name(key) or string_value(key), _TOKEN_WORDS)
        if isinstance(ancestor, ast.Return):
            function = index.scope_of(ancestor)
            return isinstance(function, FUNCTIONS) and has_word(function.name, _TOKEN_WORDS)
        if isinstance(ancestor, ast.stmt):
            return False
        child = ancestor
    return False


VALID = [
    # A real tokenizer does the counting.
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    def count_tokens(text: str) -> int:
        return len(enc.encode(text))
    """,
    # Halving a list of documents for a binary split is not a token estimate.
    """
    def split_batch(docs):
        middle = len(docs) // 2
        return docs[:middle], docs[middle:]
    """,
    # Characters for display: a progress line.
    """
    def report(text, logger):
        logger.info("read %d chars (~%d tokens)", len(text), len(text) // 4)
    """,
    # Chars-per-token measured from a real count on the same text, then extrapolated.
    """
    def clip(text, max_tokens, encoder):
        n_tokens = len(encoder.encode(text))
        chars_per_token = len(text) / n_tokens
        keep = int(0.9 * chars_per_token * max_tokens)
        return text[:keep]
    """,
    # Fallback only when the tokenizer is missing; the real count runs on the same value.
    """
    def count_tokens(prompt):
        try:
            import tiktoken
        except ImportError:
            return len(prompt) // 4
        return len(tiktoken.get_encoding("o200k_base").encode(prompt))
    """,
    # Quartiles of a list, nothing to do with tokens.
    """
    def quartile(values):
        values = sorted(values)
        return values[len(values) // 4]
    """,
    # Byte size of a payload for an upload limit.
    """
    def chunks_needed(payload: bytes, max_bytes: int) -> int:
        return -(-len(payload) // max_bytes)
    """,
    # The token count divided into 4 parallel batches.
    """
    def plan(tokens):
        per_worker_tokens = len(tokens) // 4
        return per_worker_tokens
    """,
    # Bytes-per-token for a memory estimate of an int32 token array.
    """
    def buffer_bytes(num_tokens):
        return num_tokens * 4
    """,
    # Word count for a reading-time display, not a token count.
    """
    def reading_minutes(article: str) -> float:
        words = len(article.split())
        return words / 200
    """,
    # Character ratio used for a text-quality score.
    """
    def density(text):
        return sum(c.isalpha() for c in text) / max(1, len(text) / 4)
    """,
    # A chunker that asks the model's counter.
    """
    from pytest_tokenbudget import count_tokens
    def fits(chunk: str, limit: int) -> bool:
        return count_tokens(chunk, "gpt-4o") <= limit
    """,
    # Character cut only as the fallback of a tokenizer-based cut of the same text.
    """
    def shorten(self, result, max_tokens):
        return (self.parser.truncate_tokens(result, max_tokens)
                if self.parser is not None else result[: max_tokens * 4])
    """,
    # Length of an embedding vector, not of text.
    """
    def usage(item):
        total_tokens = len(item["embedding"]) // 4
        return total_tokens
    """,
    # A fake model reporting made-up usage in tests.
    """
    class FakeChatModel:
        def usage(self, prompt):
            return {"prompt_tokens": len(prompt.split())}
    """,
    # Fallback estimate next to the real count of the same text.
    """
    def n_tokens(self, text):
        return self.parser.num_tokens(text or "") if self.parser else len(text or "") // 4
    """,
    # Character arithmetic only where the tokenizer could not be loaded.
    """
    import tiktoken
    def chunk_limit_reached(responses, tokens, model):
        try:
            enc = tiktoken.encoding_for_model(model)
            return sum(len(enc.encode(r, disallowed_special=())) for r in responses) > tokens
        except Exception:
            return sum(len(r) for r in responses) > tokens * 4
    """,
    # An estimate shown to people, not used to decide what is sent.
    """
    def status_page(sections):
        doc = "\\n\\n".join(sections)
        token_est = len(doc) // 4
        doc += f"\\n\\n*~{token_est} tokens*"
        return doc
    """,
    # Fallback branch for when no tokenizer is available.
    """
    def truncate(output, tokenizer, pre_tokens, post_tokens):
        if tokenizer is not None:
            tokens = tokenizer.encode(output)
            head = tokenizer.decode(tokens[:pre_tokens])
        elif tokenizer is None:
            pre_chars = pre_tokens * 4
            head = output[:pre_chars]
        return head + "..."
    """,
]

INVALID = [
    # The tokenizer only when the user turns it on: the estimate is what runs by default.
    """
    import os
    def message_tokens(messages, model):
        if not os.environ.get("USE_TIKTOKEN", False):
            return len(str(messages)) / 4
        import tiktoken
        return len(tiktoken.encoding_for_model(model).encode(str(messages)))
    """,
    # A product of literals as the divisor, and a factor before `len(` across a line break.
    """
    def count_tokens(text, doc):
        estimate = len(text) / (2 * 2)
        n_tokens = 0.25 * \\
            len(doc)
        return estimate + n_tokens
    """,
    """
    def estimate_tokens(text: str) -> int:
        return len(text) // 4
    """,
    """
    import math
    def count_tokens(text):
        return math.ceil(len(text) / 4)
    """,
    """
    def usage(prompt, answer):
        return {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(answer) // 4}
    """,
    """
    CHARS_PER_TOKEN = 3.5
    def fits(context, budget):
        return len(context) / CHARS_PER_TOKEN < budget
    """,
    """
    from .constants import CHARS_PER_TOKEN
    def tokens_in(doc):
        n = len(doc.page_content) / CHARS_PER_TOKEN
        return int(n)
    """,
    """
    def cost(prompt, price):
        input_tokens = len(prompt) * 0.25
        return input_tokens * price
    """,
    """
    def truncate(text, max_tokens=2000):
        max_chars = max_tokens * 4
        return text[:max_chars]
    """,
    """
    def truncate(text, max_tokens):
        return text[: max_tokens * 4]
    """,
    """
    def tokens(message):
        n_tokens = len(message.split())
        return n_tokens
    """,
    """
    def over_budget(text, max_tokens):
        return len(text.split()) > max_tokens
    """,
    """
    def tok(text):
        # ~1.3 tokens per word
        return int(len(text.split()) * 1.3)
    """,
    """
    class Budget:
        def charge(self, prompt):
            est = len(prompt) / self.settings.chars_per_token
            self.used_tokens += est
    """,
    """
    def track(prompt, tracker):
        input_tokens = max(1, len(prompt) // 4)  # rough estimate
        tracker.add(input_tokens)
    """,
    # Factor first, and a word count split on a separator (the text triggers had missed both).
    """
    def cost(prompt, price):
        input_tokens = 0.25 * len(prompt)
        return input_tokens * price
    """,
    """
    def tokens(line):
        n_tokens = len(line.split(" "))
        return n_tokens
    """,
    # Through float(): one-argument float()/int() is unwrapped.
    """
    def approx_tokens(text):
        return float(len(text)) / 3.5
    """,
]


class CharsAsTokens(Rule):
    """
    ## What it does
    `len(text) / 4`, `len(text) // 4`, `len(text) * 0.25`, `len(text) / CHARS_PER_TOKEN`,
    `len(text.split())` used as a token count, and the inverse, `max_tokens * 4` used as a character
    limit.

    ## Why is this bad?
    The four-characters-per-token rule of thumb holds for plain English prose with one
    tokenizer. Code, JSON, URLs, numbers, non-English text and emoji tokenize at 1-3 characters per
    token, so an estimate that looks safe is often 2-3x short: the request overflows the context
    window, or the budget and bill are wrong by the same factor. Word counts are worse still.

    ## Example
    ```python
    def count_tokens(text):
        return len(text) // 4          # TB201
    ```

    ## Fix
    Count with the model's own tokenizer, offline:
    ```python
    from pytest_tokenbudget import count_tokens
    n = count_tokens(text, "gpt-4o")
    ```

    ## Not a finding
    Lengths for logging or display, byte sizes, code that also runs a real tokenizer
    on the same value (a cheap pre-check, or chars-per-token measured on a sample), and ratios
    computed from a real count (`len(text) / len(enc.encode(text))`).
    """

    code = CODE
    name = NAME
    message = "a token count estimated from characters or words"
    # A len() divided or multiplied, near token words; a word count; or tokens * N.
    # The number next to the operator must be able to be in range: a divisor of 2.5-6 (or a named
    # ratio, or a product of literals), a factor of 0.2-2.0 (or a product), so `// 2`, `"0" * len(x)`
    # and `[None] * len(x)` do not count.
    # A product's number starts where its digits do (`(?<!\d)`): a match from inside a run of digits is
    # one from its start, and trying every digit of a long literal made the search quadratic.
    triggers = ((r"(?i)tok", r"len\([^\n]*\)\s*(?://?[\s(\\]*(?:2\.|[3-6]|0[xXoObB]|[A-Za-z_]|\d[\w.]*[\s)]*\*)"
                              r"|\*[\s(\\]*(?:[0-2]|\.\d|\d[\w.]*[\s)]*\*))"),
                (r"(?i)tokens \*|tokens\*|token \*|token\*",),
                (r"(?i)tok", r"\*[\s(]*(?:(?:int|float)\()?len\(",
                 r"(?:(?<![\w.])[0-2][\d_.eE]*|(?<![\w.])\.\d[\d_eE]*|(?<!\d)\d[\w.]*[\s(]*\*[\s(]*\d[\w.]*)\)*[\s\\]*\*[\s(\\]*"
                 r"(?:(?:int|float)\()?len\("),
                # `len(text.split())`, also with `len(` ending its line.
                (r"(?i)tok", r"len\([ \t]*(?:\\?\r?\n)?[^\n]*split\("))
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(self.context.index, self.context.path):
            self.report(node, message)
