"""TB503: a hard-coded context-window size that disagrees with the registry for the model next
to it.

The rule's documentation is the docstring of WrongContextWindow below (`tokenbudget rule TB503`).
"""

from __future__ import annotations

import ast
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

from checker.rule import Rule

from ._index import ModuleIndex, has_word, last_name, number_value, string_value
from ._models import project_lookup, is_model_name_key, lookup

CODE = "TB503"
NAME = "wrong-context-window"

_WINDOW_WORDS = ("context", "ctx", "window", "input", "prompt", "seq", "token", "tokens", "limit",
                 "length", "len")
# Names of output caps, rates, prices and sizes that are not context windows.
_NOT_WINDOW_WORDS = ("output", "completion", "response", "generation", "new", "rpm", "tpm", "rate",
                     "minute", "price", "cost", "per", "dollar", "usd", "batch", "chunk", "overlap",
                     "embedding", "dim", "timeout", "retries", "char", "chars", "byte", "reserve",
                     "reserved", "buffer", "margin", "summary", "answer", "reply", "temperature")
# Window sizes written in code that are not in the registry as any model's window but are the
# well-known windows of earlier models (2k-era GPT-3, 100k Claude 2).
# (100_000 is left out: as a round number it is as often deliberate headroom.)
_HISTORIC_WINDOWS = {2048, 2049, 4097}
_MIN_WINDOW = 1024
_MAX_LOOKBACK = 3  # statements between a model assignment and its window constant
# Text of a literal `_int` can accept (a text trigger).
_NUMBER_TEXT = r"\d[_\d]{3}|[\d.][eE][-+]?\d|0[xXoObB]|[\d.](?:[\s)\\]|#[^\n]*\n)*\*"


def _window_like(value: int, known_windows: frozenset[int]) -> bool:
    return value in known_windows or value in _HISTORIC_WINDOWS


def _windowish_name(name: str | None, *, ambiguous_ok: bool) -> bool:
    """`max_context_tokens`, `context_window`, `MODEL_TOKEN_LIMITS`; `max_tokens` only where
    the surrounding table says it is about models (`ambiguous_ok`)."""
    if not name:
        return False
    if has_word(name, _NOT_WINDOW_WORDS):
        return False
    if has_word(name, ("context", "ctx", "window")):
        return True
    if has_word(name, ("max_input", "input", "prompt", "seq")) and has_word(name, ("token", "tok", "len", "length")):
        return True
    return ambiguous_ok and has_word(name, _WINDOW_WORDS)


def find(index: ModuleIndex, lookup_model: Callable[[str], object] = lookup,
         known_windows: frozenset[int] | None = None) -> Iterator[tuple[ast.expr, str]]:
    if known_windows is None:
        known_windows = _registry_windows()
    yield from _tables(index, lookup_model, known_windows)
    yield from _keyword_pairs(index, lookup_model, known_windows)
    yield from _neighbour_constants(index, lookup_model, known_windows)


@lru_cache(maxsize=8)
def _registry_windows(project_root: Path | None = None) -> frozenset[int]:
    """Every context window the registry knows (shipped and project-declared models): a number
    in this set written for a model with another window is a figure copied from elsewhere."""
    try:
        from pytest_tokenbudget import Registry

        return frozenset(m.context_window for m in Registry.load(project_root).models())
    except Exception:  # registry unavailable or its config broken (reported by the core): only
        return frozenset()  # "larger than the window" is reported then


def _check(value: int, model: str, info, known_windows: frozenset[int], *, explicit: bool = True) -> str | None:
    """`explicit`: the name says context window; otherwise (`MAX_TOKENS` tables) it may be the
    output cap, and a value equal to the model's output limit is accepted."""
    window = info.context_window
    # One off is an inclusive/exclusive convention (8191 vs 8192, 16384 vs 16385), not a mistake.
    if abs(value - window) <= 1 or (not explicit and value == getattr(info, "max_output_tokens", None)):
        return None
    if value > window:
        return (f"{value:,} tokens is more than {model}'s context window ({window:,} in the registry): "
                "prompts sized to it fail with a 400. Read it from pytest_tokenbudget.get_model(model).context_window.")
    if _window_like(value, known_windows):
        return (f"{value:,} is another model's context window, but {model} has {window:,} (registry): this "
                "stale figure throws away context that fits. Read it from "
                "pytest_tokenbudget.get_model(model).context_window.")
    return None


