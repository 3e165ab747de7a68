"""TB501: a tokenizer encoding that does not match the model the module uses.

The rule's documentation is the docstring of EncodingModelMismatch below (`tokenbudget rule TB501`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Callable, Iterator

import libcst as cst

from checker.rule import Rule

from ._ast_gate import import_origins, qualified_names, string_constant, target_texts
from ._index import ModuleIndex, positional_args, string_value, index_module
from ._models import (_MODEL_KEYWORDS, project_lookup, is_claude, is_model_name_key, last_name_of_target, lookup,
                      model_uses, same_tokenizer)

CODE = "TB501"
NAME = "encoding-model-mismatch"


def _encodings(index: ModuleIndex, lookup_model) -> Iterator[tuple[cst.Call, str, str]]:
    """(call, encoding name, how it was written) for each fixed tiktoken encoding."""
    for call in index.calls:
        qualified = index.qualified(call.func) or ""
        if not qualified.startswith("tiktoken."):
            continue
        args = positional_args(call)
        literal = string_value(args[0].value) if args else None
        if literal is None:
            continue
        if qualified == "tiktoken.get_encoding":
            yield call, literal, f'get_encoding("{literal}")'
        elif qualified == "tiktoken.encoding_for_model":
            info = lookup_model(literal)
            if info is not None:
                yield call, info.tokenizer, f'encoding_for_model("{literal}")'


def _is_fallback(call: cst.Call, index: ModuleIndex) -> bool:
    return index.enclosing(call, (cst.ExceptHandler,)) is not None


def find(index: ModuleIndex, lookup_model: Callable[[str], object] = lookup) -> Iterator[tuple[cst.CSTNode, str]]:
    encodings = [e for e in _encodings(index, lookup_model) if not _is_fallback(e[0], index)]
    if not encodings:
        return
    uses = list(model_uses(index, lookup_model))
    if not uses:
        return
    for call, encoding, written in encodings:
        if any(same_tokenizer(encoding, u.info.tokenizer) for u in uses):
            continue
        claude = [u for u in uses if is_claude(u.info)]
        if claude:
            yield call, (f"tiktoken `{written}` is used in a module that sends to {claude[0].name}, and tiktoken "
                         "does not count Claude tokens (Claude's tokenizer gives 10-30%+ more tokens for the "
                         "same text). Count with pytest_tokenbudget.count_tokens(text, model).")
            continue
        shown = ", ".join(sorted({f"{u.name} ({u.info.tokenizer})" for u in uses}))
        yield call, (f"`{written}` gives {encoding} counts, but this module sends to {shown}: the counts "
                     "are off for that model's tokenizer. Use tiktoken.encoding_for_model(model) or "
                     "pytest_tokenbudget.count_tokens(text, model).")


VALID = [
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    def ask(client, prompt):
        assert len(enc.encode(prompt)) < 100_000
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
    """,
    """
    import tiktoken
    MODEL = "gpt-4"
    enc = tiktoken.get_encoding("cl100k_base")
    """,
    # Derived from the model variable.
    """
    import tiktoken
    def count(text, model="gpt-4o"):
        return len(tiktoken.encoding_for_model(model).encode(text))
    """,
    # Fallback in an except after encoding_for_model failed.
    """
    import tiktoken
    def encoding(model="gpt-4o-mini"):
        try:
            return tiktoken.encoding_for_model(model)
        except KeyError:
            return tiktoken.get_encoding("cl100k_base")
    """,
    # Embedding model with cl100k next to a gpt-4o chat.
    """
    import tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    def embed(client, chunks):
        return client.embeddings.create(model="text-embedding-3-small", input=chunks)
    def chat(client, q):
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": q}])
    """,
    # No model named in the module: nothing to compare with.
    """
    import tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    def n(text):
        return len(enc.encode(text))
    """,
    # A lookup table of encodings is not a use of those models.
    """
    import tiktoken
    MODEL_ENCODINGS = {"gpt-4": "cl100k_base", "gpt-4o": "o200k_base"}
    def enc_for(name):
        return tiktoken.get_encoding(MODEL_ENCODINGS[name])
    """,
    # Unknown (local) model: the registry cannot say.
    """
    import tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    def ask(llm):
        return llm.generate(model="my-local-llama", prompt="hi")
    """,
    # Claude counted with the package's counter.
    """
    from pytest_tokenbudget import count_tokens
    def fits(prompt):
        return count_tokens(prompt, "claude-sonnet-4-5") < 150_000
    """,
    # encoding_for_model with the right model.
    """
    import tiktoken
    enc = tiktoken.encoding_for_model("gpt-4o-mini")
    DEFAULT_MODEL = "gpt-4o-mini"
    """,
    # gpt-3.5 with cl100k.
    """
    import tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    def ask(client, prompt):
        return client.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": prompt}])
    """,
    # The ast gate rejects these: an f-string is not a fixed encoding, and an `except` fallback.
    """
    import tiktoken
    MODEL = "gpt-4o"
    def enc(base="o200k"):
        return tiktoken.get_encoding(f"{base}_base")
    """,
    """
    import tiktoken as tk
    MODEL = "gpt-4o"
    try:
        ENC = tk.encoding_for_model(MODEL)
    except KeyError:
        ENC = tk.get_encoding("cl100k_base")
    """,
    # gpt-oss with o200k_base.
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    LLM_MODEL = "gpt-oss-20b"
    """,
]

INVALID = [
    """
    import tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    def ask(client, prompt):
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
    """,
    """
    import tiktoken
    MODEL = "gpt-4o-mini"
    def count(text):
        return len(tiktoken.get_encoding("cl100k_base").encode(text))
    """,
    """
    import tiktoken
    enc = tiktoken.encoding_for_model("gpt-4")
    def ask(client, q):
        return client.responses.create(model="gpt-4.1", input=q)
    """,
    """
    import anthropic, tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    def ask(prompt):
        assert len(enc.encode(prompt)) < 190_000
        return anthropic.Anthropic().messages.create(model="claude-sonnet-4-5", max_tokens=1024,
                                                    messages=[{"role": "user", "content": prompt}])
    """,
    """
    import tiktoken
    def num_tokens(text, model="claude-3-5-sonnet-latest"):
        return len(tiktoken.get_encoding("o200k_base").encode(text))
    """,
    """
    import tiktoken as tk
    ENCODER = tk.get_encoding("cl100k_base")
    class Agent:
        def __init__(self):
            self.model_name = "o3-mini"
    """,
    """
    import tiktoken
    from openai import OpenAI
    client = OpenAI()
    encoding = tiktoken.get_encoding("p50k_base")
    def chat(msgs):
        return client.chat.completions.create(model="gpt-4o", messages=msgs)
    """,
    """
    from tiktoken import get_encoding
    tokenizer = get_encoding("cl100k_base")
    CONFIG = {"model": "gpt-5-mini", "temperature": 0}
    """,
    """
    import tiktoken
    class Counter:
        enc = tiktoken.get_encoding("cl100k_base")
    def run(llm_factory):
        return llm_factory(model="gpt-4.1-mini")
    """,
    """
    import tiktoken
    def budget(prompt: str, model: str = "claude-3-5-haiku-latest") -> int:
        enc = tiktoken.encoding_for_model("gpt-4o")
        return 200_000 - len(enc.encode(prompt))
    """,
    """
    import tiktoken, litellm
    enc = tiktoken.get_encoding("cl100k_base")
    def call(messages):
        return litellm.completion(model="o4-mini", messages=messages)
    """,
    # An imported alias of the factory; the model named through a string-keyed subscript target.
    """
    from tiktoken import get_encoding as load
    settings = {}
    settings["model"] = "gpt-4o"
    ENC = load("cl100k_base")
    """,
    # libcst's parameters leave positional-only ones out, so gpt-4 below is no use of a model and
    # does not excuse cl100k_base (the ast gate must not let it).
    """
    import tiktoken
    MODEL = "gpt-4o"
    ENC = tiktoken.get_encoding("cl100k_base")
    def count(text, model="gpt-4", /):
        return len(ENC.encode(text))
    """,
    # A function defined in an `except` block is not the fallback (the ast gate stops at defs too).
    """
    import tiktoken
    try:
        import openai
    except ImportError:
        def counter():
            return tiktoken.get_encoding("p50k_base")
    CONFIG = {"model": "gpt-4o"}
    """,
    """
    import tiktoken
    DEFAULT_MODEL = "gpt-4o"
    def chunk(text, size=500):
        enc = tiktoken.get_encoding("cl100k_base")
        toks = enc.encode(text, disallowed_special=())
        return [enc.decode(toks[i:i + size]) for i in range(0, len(toks), size)]
    """,
]


_ENCODING_FUNCTIONS = {"tiktoken.get_encoding": "get_encoding", "tiktoken.encoding_for_model": "encoding_for_model"}
_STOP = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _fallback_calls(nodes) -> set[int]:
    """ids of the calls `_is_fallback` sees in an `except` block: under an `except` handler of a
    `try` (libcst gives `except*` another node type) with no def or class in between."""
    found: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.Try):
            stack: list[ast.AST] = list(node.handlers)
            while stack:
                current = stack.pop()
                if isinstance(current, _STOP):
                    continue
                if isinstance(current, ast.Call):
                    found.add(id(current))
                stack.extend(ast.iter_child_nodes(current))
    return found


def _ast_encodings(nodes, lookup_model) -> list[str]:
    """The tokenizer names `_encodings` yields, less the fallbacks `find` drops."""
    origins = fallbacks = None
    encodings: list[str] = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        # The qualified name ends with the attribute, or with the origin of an imported name.
        if isinstance(func, ast.Attribute):
            if func.attr not in ("get_encoding", "encoding_for_model"):
                continue
        elif not isinstance(func, ast.Name):
            continue
        args = [a for a in node.args if not isinstance(a, ast.Starred)]
        literal = string_constant(args[0]) if args else None
        if literal is None:
            continue
        if origins is None:
            origins = import_origins(nodes)
        kinds = {_ENCODING_FUNCTIONS[q] for q in qualified_names(func, origins) if q in _ENCODING_FUNCTIONS}
        if not kinds:
            continue
        if fallbacks is None:
            fallbacks = _fallback_calls(nodes)
        if id(node) in fallbacks:
            continue
        if "get_encoding" in kinds:
            encodings.append(literal)
        if "encoding_for_model" in kinds:
            info = lookup_model(literal)
            if info is not None:
                encodings.append(info.tokenizer)
    return encodings


def _ast_model_literals(nodes):
    """(literal, certain) for `_models._model_literals` on ast: model keywords, `{"model": ...}`
    entries, model-named parameter defaults and assignments to model-named targets. `certain` is
    False where ast cannot tell whether libcst counts it: positional-only defaults (libcst leaves
    them out) and `x["model",]` targets (libcst names `x[("model",)]` by nothing)."""
    for node in nodes:
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in _MODEL_KEYWORDS:
                    yield string_constant(keyword.value), True
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if string_constant(key) in _MODEL_KEYWORDS:
                    yield string_constant(value), True
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            defaults = zip(positional[len(positional) - len(args.defaults):], args.defaults)
            for arg, default in [*defaults, *zip(args.kwonlyargs, args.kw_defaults)]:
                if default is not None and is_model_name_key(arg.arg):
                    yield string_constant(default), arg not in args.posonlyargs
    for node in nodes:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        literal = string_constant(value)
        if not literal:
            continue
        for target in targets:
            for text in target_texts(target):
                if is_model_name_key(last_name_of_target(text)):
                    yield literal, "[" not in text or not _has_one_tuple_key(target)


def _has_one_tuple_key(target) -> bool:
    return any(isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Tuple) and len(n.slice.elts) == 1
               for n in ast.walk(target))


def _ast_may_report(nodes, settings) -> bool:
    """`find` on CPython's ast, with the same registry lookups: a fixed tiktoken encoding outside
    an `except` fallback, and a model the module uses whose tokenizer matches none of them.
    More encodings only add reports, but more model uses can also remove them (a matching one),
    so the uses ast is unsure of only count towards "the module uses a model"."""
    lookup_model = project_lookup(settings.project_root)
    encodings = _ast_encodings(nodes, lookup_model)
    if not encodings:
        return False
    certain, possible = set(), set()
    for literal, is_certain in _ast_model_literals(nodes):
        info = lookup_model(literal) if literal else None
        if info is not None:
            (certain if is_certain else possible).add(info.tokenizer)
    return bool(certain or possible) and any(not any(same_tokenizer(e, t) for t in certain) for e in encodings)


class EncodingModelMismatch(Rule):
    """
    ## What it does
    `tiktoken.get_encoding("cl100k_base")` (or `encoding_for_model("gpt-4")`) in a module
    whose requests go to a model with another tokenizer: gpt-4o, gpt-4.1, o-series and gpt-5 use
    o200k_base; any tiktoken encoding used for a Claude model, which has its own tokenizer.

    ## Why is this bad?
    Different vocabularies give different counts for the same text. cl100k_base counts a
    gpt-4o prompt a few percent high on English and much further off on other languages and code;
    tiktoken undercounts Claude prompts by 10-30% and more, so a budget check that passes still
    overflows the window, and cost estimates are off by the same amount.

    ## Example
    ```python
    enc = tiktoken.get_encoding("cl100k_base")                           # TB501
    ...
    client.chat.completions.create(model="gpt-4o", messages=messages)
    ```

    ## Fix
    Derive the encoding from the model (`tiktoken.encoding_for_model(model)`), or count with
    `pytest_tokenbudget.count_tokens(text, model)`, which picks the model's own tokenizer (Claude
    included) from the registry.

    ## Not a finding
    An encoding that matches at least one model the module uses (embedding models
    included), `encoding_for_model(<variable>)`, and a fixed encoding used as the fallback in an
    `except` after `encoding_for_model` failed.
    """

    code = CODE
    name = NAME
    message = "a tokenizer encoding that does not match the model the module uses"
    # A tiktoken factory called by name (or imported under its name), and a model-ish name.
    triggers = ((r"tiktoken", r"get_encoding|encoding_for_model", r"(?i)model|engine|deployment"),)
    ast_may_report = staticmethod(_ast_may_report)
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(index_module(self.context.module), project_lookup(self.context.settings.project_root)):
            self.report(node, message)
