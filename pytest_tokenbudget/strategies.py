"""Hypothesis strategies for the prompts nobody wrote an example for: text that is dense in tokens
(emoji, CJK, RTL, combining marks, base64, special-token strings...) sized in a model's tokens,
and chat histories, tools and request bodies in each provider's valid shape.

    from hypothesis import given
    from pytest_tokenbudget import strategies as tbst

    @given(tbst.chat_histories(max_messages=20))
    def test_prompt_fits(history): ...

Everything is built step by step inside the strategy, so whatever Hypothesis shrinks a failing
example to is still a valid conversation: tool calls come with their results, Anthropic turns
alternate, ids are unique. This module imports hypothesis; `import pytest_tokenbudget` does not.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib
from functools import lru_cache
from typing import Any, Callable, Collection, Mapping, Sequence

from hypothesis import reject, strategies as st

from ._models import Registry
from ._requests import count_request, count_tokens

__all__ = [
    "PROVIDERS", "SPECIAL_TOKEN_STRINGS", "TEXT_KINDS", "chat_histories", "chat_messages", "png_bytes",
    "register_sdk_types", "requests", "texts", "tool_definitions",
]

PROVIDERS = ("openai", "anthropic")

# Strings tokenizers treat specially when asked to; to the API they are user text like any other.
SPECIAL_TOKEN_STRINGS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
    "<|endofprompt|>", "<|start|>", "<|end|>", "<|message|>", "<s>", "</s>", "[INST]", "[/INST]",
)
_EMOJI = (
    "😀", "🙂", "👍🏽", "🇯🇵", "🇧🇷", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🧑🏿‍💻", "❤️‍🔥", "🤦🏼‍♀️", "🐍", "🔥", "✅", "🫠", "👩‍❤️‍💋‍👨",
)
# The code points emoji sequences are built of (with the joiner, variation selector, skin tones
# and regional indicators), for strings of them that no keyboard would type but a tokenizer must take.
_EMOJI_CODEPOINTS = "".join(sorted(set("".join(_EMOJI)) | set("\U0001f3fb\U0001f3fc\U0001f3fe\U0001f1fa\U0001f1f8")))
_PHRASES = (
    "Where is my order?", "I was charged twice for the same invoice.", "Can I change the shipping address",
    "refund please", "the tent arrived broken and the box was open", "ok thanks", "Hi! 👋",
    "Order A-1042 still says processing after two weeks, what is going on",
)
_WHITESPACE = " \t\n\r\u00a0\u2003\u3000\u200b"
# What users paste: stack traces, code, log lines, payloads. Drawn whole, so each costs one choice.
_CODE = (
    "Traceback (most recent call last):\n  File \"/app/main.py\", line 42, in <module>\n    main()\n",
    "    raise ValueError(f\"bad order {order_id!r}\")\nValueError: bad order 'A-10'\n",
    "def lookup(order_id: str) -> dict:\n\treturn ORDERS[order_id]\n",
    "for (let i = 0; i < n; i++) { total += items[i].price * items[i].qty; }\n",
    "SELECT o.id, SUM(l.qty) FROM orders o JOIN lines l ON l.order_id = o.id GROUP BY o.id;\n",
    "2026-01-05T10:22:31.512Z ERROR [warehouse-client] retrying connection (attempt 3/5)\n",
    "```python\nimport json\nprint(json.dumps({'a': [1, 2, 3]}, indent=2))\n```\n",
    "<div class=\"order\"><span id=\"status\">shipped</span></div>\n",
)
_JSON_BLOBS = (
    '{"id":"A-1042","items":[{"sku":"TENT-2P","qty":1,"price":199.0},{"sku":"BAG-0C","qty":2,"price":89.5}]}',
    '{"error":{"code":429,"message":"Rate limit exceeded","retry_after_ms":1200}}',
    '{"名前":"山田太郎","住所":"東京都港区","注文":[1042,1043]}',
    '[[0.0123,-0.9981,0.5],[1e-07,3.14159,null],[true,false,"x"]]',
)
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ALNUM = _LOWER + _LOWER.upper() + "0123456789"


def _word(first: str, rest: str, max_rest: int) -> st.SearchStrategy[str]:
    # What from_regex would draw for `[first][rest]{0,max_rest}`, at a fraction of its cost.
    return st.builds(str.__add__, st.sampled_from(first), st.text(rest, max_size=max_rest))


# Hypothesis spends its time per choice (tens of microseconds each, more with the spans it
# mutates), and a history of 30 messages drawn a character or a fragment at a time took seconds.
# So a text is one choice (see _RecipeText) from which plain Python makes the pieces below.


def _run(rng: random.Random, low: int, high: int, longest: int = 32) -> str:
    return "".join(map(chr, rng.choices(range(low, high + 1), k=rng.randint(1, longest))))


def _cjk(rng: random.Random) -> str:
    low, high = rng.choice(((0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3)))
    # Now and then an Extension B ideograph (names, place names): outside the BMP, so a pair in UTF-16.
    return "".join(chr(rng.randint(0x20000, 0x2A6DF)) if rng.random() < 0.1 else chr(rng.randint(low, high))
                   for _ in range(rng.randint(1, 32)))


def _emoji(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choices(_EMOJI, k=rng.randint(1, 4)))
    return "".join(rng.choices(_EMOJI_CODEPOINTS, k=rng.randint(1, 16)))


_IDENTIFIERS = ("order_id", "q", "user", "items", "x", "total_price_usd", "日付", "is_gift", "_meta", "tracking")


def _json_scalar(rng: random.Random) -> Any:
    pick = rng.randrange(7)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.randint(-10**12, 10**12)
    if pick == 3:
        return rng.choice((0.0, -0.5, 1e-07, 3.14159, 1e308, -2.5e-300, rng.uniform(-1e6, 1e6)))
    if pick == 4:
        return rng.choice(_PHRASES + SPECIAL_TOKEN_STRINGS)
    return _run(rng, 0x20, 0x7E, 12) if pick == 5 else _run(rng, 0x4E00, 0x9FFF, 12)


def _arguments(rng: random.Random) -> dict[str, Any]:
    """A tool call's arguments: flat (tokenizers see nothing in nesting that brackets in strings
    do not already show them)."""
    makers: dict[str, Callable[[], Any]] = {
        "order_id": lambda: f"A-{rng.randint(0, 10**6)}", "query": lambda: _json_scalar(rng),
        "limit": lambda: rng.randint(-1, 10**6), "filters": lambda: [_json_scalar(rng) for _ in range(rng.randint(0, 3))],
    }
    return {key: make() for key, make in makers.items() if rng.random() < 0.5}


def _url(rng: random.Random) -> str:
    query = _run(rng, 0x21, 0x7E, 10) if rng.random() < 0.5 else _run(rng, 0xC0, 0x24F, 10)
    return f"https://{_run(rng, 0x61, 0x7A, 10)}.example.com/{rng.choice(_IDENTIFIERS)}?q={query}&utm_source=mail%20campaign"


# Each kind makes one piece of text from the recipe's random generator.
_KINDS: dict[str, Callable[[random.Random], str]] = {
    "emoji": _emoji,
    "cjk": _cjk,
    "rtl": lambda rng: f"\u202b{_run(rng, *rng.choice(((0x0600, 0x06FF), (0x05D0, 0x05EA))))}\u202c",
    "combining": lambda rng: rng.choice("aeoxZ") + _run(rng, 0x0300, 0x036F, 8),
    "whitespace": lambda rng: rng.choice(_WHITESPACE) * rng.randint(1, 40),
    "code": lambda rng: rng.choice(_CODE),
    "json": lambda rng: rng.choice(_JSON_BLOBS) if rng.random() < 0.5 else json.dumps(
        {rng.choice(_IDENTIFIERS): _json_scalar(rng)}, ensure_ascii=False),
    "url": _url,
    "number": lambda rng: str(rng.randint(-10**30, 10**30)) if rng.random() < 0.5 else repr(rng.uniform(-1e9, 1e9)),
    "base64": lambda rng: base64.b64encode(rng.randbytes(rng.randint(1, 96))).decode(),
    "glued": lambda rng: rng.choice(_PHRASES[3:6] + ("token", "budget", "order")) * rng.randint(2, 12),
    "special": lambda rng: rng.choice(SPECIAL_TOKEN_STRINGS),
    "plain": lambda rng: rng.choice(_PHRASES) if rng.random() < 0.5 else _run(rng, 0x61, 0x7A, 12),
    # Half of a surrogate pair: JSON carries it as "\ud83d", UTF-8 cannot encode it. Opt-in.
    "surrogate": lambda rng: chr(rng.randint(0xD800, 0xDFFF)),
}
TEXT_KINDS = tuple(_KINDS)
_DEFAULT_KINDS = frozenset(TEXT_KINDS) - {"surrogate"}
# Pieces made for one text at most; a longer text repeats them.
_MAX_PIECES = 24
_RECIPE = st.integers(0, 2**24 - 1)
_SEPARATORS = ("", " ", " ", "\n", ", ", "\n\n")


def texts(
    *,
    min_tokens: int = 0,
    max_tokens: int = 64,
    model: str = "gpt-4o",
    alphabet: Collection[str] | st.SearchStrategy[str] | None = None,
    surrogates: bool = False,
) -> st.SearchStrategy[str]:
    """Text of `min_tokens` to `max_tokens` tokens of `model` (counted as `count_tokens` does),
    mixing the kinds of text that cost the most tokens per character. `alphabet` narrows it: kind
    names from `TEXT_KINDS` (e.g. `{"cjk", "emoji"}`), or a strategy for single characters. Lone
    surrogates (which JSON APIs accept as `\\ud83d` escapes but UTF-8 cannot encode) come only
    with `surrogates=True` or `alphabet={"surrogate", ...}`."""
    return _drawn_text(_text_maker(min_tokens, max_tokens, model, alphabet, surrogates))


def _text_maker(min_tokens: int, max_tokens: int, model: str, alphabet: Collection[str] | st.SearchStrategy[str] | None,
                surrogates: bool) -> Callable[[Any], str]:
    """texts()'s checks, and what draws one such text given Hypothesis's `draw`. Histories call
    it directly: a text drawn as a strategy of its own would cost a span more each time."""
    if isinstance(min_tokens, bool) or not isinstance(min_tokens, int) or not isinstance(max_tokens, int) \
            or min_tokens < 0 or max_tokens < min_tokens:
        raise ValueError(f"texts() needs whole numbers 0 <= min_tokens <= max_tokens, got "
                         f"min_tokens={min_tokens!r}, max_tokens={max_tokens!r}")
    # Loaded once: finding the project's pyproject.toml on every count would cost 20 times the count.
    registry = Registry.load()
    registry.get(model)  # an unknown model fails here, naming the closest ones
    # Claude's estimate charges a constant for any text, so some ranges hold no text at all.
    floor = count_tokens("", model, registry=registry)
    if max_tokens < floor:
        raise ValueError(f"texts(max_tokens={max_tokens}): no text is that short in {model}'s tokens "
                         f"(even an empty one counts {floor}); raise max_tokens")

    def count(text: str) -> int:
        return count_tokens(text, model, registry=registry)

    if isinstance(alphabet, st.SearchStrategy):
        return _SizedText(_CharacterText(st.text(alphabet, min_size=1, max_size=24), min_tokens, max_tokens),
                          count, min_tokens, max_tokens)
    kinds = _DEFAULT_KINDS if alphabet is None else frozenset(alphabet)
    if surrogates:
        kinds |= {"surrogate"}
    unknown = sorted(kinds - set(_KINDS))
    if unknown or not kinds:
        raise ValueError(f"texts(alphabet=...): unknown text kinds {unknown}; choose from {', '.join(TEXT_KINDS)}")
    return _SizedText(_RecipeText(tuple(name for name in TEXT_KINDS if name in kinds), min_tokens, max_tokens),
                      count, min_tokens, max_tokens)


@st.composite
def _drawn_text(draw: Any, make: Callable[[Any], str]) -> str:
    return make(draw)


def _fill(make_piece: Callable[[], str], target: int, count: Callable[[str], int], spread: Callable[[], int]) -> str:
    """Pieces until their own counts reach `target` (joining merges a token or two per seam at
    most; the exact count follows), a piece repeated to fill 1/spread() of what is missing."""
    pieces: list[str] = []
    estimate = 0
    while estimate < target and len(pieces) < _MAX_PIECES:
        piece = make_piece()
        tokens = max(1, count(piece))
        repeats = max(1, (target - estimate) // (tokens * spread()))
        pieces.append(piece * repeats)
        estimate += tokens * repeats
    text = "".join(pieces)
    return text * -(-target // estimate) if 0 < estimate < target else text


class _RecipeText:
    """Our own kinds: one Hypothesis choice for a whole text, standing for its size in tokens
    (the low part) and a recipe (the rest), a seed from which plain Python makes the pieces.
    The shrinker lowering the choice shortens the text; at 0 it is the shortest of one kind."""

    def __init__(self, kinds: tuple[str, ...], min_tokens: int, max_tokens: int) -> None:
        self.kinds = kinds
        self.first = kinds[0]
        self.min_tokens = min_tokens
        self.sizes = max_tokens - min_tokens + 1
        # At most 2**24 values: Hypothesis draws those uniformly, a wider range mostly small.
        self.choice = st.integers(0, self.sizes * max(256, 2**24 // self.sizes) - 1)

    def __call__(self, draw: Any, count: Callable[[str], int]) -> str:
        value = draw(self.choice)
        target = self.min_tokens + value % self.sizes
        recipe = value // self.sizes
        if recipe == 0:  # the first kind alone (emoji, in the default mix: shrunk text stays dense)
            rng = random.Random(0)
            return _fill(lambda: _KINDS[self.first](rng), target, count, lambda: 1)
        rng = random.Random(recipe)
        mix = rng.sample(self.kinds, min(len(self.kinds), rng.choice((1, 2, 2, 3))))
        # Chat text has emoji between its words: where emoji are allowed, half the texts carry
        # some whatever their mix, at all offsets (where a UTF-16 cut can split one).
        sprinkled = "emoji" in self.kinds and rng.random() < 0.5
        separator = rng.choice(_SEPARATORS)

        def piece() -> str:
            made = _KINDS[rng.choice(mix)](rng)
            if sprinkled and rng.random() < 0.5:
                made += rng.choice(_EMOJI)
            return made + separator

        # Repeats are what pasted logs and emoji floods look like, and cost nothing to make.
        return _fill(piece, target, count, lambda: rng.choice((1, 4, 16, 64)))


class _CharacterText:
    """A user's own character strategy: Hypothesis draws the size, then a few dozen fragments."""

    def __init__(self, fragment: st.SearchStrategy[str], min_tokens: int, max_tokens: int) -> None:
        self.fragment = fragment
        self.size = st.integers(min_tokens, max_tokens)

    def __call__(self, draw: Any, count: Callable[[str], int]) -> str:
        return _fill(lambda: draw(self.fragment), draw(self.size), count, lambda: 1)