def _int(expr: ast.expr | None) -> int | None:
    value = number_value(expr)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= _MIN_WINDOW else None


def _table_name(d: ast.Dict, index: ModuleIndex) -> str | None:
    """The name the table is bound to: an assignment's target, a keyword argument, or the key
    of the record holding it."""
    parent = index.parent(d)
    if isinstance(parent, ast.Assign):
        return last_name(parent.targets[0])
    if isinstance(parent, ast.AnnAssign):
        return last_name(parent.target)
    if isinstance(parent, ast.keyword):
        return parent.arg
    if isinstance(parent, ast.Dict):
        for key, value in zip(parent.keys, parent.values):
            if value is d:
                return string_value(key)
    return None


def _elements(d: ast.Dict) -> Iterator[tuple[ast.expr, ast.expr]]:
    """(key, value) of the dict's entries (`**other` left out)."""
    for key, value in zip(d.keys, d.values):
        if key is not None:
            yield key, value


def _tables(index, lookup_model, known_windows):
    """`{"gpt-4o": 128000}` tables and `{"gpt-4o": {"context_window": ...}}` records. The
    registry is asked only about keys whose value could be a window (most dict keys are not
    model names, and an unknown name is the registry's slow path)."""
    for d in index.dicts:
        table = _table_name(d, index)
        table_is_windows = _windowish_name(table, ambiguous_ok=True)
        for key, element in _elements(d):
            value = _int(element)
            records = [inner for inner_key, inner in _elements(element)
                       if _windowish_name(string_value(inner_key), ambiguous_ok=False)
                       and _int(inner) is not None] if isinstance(element, ast.Dict) else []
            if not ((value is not None and table_is_windows) or records):
                continue
            model = string_value(key)
            info = lookup_model(model) if model else None
            if info is None:
                continue
            if value is not None:
                explicit = _windowish_name(table, ambiguous_ok=False)
                message = _check(value, model, info, known_windows, explicit=explicit)
                if message:
                    yield element, message
            for inner in records:
                message = _check(_int(inner), model, info, known_windows)
                if message:
                    yield inner, message


def _keyword_pairs(index, lookup_model, known_windows):
    """`Config(model="gpt-4o", context_window=8192)` and `{"model": ..., "max_context": ...}`."""
    for call in index.calls:
        model = None
        for keyword in call.keywords:
            if keyword.arg is not None and is_model_name_key(keyword.arg):
                model = string_value(keyword.value) or model
        if not model:
            continue
        info = lookup_model(model)
        if info is None:
            continue
        for keyword in call.keywords:
            if keyword.arg is not None and _windowish_name(keyword.arg, ambiguous_ok=False):
                value = _int(keyword.value)
                message = _check(value, model, info, known_windows) if value is not None else None
                if message:
                    yield keyword.value, message
    for d in index.dicts:
        entries = {string_value(key): value for key, value in _elements(d)}
        model = next((string_value(v) for k, v in entries.items() if is_model_name_key(k) and string_value(v)), None)
        info = lookup_model(model) if model else None
        if info is None:
            continue
        for key, value_node in entries.items():
            if _windowish_name(key, ambiguous_ok=False):
                value = _int(value_node)
                message = _check(value, model, info, known_windows) if value is not None else None
                if message:
                    yield value_node, message


def _neighbour_constants(index, lookup_model, known_windows):
    """`MODEL = "gpt-4o"` followed (within a few statements of the same block) by
    `MAX_CONTEXT_TOKENS = 8192`, at module level or in a class body."""
    blocks: list[list[ast.stmt]] = [index.module.body]
    for cls in index.classes:
        if _indented(cls.body[0], index):
            blocks.append(cls.body)
    for block in blocks:
        last_model: tuple[int, str, object] | None = None
        for position, statement in _lines(block):
            for target, value in _simple_assignments(statement):
                text = string_value(value)
                if text and is_model_name_key(target):
                    info = lookup_model(text)
                    if info is not None:
                        last_model = (position, text, info)
                    continue
                if last_model is None or position - last_model[0] > _MAX_LOOKBACK:
                    continue
                number = _int(value)
                if number is not None and _windowish_name(target, ambiguous_ok=False):
                    message = _check(number, last_model[1], last_model[2], known_windows)
                    if message:
                        yield value, message


def _indented(first: ast.stmt, index: ModuleIndex) -> bool:
    """Whether a body starts on a line of its own (an indented block), not after the colon
    (`class A: x = 1`, which the lookback leaves alone)."""
    line = index.line_text(first).split("\n", 1)[0].encode("utf-8")
    return not line[: first.col_offset].strip()


