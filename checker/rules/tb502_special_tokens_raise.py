"""TB502: tiktoken `encode()` on text that may contain special-token strings.

The rule's documentation is the docstring of SpecialTokensRaise below (`tokenbudget rule TB502`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Iterator

from checker.rule import Rule

from ._index import ModuleIndex, dotted, keyword_arg, positional_args, string_value

CODE = "TB502"
NAME = "special-tokens-raise"

_ENCODING_FACTORIES = {"tiktoken.get_encoding", "tiktoken.encoding_for_model", "tiktoken.Encoding",
                       "tiktoken.core.Encoding", "tiktoken.registry.get_encoding",
                       "tiktoken.model.encoding_for_model"}
_ENCODING_TYPES = {"tiktoken.Encoding", "tiktoken.core.Encoding"}


def _is_factory(expr: ast.expr | None, index: ModuleIndex) -> bool:
    return isinstance(expr, ast.Call) and (index.qualified(expr.func) or "") in _ENCODING_FACTORIES


def _is_encoding_type(annotation: ast.expr | None, index: ModuleIndex) -> bool:
    return annotation is not None and (index.qualified(annotation) or "") in _ENCODING_TYPES


def _encoding_names(index: ModuleIndex) -> set[str]:
    """Names (`enc`, `self.encoder`, `ENCODING`) bound to a tiktoken Encoding anywhere in the
    module, plus functions that return one (`get_encoder()`)."""
    names = {a.target for a in index.assignments if _is_factory(a.value, index)}
    for function in index.functions:
        returns = _returns(function, index)
        if returns and all(_is_factory(r.value, index) or (dotted(r.value) in names) for r in returns):
            names.add(function.name + "()")
        if _is_encoding_type(function.returns, index):
            names.add(function.name + "()")
        # Positional-or-keyword parameters only, as the libcst rule read them (findings unchanged).
        for param in function.args.args:
            if _is_encoding_type(param.annotation, index):
                names.add(param.arg)
    return names


def _returns(function: ast.FunctionDef | ast.AsyncFunctionDef, index: ModuleIndex) -> list[ast.Return]:
    return [r for r in index.returns if r.value is not None and index.scope_of(r) is function]


def _receiver_is_encoding(receiver: ast.expr, names: set[str], index: ModuleIndex) -> bool:
    if _is_factory(receiver, index):
        return True
    if isinstance(receiver, ast.Call):
        func = dotted(receiver.func)
        return func is not None and (func + "()") in names or \
            (func or "").replace("self.", "") + "()" in names
    text = dotted(receiver)
    if text is None:
        return False
    return text in names or ("self." + text.split(".", 1)[-1]) in names and text.startswith("self.")


def _may_hold_special_text(arg: ast.expr) -> bool:
    value = string_value(arg)
    if value is not None:
        return "<|" in value
    # `True` is an ast.Constant too, but not a number here
    return not (isinstance(arg, ast.Constant) and type(arg.value) in (int, float))


def find(index: ModuleIndex) -> Iterator[tuple[ast.AST, str]]:
    if "tiktoken" not in index.imports.values() and not any(v.startswith("tiktoken.") for v in index.imports.values()):
        return
    names = _encoding_names(index)
    for call in index.calls:
        func = call.func
        if not isinstance(func, ast.Attribute) or func.attr not in {"encode", "encode_batch"}:
            continue
        if keyword_arg(call, "disallowed_special") is not None or keyword_arg(call, "allowed_special") is not None \
                or any(k.arg is None for k in call.keywords):
            continue  # set explicitly, or possibly through **kwargs
        if not _receiver_is_encoding(func.value, names, index):
            continue
        args = positional_args(call)
        if not args or not _may_hold_special_text(args[0]):
            continue
        yield call, (f"tiktoken `{func.attr}()` raises ValueError when the text contains a special-token string "
                     "such as '<|endoftext|>' (user input, scraped pages and chat logs do). Pass "
                     "disallowed_special=() or use encode_ordinary().")


VALID = [
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    def count(text):
        return len(enc.encode(text, disallowed_special=()))
    """,
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    def count(text):
        return len(enc.encode_ordinary(text))
    """,
    """
    import tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    EOT = enc.encode("<|endoftext|>", allowed_special={"<|endoftext|>"})
    """,
    # A literal without special tokens.
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    HELLO = enc.encode("hello world")
    """,
    # str.encode is bytes.
    """
    import tiktoken
    def digest(text):
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    """,
    # Hugging Face tokenizer, not tiktoken.
    """
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained("gpt2")
    def count(text):
        return len(tok.encode(text))
    """,
    # No tiktoken in the module at all.
    """
    def count(enc, text):
        return len(enc.encode(text))
    """,
    """
    import tiktoken
    class Counter:
        def __init__(self):
            self.enc = tiktoken.encoding_for_model("gpt-4o")
        def __call__(self, text):
            return len(self.enc.encode(text, disallowed_special=()))
    """,
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    def count_all(texts):
        return [len(t) for t in enc.encode_ordinary_batch(texts)]
    """,
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    def count(text):
        return len(enc.encode(text, allowed_special="all"))
    """,
    # Base64 bytes of something, with tiktoken in the module for another purpose.
    """
    import base64, tiktoken
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()
    """,
    """
    import tiktoken
    def n(text, model):
        return len(tiktoken.encoding_for_model(model).encode(text, disallowed_special=()))
    """,
    # Receivers that are not known encodings.
    """
    import tiktoken
    from transformers import AutoTokenizer
    class Chunker:
        def __init__(self):
            self.tokenizer = AutoTokenizer.from_pretrained("gpt2")
        def ids(self, text):
            return self.tokenizer.encode(text), self.encoder().encode(text)
        def encoder(self):
            return self.tokenizer
    """,
    # Options passed through **kwargs may set disallowed_special.
    """
    import tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    def ids(text, **encoder_kwargs):
        return enc.encode(text, **encoder_kwargs)
    """,
]