class _SizedText:
    """A text made by `make`, then cut or topped up into [min_tokens, max_tokens] by exact count."""

    def __init__(self, make: Callable[[Any, Callable[[str], int]], str], count: Callable[[str], int],
                 min_tokens: int, max_tokens: int) -> None:
        self.make = make
        self.count = count
        self.min_tokens = min_tokens
        self.max_tokens = max_tokens

    def __call__(self, draw: Any) -> str:
        count, min_tokens, max_tokens = self.count, self.min_tokens, self.max_tokens
        text = self.make(draw, count)
        tokens = count(text)
        if tokens > max_tokens:
            text = _cut_to(text, max_tokens, count)
            tokens = count(text)
        # Seams merged into fewer tokens than the target: top up with single-token words. A cut can
        # undo a top-up (tokenizers are not monotonic at the end of a text), so some rounds, then give up.
        for attempt in range(8):
            if min_tokens <= tokens <= max_tokens:
                return text
            # Doubling: where a word costs less than a token (Claude's estimate), one per missing
            # token is not enough.
            text += " x" * ((min_tokens - tokens) << attempt)
            tokens = count(text)
            if tokens > max_tokens:
                text = _cut_to(text, max_tokens, count)
                tokens = count(text)
        reject()  # pragma: no cover - not seen with the shipped tokenizers