def _lines(block: list[ast.stmt]) -> Iterator[tuple[int, ast.stmt]]:
    """(position, statement): statements sharing a line (`a = 1; b = 2`) share a position, a
    statement line being the unit of the lookback."""
    position, end_line = -1, None
    for statement in block:
        if statement.lineno != end_line:
            position += 1
        end_line = statement.end_lineno
        yield position, statement


def _simple_assignments(statement: ast.stmt) -> Iterator[tuple[str, ast.expr]]:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        name = last_name(statement.targets[0])
        if name:
            yield name, statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        name = last_name(statement.target)
        if name:
            yield name, statement.value


VALID = [
    """
    MODEL = "gpt-4o"
    MAX_CONTEXT_TOKENS = 128_000
    """,
    # Deliberate headroom.
    """
    MODEL_CONTEXT_LIMITS = {"gpt-4o": 120_000, "gpt-4o-mini": 120_000}
    """,
    # Output caps, not windows.
    """
    MODELS = {"gpt-4o": {"max_tokens": 16384, "max_output_tokens": 16384}}
    """,
    # A MAX_TOKENS table may hold output caps: 4,096 is gpt-3.5-turbo's output limit.
    """
    MODEL_TO_MAX_TOKENS = {"gpt-3.5-turbo": 4096, "gpt-4": 8192}
    """,
    # Rate limits keyed by model.
    """
    TPM_LIMITS = {"gpt-4o": 30_000, "gpt-4o-mini": 200_000}
    """,
    # Prices.
    """
    PRICE_PER_1K = {"gpt-4o": 5, "gpt-4": 30}
    """,
    # Unknown local model.
    """
    MODEL = "my-finetuned-llama"
    CONTEXT_WINDOW = 4096
    """,
    # Correct windows for old models.
    """
    CONTEXT_WINDOWS = {"gpt-4": 8192, "gpt-4-32k": 32768, "gpt-3.5-turbo": 16385}
    """,
    # A config call with a correct window.
    """
    cfg = LLMConfig(model="claude-sonnet-4-5", context_window=200_000, max_tokens=8192)
    """,
    # Model and constant far apart (unrelated).
    """
    MODEL = "gpt-4o"
    A = 1
    B = 2
    C = 3
    D = 4
    CACHE_WINDOW = 4096
    """,
    # Chunk size next to the model.
    """
    EMBED_MODEL = "text-embedding-3-small"
    CHUNK_TOKENS = 512
    """,
    # Reserved output budget.
    """
    MODEL = "gpt-4.1"
    RESERVED_OUTPUT_TOKENS = 32768
    """,
    # The registry's figure read at run time.
    """
    from pytest_tokenbudget import get_model
    MODEL = "gpt-4o"
    MAX_CONTEXT_TOKENS = get_model(MODEL).context_window - 2000
    """,
    # Off by one is a convention (the embedding models take 8,191 tokens).
    """
    PROFILES = {"text-embedding-ada-002": {"max_input_tokens": 8192, "dimensions": 1536}}
    """,
    # Too far apart (statement lines, not physical lines), a one-line class body (the lookback
    # reads indented class bodies only), an unknown model.
    """
    MODEL = "gpt-4o"
    A = 1
    B = 2; C = 3
    D = 4
    MAX_CONTEXT_TOKENS = 100_000
    class Settings: model_name = "gpt-4"; max_context_tokens = 128_000
    LIMITS = {"gpt-4o-max-pro": 4096}
    """,
    # A round number under the window is headroom, not a stale figure.
    """
    llm.model = "gpt-4o"
    llm.context_window = 100000
    """,
]

