"""TB203: text cut by characters that is then sent to a model.

The rule's documentation is the docstring of CharTruncation below (`tokenbudget rule TB203`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Iterator

import libcst as cst

from checker.rule import Rule

from ._ast_gate import Aliases, calls_named, dotted_name, last_names, libcst_scopes, may_call_llm, number, own_sink_names
from ._llm import sent_to
from ._flow import base_name, flows_into_llm, in_tokenizer_fallback, tokenizer_used_on
from ._index import ModuleIndex, dotted, has_word, index_module, is_plural_collection, last_name, number_value
from ._llm import SENDS_TRIGGER, inside_display_call, is_tokenizer_call

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


def _cut(subscript: cst.Subscript) -> tuple[cst.BaseExpression | None, cst.BaseExpression | None] | None:
    if len(subscript.slice) != 1 or not isinstance(subscript.slice[0].slice, cst.Slice):
        return None
    piece = subscript.slice[0].slice
    if piece.step is not None:
        return None
    return piece.lower, piece.upper


def _bound_is_big(bound: cst.BaseExpression | None) -> bool | None:
    """True for a context-sized cut, False for a field-sized one, None for no bound."""
    if bound is None:
        return None
    value = number_value(bound)
    if value is not None:
        return abs(value) >= _MIN_CUT
    if isinstance(bound, cst.UnaryOperation):
        return _bound_is_big(bound.expression)
    return True  # a name or expression: a configured limit


def _looks_like_text(expr: cst.BaseExpression, index: ModuleIndex, scope) -> bool:
    if isinstance(expr, (cst.FormattedString, cst.SimpleString, cst.ConcatenatedString)):
        return True
    if isinstance(expr, cst.Call):
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
            if isinstance(value, (cst.FormattedString, cst.SimpleString, cst.ConcatenatedString)):
                return True
            if isinstance(value, (cst.List, cst.ListComp, cst.Tuple, cst.Dict)):
                return False
            if isinstance(value, cst.Call) and (last_name(value.func) in _STRING_METHODS or
                                                last_name(value.func) in {"str"}):
                return True
    return has_word(name, _TEXT_WORDS)


def find(index: ModuleIndex) -> Iterator[tuple[cst.CSTNode, str]]:
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


def _is_token_slice(subscript: cst.Subscript, index: ModuleIndex) -> bool:
    """`enc.decode(enc.encode(text)[:n])`: the slice is of tokens."""
    value = subscript.value
    if isinstance(value, cst.Call) and (is_tokenizer_call(value) or last_name(value.func) == "encode"):
        return True
    parent = index.parent(index.parent(subscript) or subscript)
    return isinstance(parent, cst.Call) and last_name(parent.func) == "decode"


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
    # A name without a text word, text because of what it is assigned (the ast gate follows it).
    """
    def ask(client, blob):
        blob = blob.strip()
        return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": blob[:9000]}])
    """,
]



def _ast_target_texts(target: ast.AST) -> list[str]:
    """`target_texts` for the targets `_looks_like_text` can ask about (no subscripts)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return [t for element in target.elts for t in _ast_target_texts(element)]
    if isinstance(target, ast.Starred):
        return _ast_target_texts(target.value)
    text = dotted_name(target)
    return [text] if text is not None else []


def _ast_stringish(value: ast.AST | None) -> bool:
    """A value that makes `_looks_like_text` say yes for the name assigned it."""
    if isinstance(value, (ast.JoinedStr, ast.Constant)):
        return isinstance(value, ast.JoinedStr) or isinstance(value.value, (str, bytes))
    return isinstance(value, ast.Call) and any(name in _STRING_METHODS or name == "str"
                                               for name in last_names(value.func))


def _ast_may_be_text(expr: ast.AST, group: list[ast.AST]) -> bool:
    """A superset of `_looks_like_text` (the list assignment that can make it say no is left out)."""
    if isinstance(expr, ast.JoinedStr) or (isinstance(expr, ast.Constant) and isinstance(expr.value, (str, bytes))):
        return True  # SimpleString (bytes too), FormattedString, ConcatenatedString
    if isinstance(expr, ast.Call):
        return any(name in _STRING_METHODS or name in {"str", "repr"} or name.endswith("_text")
                   or has_word(name, ("text", "prompt", "content", "str", "render", "format"))
                   for name in (n or "" for n in last_names(expr.func)))
    names = [n for n in last_names(expr) if n is not None and not has_word(n, _LIST_WORDS)
             and not is_plural_collection(n)]
    if not names:
        return False
    if any(has_word(name, _TEXT_WORDS) for name in names):
        return True
    text = dotted_name(expr)
    if text is None:
        return False
    for node in group:  # `index.assignments_to(text, scope)` with a string value
        if isinstance(node, ast.Assign):
            if _ast_stringish(node.value) and any(text in _ast_target_texts(t) for t in node.targets):
                return True
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            if _ast_stringish(node.value) and text in _ast_target_texts(node.target):
                return True
    return False


def _ast_big_cuts(group: list[ast.AST]) -> list[ast.Subscript]:
    """`_cut` + `_bound_is_big`: slices `x[a:b]` (no step) whose every bound is context-sized.
    `x[a:b,]` is one slice to libcst too."""
    found = []
    for node in group:
        if not isinstance(node, ast.Subscript):
            continue
        piece = node.slice
        if isinstance(piece, ast.Tuple) and len(piece.elts) == 1:
            piece = piece.elts[0]
        if isinstance(piece, ast.Slice) and piece.step is None:
            bounds = [b for b in (piece.lower, piece.upper) if b is not None]
            if bounds and all(_ast_bound_is_big(b) for b in bounds):
                found.append(node)
    return found


def _ast_bound_is_big(bound: ast.AST) -> bool:
    value = number(bound)
    if value is not None:
        return abs(value) >= _MIN_CUT
    if isinstance(bound, ast.UnaryOp):
        return _ast_bound_is_big(bound.operand)
    return True


def _ast_token_slices(group: list[ast.AST]) -> set[int]:
    """ids of slices that are surely `_is_token_slice`: an argument of a `decode(...)` call, or a
    slice of `....encode(...)`."""
    found: set[int] = set()
    for node in group:
        if isinstance(node, ast.Call) and all(name == "decode" for name in last_names(node.func)):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                found.add(id(arg.value if isinstance(arg, ast.Starred) else arg))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call) and \
                all(name == "encode" for name in last_names(node.value.func)):
            found.add(id(node))
    return found


def _ast_may_report(nodes, settings) -> bool:
    """In one libcst scope (`find` asks `flows_into_llm` about the slice's own scope): a
    context-sized slice of something that may be text and is not surely a token slice, and a call
    that may send to a model. Display calls, tokenizer fallbacks, `tokenizer_used_on` and the flow
    itself are left out (a superset)."""
    if not _ast_big_cuts(nodes):
        return False
    own = own_sink_names(nodes, settings)  # the file's own wrappers: `ask(text[:8000])`
    if not (may_call_llm(nodes) or calls_named(nodes, own)):
        return False
    aliases = Aliases(nodes)
    for group in libcst_scopes(nodes):
        cuts = _ast_big_cuts(group)
        if not cuts or not (may_call_llm(group, aliases) or calls_named(group, own)):
            continue
        token_slices = _ast_token_slices(group)
        if any(id(cut) not in token_slices and _ast_may_be_text(cut.value, group) for cut in cuts):
            return True
    return False


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
    ast_may_report = staticmethod(_ast_may_report)
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(index_module(self.context.module)):
            self.report(node, message)