def _cut_to(text: str, max_tokens: int, count: Callable[[str], int]) -> str:
    """The longest prefix of `text` within `max_tokens`, found by bisection: about log2(len)
    counts. A prefix that is checked to fit is the only thing ever kept, so the result fits."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count(text[:middle]) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return text[:low]


# --- images, tools -------------------------------------------------------------------------


@lru_cache(maxsize=256)
def png_bytes(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG of this size: all black, and at most a few KB however large."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)
    pixels = zlib.compress(row * height, 1)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


# Sizes real prompts carry (phone photos, screenshots, thumbnails) first, then any size.
_COMMON_IMAGE_SIZES = ((1, 1), (512, 512), (768, 1024), (1024, 1024), (1920, 1080), (2048, 1536), (4032, 3024))
_IMAGE_SIZES = st.sampled_from(_COMMON_IMAGE_SIZES) | st.tuples(st.integers(1, 2048), st.integers(1, 2048))
_PLAIN_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)
_TOOL_NAME = _word(_ALNUM[:52], _ALNUM + "_-", 30)


def _with_description(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "description": description} if description else schema


_LEAF_SCHEMAS = st.builds(
    _with_description,
    st.one_of(
        st.sampled_from([{"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}]),
        st.lists(_PLAIN_TEXT.filter(bool), min_size=1, max_size=5, unique=True).map(lambda values: {"type": "string", "enum": values}),
    ),
    _PLAIN_TEXT,
)


@st.composite
def _object_schema(draw: Any, inner: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    properties = draw(st.dictionaries(st.sampled_from(_IDENTIFIERS), inner, max_size=5))
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = draw(st.lists(st.sampled_from(sorted(properties)), unique=True)) if properties else []
    if required:
        schema["required"] = required
    return schema


def _nested_schemas(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if depth == 0:
        return _LEAF_SCHEMAS
    inner = _nested_schemas(depth - 1)
    return st.one_of(_LEAF_SCHEMAS, st.builds(lambda items: {"type": "array", "items": items}, inner), _object_schema(inner))


_PARAMETERS = _object_schema(_nested_schemas(2))


@st.composite
def tool_definitions(draw: Any, provider: str = "openai", *, name: str | None = None) -> dict[str, Any]:
    """A function tool in `provider`'s shape, its input a JSON schema of nested objects, arrays,
    enums and descriptions."""
    _check_provider(provider)
    tool_name = name or draw(_TOOL_NAME)
    description = draw(texts(min_tokens=1, max_tokens=40, alphabet={"plain", "cjk", "emoji", "code"}))
    parameters = draw(_PARAMETERS)
    if provider == "anthropic":
        return {"name": tool_name, "description": description, "input_schema": parameters}
    return {"type": "function", "function": {"name": tool_name, "description": description, "parameters": parameters}}


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, not {provider!r}")


def _tool_name(tool: Mapping[str, Any]) -> str:
    return tool["function"]["name"] if "function" in tool else tool["name"]


# --- messages and histories -----------------------------------------------------------------


def _default_model(provider: str) -> str:
    return "claude-sonnet-4-5" if provider == "anthropic" else "gpt-4o"


_NAMES = ("alice", "Bob_2", "support-agent", "u123", "X")
_USER_SHAPES = 1024
_USER_SHAPE = st.integers(0, _USER_SHAPES - 1)
_TURN_SHAPE = st.integers(0, 16 * _USER_SHAPES - 1)
_DETAIL = st.sampled_from(["auto", "low", "high"])


class _Builder:
    """Draws one provider's messages. Ids are numbered, so a history never repeats one."""

    def __init__(self, draw: Any, provider: str, text: Callable[[Any], str], images: bool) -> None:
        self.draw = draw
        self.provider = provider
        self.text = text
        self.images = images
        self.next_id = 0

    def new_id(self) -> str:
        self.next_id += 1
        prefix = "toolu_" if self.provider == "anthropic" else "call_"
        return f"{prefix}{self.next_id:04d}"

    def any_text(self) -> str:
        text = self.text(self.draw)
        # ...and whitespace-only ones: one token of punctuation instead.
        if self.provider == "anthropic" and not text.strip():
            return "."
        return text

    def text_part(self) -> dict[str, Any]:
        return {"type": "text", "text": self.any_text()}

    def image_part(self) -> dict[str, Any]:
        data = base64.b64encode(png_bytes(*self.draw(_IMAGE_SIZES))).decode()
        if self.provider == "anthropic":
            return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
        return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}", "detail": self.draw(_DETAIL)}}

    def user(self, shape: int | None = None) -> dict[str, Any]:
        # One choice for the message's whole shape, each feature a bit or two, so that it shrinks
        # to 0: one text, no name, no image. (A choice per feature was most of the generation time.)
        if shape is None:
            shape = self.draw(_USER_SHAPE)
        if shape & 1:
            parts = [self.text_part() for _ in range(1 + (shape >> 1) % 3)]
            if self.images and shape & 8:
                parts.insert((shape >> 4) % (len(parts) + 1), self.image_part())
            message: dict[str, Any] = {"role": "user", "content": parts}
        else:
            message = {"role": "user", "content": self.any_text()}
        if self.provider == "openai" and shape & 64:
            message["name"] = _NAMES[(shape >> 7) % len(_NAMES)]
        return message

    def assistant(self) -> dict[str, Any]:
        return {"role": "assistant", "content": self.any_text()}

    def system(self) -> dict[str, Any]:
        return {"role": "system", "content": self.any_text()}

    def tool_round(self, tool_names: Sequence[str], calls: int, say_something: bool) -> list[dict[str, Any]]:
        """An assistant message calling `calls` tools (with text first if `say_something`), then
        the message(s) carrying their results."""
        ids = [self.new_id() for _ in range(calls)]
        # One choice a call, for its tool and arguments: 0 is the first tool with no arguments.
        recipes = [self.draw(_RECIPE) for _ in ids]
        names = [tool_names[recipe % len(tool_names)] for recipe in recipes]
        arguments = [_arguments(random.Random(recipe // len(tool_names))) if recipe >= len(tool_names) else {}
                     for recipe in recipes]
        results = [self.any_text() for _ in ids]
        if self.provider == "anthropic":
            preamble = [self.text_part()] if say_something else []
            uses = [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in zip(ids, names, arguments)]
            returned = [{"type": "tool_result", "tool_use_id": i, "content": r} for i, r in zip(ids, results)]
            return [{"role": "assistant", "content": [*preamble, *uses]}, {"role": "user", "content": returned}]
        calls_field = [{"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                       for i, n, a in zip(ids, names, arguments)]
        call: dict[str, Any] = {"role": "assistant", "content": self.any_text() if say_something else None,
                                "tool_calls": calls_field}
        return [call, *({"role": "tool", "tool_call_id": i, "content": r} for i, r in zip(ids, results))]


def chat_messages(
    provider: str = "openai",
    *,
    role: str | None = None,
    model: str | None = None,
    max_tokens: int = 64,
    images: bool = True,
) -> st.SearchStrategy[dict[str, Any]]:
    """One message that stands on its own: a user, assistant or (OpenAI) system message, its text
    at most `max_tokens` tokens. Tool calls only exist with their results: see `chat_histories`."""
    _check_provider(provider)
    roles = ("user", "assistant") if provider == "anthropic" else ("system", "user", "assistant")
    if role is not None and role not in roles:
        raise ValueError(f"chat_messages(role=...) must be one of {', '.join(roles)} for {provider}, not {role!r}")
    chosen_model = model or _default_model(provider)
    text = _message_text(provider, max_tokens, chosen_model, False)  # bad arguments fail now, not at the first draw

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        builder = _Builder(draw, provider, text, images)
        return getattr(builder, role or draw(st.sampled_from(roles)))()

    return build()


def chat_histories(
    provider: str = "openai",
    *,
    min_messages: int = 1,
    max_messages: int = 12,
    max_tokens_per_message: int = 64,
    tool_calls: bool = True,
    tools: Sequence[Mapping[str, Any]] | None = None,
    system: bool = True,
    images: bool = True,
    surrogates: bool = False,
    model: str | None = None,
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """A conversation `provider` would accept, of `min_messages` to `max_messages` messages: it
    starts with a user turn (after an optional system message, OpenAI only: Anthropic's goes in
    `system=`), every tool call is followed by its results, Anthropic roles alternate, and it ends
    on a message the model should answer whenever `max_messages` leaves room. Each text is at most
    `max_tokens_per_message` tokens of `model`. `tools` (definitions in the provider's shape) name
    the calls."""
    _check_provider(provider)
    if min_messages < 1 or max_messages < min_messages:
        raise ValueError(f"chat_histories() needs 1 <= min_messages <= max_messages, got {min_messages} and {max_messages}")
    chosen_model = model or _default_model(provider)
    text = _message_text(provider, max_tokens_per_message, chosen_model, surrogates)
    tool_names = [_tool_name(tool) for tool in tools] if tools else ["lookup_order", "search_docs", "get_weather"]
    return _histories(provider, min_messages, max_messages, text, tool_calls, tuple(tool_names), system, images)


def _message_text(provider: str, max_tokens: int, model: str, surrogates: bool) -> Callable[[Any], str]:
    # Anthropic refuses empty text blocks, so its texts have at least one token.
    return _text_maker(1 if provider == "anthropic" else 0, max_tokens, model, None, surrogates)


@st.composite
def _histories(draw: Any, provider: str, min_messages: int, max_messages: int, text: Callable[[Any], str],
               tool_calls: bool, tool_names: tuple[str, ...], system: bool, images: bool) -> list[dict[str, Any]]:
    builder = _Builder(draw, provider, text, images)
    messages: list[dict[str, Any]] = []
    if provider == "openai" and system and max_messages >= 2 and draw(st.booleans()):
        messages.append(builder.system())
    # Turn by turn, each drawn as one unit behind a "go on" choice, the way Hypothesis's lists
    # are: the shrinker deletes whole turns (a failing history shrinks to fewer messages) and
    # zeroes the choice to stop early. One in eight turns is the last, past min_messages.
    while len(messages) < max_messages:
        if len(messages) >= min_messages and draw(_GO_ON) == 0:
            break
        messages.extend(draw(_turn(builder, max_messages - len(messages), tool_calls, tool_names)))
    if messages[-1]["role"] == "assistant" and len(messages) < max_messages:
        messages.append(builder.user())
    return messages


_GO_ON = st.integers(0, 7)


@st.composite
def _turn(draw: Any, builder: _Builder, room: int, tool_calls: bool, tool_names: tuple[str, ...]) -> list[dict[str, Any]]:
    """A user message and the answer to it (text, or a tool round and then text), in `room` messages."""
    outer, builder.draw = builder.draw, draw
    try:
        # One choice for the turn's shape and its user message's (the low bits); 0 is a plain
        # question and answer.
        shape, user_shape = divmod(draw(_TURN_SHAPE), _USER_SHAPES)
        turn = [builder.user(user_shape)]
        if room < 2:
            return turn
        # A tool round is the call, its results (OpenAI sends one message per call) and the
        # assistant speaking again.
        most_calls = 3 if builder.provider == "anthropic" else min(3, room - 3)
        if tool_calls and room >= 4 and most_calls >= 1 and shape & 1:
            turn += builder.tool_round(tool_names, 1 + (shape >> 1) % most_calls, bool(shape & 8))
        turn.append(builder.assistant())
        return turn
    finally:
        builder.draw = outer


# --- request bodies -------------------------------------------------------------------------


def requests(model: str = "gpt-4o", *, near_tokens: int, within: int | None = None,
             max_messages: int = 8) -> st.SearchStrategy[dict[str, Any]]:
    """A request body for `model` (chat completions, or Anthropic messages for a Claude model)
    whose input, counted as `count_request` counts it, lands in [near_tokens - within, near_tokens]:
    for tests of behaviour right at a limit. `within` defaults to 2% or 8 tokens, whichever is
    more. The history is drawn small and the last user message is sized to make up the rest."""
    info = Registry.load().get(model)
    if isinstance(near_tokens, bool) or not isinstance(near_tokens, int) or near_tokens < 1:
        raise ValueError(f"requests(near_tokens=...) must be a positive whole number, not {near_tokens!r}")
    tolerance = within if within is not None else max(8, near_tokens // 50)
    if tolerance < 0:
        raise ValueError(f"requests(within=...) must be >= 0, not {within!r}")
    provider = "anthropic" if info.provider == "anthropic" else "openai"
    return _requests(model, provider, near_tokens, tolerance, max_messages)


@st.composite
def _requests(draw: Any, model: str, provider: str, near_tokens: int, tolerance: int, max_messages: int) -> dict[str, Any]:
    from ._fitting import FitError, fit_messages

    registry = Registry.load()
    per_message = max(count_tokens(".", model, registry=registry), near_tokens // (4 * max_messages))
    tools = draw(st.lists(tool_definitions(provider), max_size=2, unique_by=_tool_name))
    history = draw(chat_histories(provider, max_messages=max_messages, max_tokens_per_message=per_message,
                                  tools=tools or None, images=False, model=model))
    if provider == "anthropic" and history[-1]["role"] == "user":
        history.append({"role": "assistant", "content": "."})  # so that the sized user turn alternates
    system = draw(texts(min_tokens=1, max_tokens=per_message, model=model)) if provider == "anthropic" else None
    # The sized turn, a placeholder for now: what the rest of the request costs is counted around it.
    messages: list[dict[str, Any]] = [*history, {"role": "user", "content": "."}]
    # A drawn history (or its tools) can cost more than the target alone: the oldest turns go,
    # then the tools, then the system prompt, the way fit_messages keeps a conversation valid.
    for tools_kept, system_kept in ((tools, system), ([], system), ([], None)):
        try:
            # With its placeholder in, the request fits: the sized text has at least its tokens.
            messages = list(fit_messages(messages, model, max_input_tokens=near_tokens, tools=tools_kept or None,
                                         system=system_kept, registry=registry))
        except FitError:
            continue
        tools, system = tools_kept, system_kept
        break
    else:
        raise ValueError(f"requests(near_tokens={near_tokens}) is too small for {model}: even a request of one "
                         "empty user message is over it")
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": 256}
    if tools:
        body["tools"] = tools
    if system is not None:
        body["system"] = system
    # The sized turn's text is counted on its own, so the total moves token for token with it;
    # measured with a one-character probe, as an empty text can be framed differently.
    body["messages"] = [*messages[:-1], {"role": "user", "content": "."}]
    base = count_request(body, registry=registry).input_tokens - count_tokens(".", model, registry=registry)
    spare = near_tokens - base
    last = draw(texts(min_tokens=max(1, spare - tolerance), max_tokens=spare, model=model,
                      alphabet={"plain", "cjk", "emoji", "json", "code", "number"}))
    body["messages"] = [*messages[:-1], {"role": "user", "content": last}]
    return body


# --- st.from_type for the SDKs' message types -------------------------------------------------


def register_sdk_types() -> None:
    """Make `st.from_type(...)` draw our messages for the SDKs' message TypedDicts. Hypothesis calls
    this through its `hypothesis` entry point, and the pytest plugin again once tests are
    collected, so an SDK imported after Hypothesis is covered too. Only SDKs already imported are
    registered: importing them here would add seconds to every `import hypothesis`."""
    import sys

    from hypothesis import strategies as hypothesis_st

    if "openai" in sys.modules:
        from openai.types import chat

        for type_name, role in (("ChatCompletionSystemMessageParam", "system"), ("ChatCompletionUserMessageParam", "user"),
                                ("ChatCompletionAssistantMessageParam", "assistant")):
            hypothesis_st.register_type_strategy(getattr(chat, type_name), chat_messages("openai", role=role))
        # Hypothesis refuses to register a Union; its members are registered instead, so
        # from_type(ChatCompletionMessageParam) combines them. A tool or developer message alone:
        hypothesis_st.register_type_strategy(chat.ChatCompletionToolMessageParam, _lone_tool_message())
        hypothesis_st.register_type_strategy(chat.ChatCompletionFunctionMessageParam, _lone_function_message())
        developer = getattr(chat, "ChatCompletionDeveloperMessageParam", None)
        if developer is not None:
            hypothesis_st.register_type_strategy(
                developer, chat_messages("openai", role="system").map(lambda message: {**message, "role": "developer"}))
    if "anthropic" in sys.modules:
        from anthropic import types

        # Newer releases make MessageParam a Union of per-role TypedDicts, older ones one TypedDict.
        if hasattr(types, "UserMessageParam"):
            hypothesis_st.register_type_strategy(types.UserMessageParam, chat_messages("anthropic", role="user"))
            hypothesis_st.register_type_strategy(types.AssistantMessageParam, chat_messages("anthropic", role="assistant"))
        else:
            hypothesis_st.register_type_strategy(types.MessageParam, chat_messages("anthropic"))


def _lone_tool_message() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda number, content: {"role": "tool", "tool_call_id": f"call_{number:04d}", "content": content},
                     st.integers(1, 9999), texts(max_tokens=64))


def _lone_function_message() -> st.SearchStrategy[dict[str, Any]]:
    # The deprecated predecessor of tool messages, still in the SDK's Union.
    return st.builds(lambda name, content: {"role": "function", "name": name, "content": content},
                     _TOOL_NAME, texts(max_tokens=64))
