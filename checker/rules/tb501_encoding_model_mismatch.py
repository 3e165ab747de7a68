"""TB501: a tokenizer encoding that does not match the model the module uses.

The rule's documentation is the docstring of EncodingModelMismatch below (`tokenbudget rule TB501`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Callable, Iterator

from checker.rule import Rule

from ._index import ModuleIndex, positional_args, string_value
from ._models import is_claude, lookup, model_uses, project_lookup, same_tokenizer

CODE = "TB501"
NAME = "encoding-model-mismatch"


def _encodings(index: ModuleIndex, lookup_model) -> Iterator[tuple[ast.Call, str, str]]:
    """(call, encoding name, how it was written) for each fixed tiktoken encoding."""
    for call in index.calls:
        qualified = index.qualified(call.func) or ""
        if not qualified.startswith("tiktoken."):
            continue
        args = positional_args(call)
        literal = string_value(args[0]) if args else None
        if literal is None:
            continue
        if qualified == "tiktoken.get_encoding":
            yield call, literal, f'get_encoding("{literal}")'
        elif qualified == "tiktoken.encoding_for_model":
            info = lookup_model(literal)
            if info is not None:
                yield call, info.tokenizer, f'encoding_for_model("{literal}")'


def _is_fallback(call: ast.Call, index: ModuleIndex) -> bool:
    # `except*` too (its handlers are ast.ExceptHandler): `except* KeyError` catches a bare KeyError.
    return index.enclosing(call, (ast.ExceptHandler,)) is not None


def find(index: ModuleIndex, lookup_model: Callable[[str], object] = lookup) -> Iterator[tuple[ast.AST, str]]:
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
    # An f-string is not a fixed encoding; a fixed encoding in an `except` is the fallback.
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
    # A positional-only parameter's default is not counted as a model use (model_uses reads the
    # other parameters only), so gpt-4 below does not excuse cl100k_base.
    """
    import tiktoken
    MODEL = "gpt-4o"
    ENC = tiktoken.get_encoding("cl100k_base")
    def count(text, model="gpt-4", /):
        return len(ENC.encode(text))
    """,
    # A function defined in an `except` block is not the fallback.
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
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(self.context.index, project_lookup(self.context.settings.project_root)):
            self.report(node, message)
