"""TB203: text cut by characters that is then sent to a model.

The rule's documentation is the docstring of CharTruncation below (`tokenbudget rule TB203`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Iterator

from checker.rule import Rule

from ._flow import base_name, flows_into_llm, in_tokenizer_fallback, tokenizer_used_on
from ._index import ModuleIndex, dotted, has_word, is_plural_collection, last_name, number_value
from ._llm import SENDS_TRIGGER, inside_display_call, is_tokenizer_call, sent_to

CODE = "TB203"
NAME = "char-truncation"

# Cuts shorter than this are field-sized (a title, a name, a preview), not context-sized.
_MIN_CUT = 200
_TEXT_WORDS = ("text", "prompt", "content", "context", "doc", "document", "body", "transcript",
               "article", "page", "html", "markdown", "md", "source", "code", "diff", "output",
               "result", "response", "summary", "input", "data", "string", "str", "raw", "file",
               "snippet", "passage", "report", "log", "description", "query", "question", "answer",
               "instructions", "readme", "observation", "chunk", "excerpt", "payload", "json")
_LIST_WORDS = ("messages", "history", "items", "list", "docs", "documents", "chunks", "rows", "turns",
               "ids", "tokens", "results", "lines", "nodes", "records", "examples", "files", "entries",
               "pages", "parts", "paragraphs", "sentences", "batch", "values", "arr", "array", "embeddings",
               "observations", "steps", "memories", "hits", "matches", "urls", "paths")
_STRING_METHODS = {"read", "read_text", "strip", "lower", "upper", "format", "join", "replace",
                   "decode", "getvalue", "dumps", "get_text", "to_string", "render", "as_posix"}


def _cut(subscript: ast.Subscript) -> tuple[ast.expr | None, ast.expr | None] | None:
    """The bounds of `x[a:b]` (no step); `x[a:b,]` is one slice too."""
    piece = subscript.slice
    if isinstance(piece, ast.Tuple) and len(piece.elts) == 1:
        piece = piece.elts[0]
    if not isinstance(piece, ast.Slice) or piece.step is not None:
        return None
    return piece.lower, piece.upper


def _bound_is_big(bound: ast.expr | None) -> bool | None:
    """True for a context-sized cut, False for a field-sized one, None for no bound."""
    if bound is None:
        return None
    value = number_value(bound)
    if value is not None:
        return abs(value) >= _MIN_CUT
    if isinstance(bound, ast.UnaryOp):
        return _bound_is_big(bound.operand)
    return True  # a name or expression: a configured limit


def _is_string(expr: ast.expr | None) -> bool:
    """A string literal, f-string or bytes literal."""
    return isinstance(expr, ast.JoinedStr) or (isinstance(expr, ast.Constant) and isinstance(expr.value, (str, bytes)))


def _looks_like_text(expr: ast.expr, index: ModuleIndex, scope) -> bool:
    if _is_string(expr):
        return True
    if isinstance(expr, ast.Call):
        name = last_name(expr.func) or ""
        if name in _STRING_METHODS or name in {"str", "repr"} or name.endswith("_text"):
            return True
        return has_word(name, ("text", "prompt", "content", "str", "render", "format"))
    name = last_name(expr)
    if name is None:
        return False
    if has_word(name, _LIST_WORDS) or is_plural_collection(name):
        return False
    text = dotted(expr)
    if text:
        for a in index.assignments_to(text, scope):
            value = a.value
            if _is_string(value):
                return True
            if isinstance(value, (ast.List, ast.ListComp, ast.Tuple, ast.Dict)):
                return False
            if isinstance(value, ast.Call) and (last_name(value.func) in _STRING_METHODS or
                                                last_name(value.func) in {"str"}):
                return True
    return has_word(name, _TEXT_WORDS)


def find(index: ModuleIndex) -> Iterator[tuple[ast.AST, str]]:
    for subscript in index.subscripts:
        cut = _cut(subscript)
        if cut is None:
            continue
        lower, upper = cut
        big = [b for b in (_bound_is_big(lower), _bound_is_big(upper)) if b is not None]
        if not big or not all(big):
            continue
        if inside_display_call(subscript, index) or in_tokenizer_fallback(subscript, index):
            continue
        scope = index.scope_of(subscript)
        if not _looks_like_text(subscript.value, index, scope):
            continue
        if _is_token_slice(subscript, index):
            continue
        if tokenizer_used_on(index, scope, base_name(subscript.value)):
            continue
        call = flows_into_llm(index, scope, subscript)
        if call is None:
            continue
        bound = upper if upper is not None else lower
        unit_mixup = has_word(last_name(bound) if bound is not None else None, ("tok",))
        detail = ("a token limit used as a character count" if unit_mixup
                  else "the same number of characters is 2-4x more tokens for code, JSON or non-English text")
        yield subscript, (f"`{index.code(subscript)}` cuts text by characters and sends it to {sent_to(call)} "
                          f"({detail}); cut by tokens with the model's tokenizer instead.")


def _is_token_slice(subscript: ast.Subscript, index: ModuleIndex) -> bool:
    """`enc.decode(enc.encode(text)[:n])`: the slice is of tokens."""
    value = subscript.value
    if isinstance(value, ast.Call) and (is_tokenizer_call(value) or last_name(value.func) == "encode"):
        return True
    call = _call_around(subscript, index)
    return call is not None and last_name(call.func) == "decode"


def _call_around(node: ast.expr, index: ModuleIndex) -> ast.Call | None:
    """The call `node` is an argument of (`decode(x[:n])`, `decode(*x)`, `decode(k=x)`) or the
    receiver of (`x[:n].decode()`): a cut of bytes or tokens being decoded."""
    parent = index.parent(node)
    if isinstance(parent, ast.Call) and parent.func is not node:
        return parent
    if isinstance(parent, (ast.Starred, ast.keyword, ast.Attribute)):
        outer = index.parent(parent)
        if isinstance(outer, ast.Call) and (outer.func is parent) == isinstance(parent, ast.Attribute):
            return outer
    return None


VALID = [
    # Display: cut for a log line.
    """
    def ask(client, prompt, log):
        log.info("sending prompt: %s", prompt[:200])
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
    """,
    # Cut by tokens.
    """
    import tiktoken
    enc = tiktoken.get_encoding("o200k_base")
    def ask(client, document):
        clipped = enc.decode(enc.encode(document, disallowed_special=())[:3000])
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": clipped}])
    """,
    # History trimmed by message count: a list slice.
    """
    def reply(client, messages):
        recent = messages[-20:]
        return client.chat.completions.create(model="gpt-4o-mini", messages=recent)
    """,
    # A short title field.
    """
    def label(client, title):
        short = title[:80]
        return client.messages.create(model="claude-3-5-haiku-latest", max_tokens=50,
                                      messages=[{"role": "user", "content": f"Tag: {short}"}])
    """,
    # Text cut but never sent to a model in this function.
    """
    def save_excerpt(db, article):
        db.store(article[:5000])
    """,
    # Extrapolated from a real count on the same text.
    """
    def clip(client, text, encoder, budget):
        ratio = len(text) / len(encoder.encode(text))
        text = text[: int(ratio * budget)]
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])
    """,
    # Documents list sliced by count.
    """
    def answer(llm, question, docs):
        top = docs[:5]
        return llm.invoke(f"{question}\\n" + "\\n".join(d.page_content for d in top))
    """,
    # Print preview of the output.
    """
    def run(client, prompt):
        out = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
        print(out.choices[0].message.content[:500])
        return out
    """,
    # Error message carries a cut.
    """
    def call(client, prompt):
        try:
            return client.responses.create(model="gpt-4.1", input=prompt)
        except Exception as exc:
            raise RuntimeError(f"failed on {prompt[:300]}") from exc
    """,
    # Cut of a token list.
    """
    def ask(client, tokens, tokenizer):
        text = tokenizer.decode(tokens[:4000])
        return client.completions.create(model="gpt-3.5-turbo-instruct", prompt=text)
    """,
    # Splitting into chunks, each counted.
    """
    from pytest_tokenbudget import count_tokens
    def summarize(client, text):
        chunk = text[:8000]
        assert count_tokens(text, "gpt-4o") < 100_000
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": chunk}])
    """,
    # Search results trimmed by count before a call.
    """
    def rag(client, question, results):
        context = "\\n".join(r.text for r in results[:1000])
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": context + question}])
    """,
    # A list of parsed tasks cut by count.
    """
    def step(self, llm, lookahead):
        query_tasks = self._parser.parse(lookahead)
        query_tasks = query_tasks[: self._max_lookahead_query_tasks]
        return llm.complete("\\n".join(t.query_str for t in query_tasks))
    """,
]

INVALID = [
    """
    def summarize(client, document):
        prompt = document[:12000]
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
    """,
    """
    def summarize(client, document):
        return client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Summarize:\\n" + document[:12000]}])
    """,
    """
    MAX_CHARS = 30_000
    def review(client, diff):
        body = diff[-MAX_CHARS:]
        prompt = f"Review this diff:\\n{body}"
        msgs = [{"role": "system", "content": "You review code."}]
        msgs.append({"role": "user", "content": prompt})
        return client.chat.completions.create(model="gpt-4.1", messages=msgs)
    """,
    """
    import anthropic
    def classify(transcript):
        client = anthropic.Anthropic()
        return client.messages.create(model="claude-sonnet-4-5", max_tokens=512,
            messages=[{"role": "user", "content": transcript[:50000]}])
    """,
    """
    def ask(llm, page_text, max_tokens):
        context = page_text[:max_tokens]
        return llm.invoke(f"Answer from this page:\\n{context}")
    """,
    """
    import litellm
    def extract(html):
        text = html[:20000]
        return litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    """,
    """
    async def describe(client, source_code):
        snippet = source_code[:8000]
        resp = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": snippet}])
        return resp
    """,
    """
    class Summarizer:
        def run(self, article):
            article = article[: self.max_chars]
            return self.client.responses.create(model="gpt-4.1-mini", input=article)
    """,
    """
    import json
    def analyze(client, payload):
        data = json.dumps(payload)[:15000]
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": data}])
    """,
    """
    def answer(client, question, context):
        messages = [
            {"role": "system", "content": "Use the context: " + context[:16000]},
            {"role": "user", "content": question},
        ]
        return client.chat.completions.create(model="gpt-4o", messages=messages)
    """,
    """
    def followup(llm, output):
        tail = output[-4000:]
        return llm.complete("Continue from here: " + tail)
    """,
    """
    def translate(client, text):
        return client.messages.create(model="claude-3-5-sonnet-latest", max_tokens=4096,
            system="Translate to French.", messages=[{"role": "user", "content": str(text)[:30000]}])
    """,
    # A name without a text word, text because of what it is assigned.
    """
    def ask(client, blob):
        blob = blob.strip()
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": blob[:9000]}])
    """,
]




class CharTruncation(Rule):
    """
    ## What it does
    `prompt[:12000]`, `document[-MAX_CHARS:]`, `text[:max_tokens]`, where the cut text flows
    (directly or through local names and lists) into an LLM request in the same function.

    ## Why is this bad?
    A character cut is a token cut only by accident. The same 12,000 characters are 3,000
    tokens of English prose and 8,000+ tokens of JSON, code or Chinese, so a cut sized to fit the
    window still overflows it on the inputs that matter, and a cut sized for the worst case throws
    away most of the context on ordinary input. `text[:max_tokens]` mixes the units outright.

    ## Example
    ```python
    content = document[:12000]                       # TB203
    client.chat.completions.create(model="gpt-4o",
        messages=[{"role": "user", "content": content}])
    ```

    ## Fix
    Cut by tokens with the model's tokenizer:
    ```python
    enc = tiktoken.get_encoding("o200k_base")
    content = enc.decode(enc.encode(document, disallowed_special=())[:3000])
    ```

    ## Not a finding
    Cuts for logging or display (`text[:50]` in a print or log call), list slices
    (`messages[-10:]` trims history), small cuts of short fields (titles, under 200 characters),
    and code that also runs a real tokenizer on the same text.
    """

    code = CODE
    name = NAME
    message = "text cut by characters that is then sent to a model"
    # A slice with a bound in a file that sends to a model.
    triggers = ((SENDS_TRIGGER, r"\[[^\]\n]*:"),)
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(self.context.index):
            self.report(node, message)