INVALID = [
    """
    MODEL = "gpt-4o"
    MAX_CONTEXT_TOKENS = 8192
    """,
    """
    MODEL_CONTEXT_WINDOW = {"gpt-4o": 8192, "gpt-4": 8192}
    """,
    """
    MODEL_CONTEXT_SIZE = {"gpt-3.5-turbo": 4096, "gpt-4": 8192}
    """,
    """
    cfg = LLMConfig(model="claude-sonnet-4-5", context_window=1_000_000)
    """,
    """
    MODELS = {
        "gpt-4o-mini": {"context_window": 4096, "max_output_tokens": 16384},
    }
    """,
    """
    class Settings:
        model_name: str = "gpt-4"
        max_context_tokens: int = 128_000
    """,
    """
    LLM = {"model": "gpt-4o", "max_context": 32768, "temperature": 0}
    """,
    """
    TOKEN_LIMITS = {"claude-3-5-sonnet-latest": 1_000_000}
    """,
    """
    DEFAULT_MODEL = "gpt-4.1-mini"
    CONTEXT_LENGTH = 128000
    """,
    """
    agent = Agent(model="gpt-3.5-turbo", max_input_tokens=32000)
    """,
    """
    MODEL = "o3-mini"
    CTX_WINDOW = 128_000
    """,
    """
    MAX_TOKENS_BY_MODEL = {"gpt-4o": 4097}
    """,
    # Any case (the registry ignores it), and a product of literals.
    """
    MODEL = "GPT-4o"
    MAX_CONTEXT_TOKENS = 64 * 64
    """,
    # Statements of one line are one position for the lookback.
    """
    MODEL = "o3-mini"; A = 1; B = 2; C = 3
    D = 4
    E = 5
    CTX_WINDOW = 8192
    """,
    # A provider-prefixed name; a table named by a one-element tuple subscript (keyed by its string).
    """
    cfg = Config(model="openai/o3", context_window=1_000_000)
    limits = {}
    limits["context_window",] = {"gpt-4o": 8192}
    """,
]



class WrongContextWindow(Rule):
    """
    ## What it does
    A number written as a model's context window or input limit that the model registry
    contradicts: `{"gpt-4o": 8192}` in a context-limit table, `MODEL = "gpt-4o"` next to
    `MAX_CONTEXT_TOKENS = 4096`, `LLMConfig(model="claude-sonnet-4-5", context_window=1_000_000)`.
    A number is reported when it is larger than the model's window (requests sized to it fail), or
    when it is the window of some *other* model (a stale or copied figure: code written for
    gpt-3.5's 4,096 tokens still truncating gpt-4o prompts to 3% of what fits).

    ## Why is this bad?
    Context limits written into code outlive the model they were written for. Too large and
    the truncation or budget logic lets through prompts the API rejects with a 400; too small and
    the application throws away context (retrieval results, history) it could have sent, quietly
    answering worse.

    ## Example
    ```python
    MODEL = "gpt-4o"
    MAX_CONTEXT_TOKENS = 8192               # TB503: gpt-4o has 128,000
    ```

    ## Fix
    Read the figure from the registry instead of writing it down:
    ```python
    from pytest_tokenbudget import get_model
    MAX_CONTEXT_TOKENS = get_model(MODEL).context_window - RESERVED_FOR_OUTPUT
    ```

    ## Not a finding
    Deliberate headroom (a number below the window that is not another model's
    window, like 120_000 for a 128k model), output caps (`max_tokens`, `max_output_tokens`), rate
    limits and prices, and models the registry does not know (declare them in
    `[tool.tokenbudget.models]` to have them checked).
    """

    code = CODE
    name = NAME
    message = "a hard-coded context-window size that disagrees with the registry for the model next to it"
    # Every report needs a model name, a window-ish name and a whole number >= _MIN_WINDOW.
    # Model names: the shipped ones (the registry ignores case; `"openai/o3"`, `"ft:o4-mini:..."`
    # are resolved too), or, for models declared in pyproject.toml, "model" next to a limit name.
    # Window-ish names: every word `_windowish_name` accepts ("len" as in `max_len`: broad, but a
    # regex to tell it from `len(` would cost more than it saves). The number: 4+ digits, an
    # exponent, a hex/octal/binary literal, or a literal multiplied (`64 * 64`; a comment or a
    # continuation may come before the `*`; each text matches one way, so the regex is linear).
    triggers = ((r"(?i)gpt-|claude|text-embedding|\"o1|\"o3|\"o4|'o1|'o3|'o4|/o1|/o3|/o4|:o1|:o3|:o4",
                 r"(?i)context|ctx|window|input|prompt|seq|token|limit|len", _NUMBER_TEXT),
                (r"(?i)model", r"(?i)context_window|context_length|context_size|context_tokens|max_context|"
                               r"ctx_len|ctx_window|n_ctx|max_input|input_tokens|prompt_tokens|token_limit",
                 _NUMBER_TEXT))
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        windows = _registry_windows(self.context.settings.project_root)
        for node, message in find(self.context.index, project_lookup(self.context.settings.project_root), windows):
            self.report(node, message)