INVALID = [
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    def count(text):
        return len(enc.encode(text))
    """,
    """
    import tiktoken
    def num_tokens(text, model="gpt-4o"):
        return len(tiktoken.encoding_for_model(model).encode(text))
    """,
    """
    import tiktoken
    class TokenCounter:
        def __init__(self, model):
            self.encoder = tiktoken.encoding_for_model(model)
        def count(self, message):
            return len(self.encoder.encode(message["content"]))
    """,
    """
    import tiktoken
    ENCODING = tiktoken.get_encoding("cl100k_base")
    def chunk(text, size=512):
        ids = ENCODING.encode(text)
        return [ENCODING.decode(ids[i:i + size]) for i in range(0, len(ids), size)]
    """,
    """
    import tiktoken as tk
    enc = tk.get_encoding("o200k_base")
    def count(doc):
        return len(enc.encode(doc.page_content))
    """,
    """
    from tiktoken import get_encoding
    encoding = get_encoding("cl100k_base")
    def budget(messages):
        return sum(len(encoding.encode(m["content"])) for m in messages)
    """,
    """
    import functools, tiktoken
    @functools.lru_cache()
    def get_encoder():
        return tiktoken.get_encoding("o200k_base")
    def count(text):
        return len(get_encoder().encode(text))
    """,
    """
    import tiktoken
    def count(text: str, enc: tiktoken.Encoding) -> int:
        return len(enc.encode(text))
    """,
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    def count(user, question):
        return len(enc.encode(f"{user}: {question}"))
    """,
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    def counts(texts):
        return [len(x) for x in enc.encode_batch(texts)]
    """,
    """
    import tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    SENTINEL = enc.encode("<|endoftext|>")
    """,
    # A comment between the dot and `encode` (the text trigger allows it); a getter known by its
    # return annotation, called on self.
    """
    import tiktoken
    class Counter:
        def get_encoder(self) -> tiktoken.Encoding:
            ...
        def count(self, text):
            return len((self.get_encoder().  # cached
                        encode(text)))
    """,
    # A getter that returns a name bound to an encoding.
    """
    from tiktoken import encoding_for_model as for_model
    ENC = for_model("gpt-4o")
    def encoder():
        return ENC
    def ids(text):
        return encoder().encode(text)
    """,
    """
    import tiktoken
    def fits(prompt, limit=8000):
        enc = tiktoken.get_encoding("cl100k_base")
        return len(enc.encode(prompt.strip())) <= limit
    """,
]




class SpecialTokensRaise(Rule):
    """
    ## What it does
    `enc.encode(text)` on a tiktoken encoding with a non-constant argument and neither
    `disallowed_special=()` nor `allowed_special=...`, and no `encode_ordinary`.

    ## Why is this bad?
    By default tiktoken refuses text that contains a special token's string: `enc.encode(x)`
    raises `ValueError: Encountered text corresponding to disallowed special token
    '<|endoftext|>'`. User messages, scraped pages, chat logs and code about LLMs contain those
    strings, so the token counter (or the chunker) crashes on the first such input in production,
    or a user can make a request fail on purpose.

    ## Example
    ```python
    enc = tiktoken.get_encoding("o200k_base")
    n = len(enc.encode(user_text))                 # TB502
    ```

    ## Fix
    Count special-token strings as ordinary text:
    ```python
    n = len(enc.encode(user_text, disallowed_special=()))
    ```
    or `enc.encode_ordinary(user_text)`.

    ## Not a finding
    String literals without special tokens, calls that pass `disallowed_special` or
    `allowed_special`, `encode_ordinary`, and `.encode()` on objects that are not tiktoken
    encodings (`str.encode`, Hugging Face tokenizers).
    """

    code = CODE
    name = NAME
    message = "tiktoken `encode()` on text that may contain special-token strings"
    # tiktoken, and an `.encode(` / `.encode_batch(` attribute (spaces, a line continuation or a
    # comment may sit between the dot and the name inside brackets; written so that each text has
    # one way to match, to keep the regex linear).
    triggers = ((r"tiktoken", r"\.(?:[ \t\f\r\n\\]|#[^\n]*\n)*encode(?:_batch)?\b"),)
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(self.context.index):
            self.report(node, message)
