"""Offline Claude token counting: the ``ctok`` reconstruction when installed, else a calibrated
conservative estimate.

Anthropic publishes no tokenizer for Claude 3 and later. Three sources exist, best first, and each
count says which one produced it (its *provenance*):

1. ``recorded`` -- exact counts from Anthropic's count-tokens endpoint, kept in a lock file
   (see :mod:`pytest_tokenbudget._recorded`; the request walker asks it first).
2. ``ctok`` -- the `ctok <https://pypi.org/project/ctok/>`_ package (Python >= 3.12), an offline
   reconstruction of Claude's tokenizers. Its families: ``v3`` (Claude 3 through Opus 4.6 /
   Sonnet 4.6), ``v4.7`` (Opus 4.7) and ``v4.8`` (Opus 4.8 and later).
3. ``estimate`` -- a linear model over character classes whose factors were fitted against ctok
   on a varied corpus (``bench/calibrate_claude.py``) so that it never under-counted there. The
   factors live in ``data/claude_estimate.toml``.

How a whole request is composed
-------------------------------
ctok counts *one user message including its frame*: ``ctok.token_count(text, v)`` equals the
family's measured ``message_overhead`` (the frame) plus the content tokens of ``text``. A
:class:`ClaudeTextCounter` splits the two apart, and the request walker composes::

    request = request_overhead
            + sum over system and every message of (message_overhead + content tokens of each
              text block)
            + sum over tools of count_tool(tool)
            + tool-use system prompt (per model and tool_choice, from the registry's
              ``tool_use_system_prompt_tokens``; the largest published figure when a model has none)
            + images (per the model's image rule)

What is exact and what is approximated:

* A request of one user message with one text block is exactly ctok's count (ctok itself is a
  reconstruction, measured against the count-tokens endpoint, not Anthropic's tokenizer).
* Several messages: each is charged a full single-message frame. The real frame of a later turn
  is a role marker, smaller than the whole request frame, so this over-counts by a few tokens per
  message; it never under-counts on that account.
* The system prompt is charged like a message (frame + content): again a small over-count.
* Tools: Anthropic renders tool definitions into a hidden prompt in an unpublished format. We
  count the definition's compact JSON (name, description, input_schema) as content plus one
  message frame per tool. This is an approximation in both directions; record exact counts with
  ``tokenbudget record`` when tools dominate a prompt.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "ClaudeTextCounter",
    "CtokCounter",
    "EstimateCounter",
    "FAMILIES",
    "claude_counter",
    "ctok_available",
    "serialize_tool",
    "text_features",
]

# Registry tokenizer name -> ctok version string that routes to that family.
FAMILIES: dict[str, str] = {
    "claude-v3": "3.0",
    "claude-v4.7": "4.7",
    "claude-v4.8": "4.8",
}
# A bare "claude" (e.g. a user-defined model in pyproject) gets the family that counts highest on
# the calibration corpus, so an unspecific choice errs towards over-counting.
_GENERIC_FAMILY = "claude-v4.7"

# Environment switch for forcing one source, e.g. to compare them or to reproduce CI without ctok.
SOURCE_ENV = "TOKENBUDGET_CLAUDE_COUNTER"


class ClaudeTextCounter(Protocol):
    """What the request walker needs from a Claude tokenizer source."""

    provenance: str  # "ctok" or "estimate"
    name: str  # e.g. "ctok v3" / "claude-estimate v3"
    version: str  # package version + family, or the calibration id
    message_overhead: int  # tokens one message's frame costs
    request_overhead: int  # tokens per request beyond the messages

    def count_text(self, text: str) -> int:
        """Content tokens of ``text``, excluding any message frame."""
        ...

    def count_tool(self, tool: Mapping[str, Any]) -> int:
        """Tokens one tool definition costs (name, description, input_schema)."""
        ...

    def counts_identity(self) -> str:
        """What fixes the counts, so counts remembered across runs are used only while it holds."""
        ...


def _resolve_family(tokenizer_family: str) -> str:
    family = _GENERIC_FAMILY if tokenizer_family == "claude" else tokenizer_family
    if family not in FAMILIES:
        known = ", ".join(sorted(FAMILIES))
        raise ValueError(
            f"unknown Claude tokenizer family {tokenizer_family!r}; known families: {known} "
            f"(or plain 'claude'). Set `tokenizer` in the model's registry entry to one of them."
        )
    return family


def serialize_tool(tool: Mapping[str, Any]) -> str:
    """The text we charge for a tool definition: compact, key-sorted JSON of the fields the model
    sees. Non-prompt fields (cache_control, type of client tools) are left out."""
    if not isinstance(tool, Mapping):
        raise TypeError(f"a tool definition must be a mapping, not {type(tool).__name__}")
    shown = {key: tool[key] for key in ("name", "description", "input_schema") if key in tool}
    if not shown:
        # Server tools (web_search_20250305 ...) carry only a type and name-like options.
        shown = {key: value for key, value in tool.items() if key != "cache_control"}
    return json.dumps(shown, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# ----------------------------------------------------------------------------------------------
# ctok


def ctok_available() -> bool:
    """True when the ctok package can be imported (it needs Python >= 3.12)."""
    return _ctok_module() is not None


@functools.lru_cache(maxsize=1)
def _ctok_module() -> Any:
    if sys.version_info < (3, 12):
        return None
    try:
        import ctok  # noqa: PLC0415 - optional dependency
    except ImportError:
        return None
    return ctok


def _ctok_version() -> str:
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return version("ctok")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "unknown"


@dataclass(frozen=True)
class CtokCounter:
    """Counts with ctok; splits ctok's single-message frame from the content."""

    family: str
    ctok_version: str
    message_overhead: int
    provenance: str = "ctok"
    request_overhead: int = 0

    @property
    def name(self) -> str:
        return f"ctok {self.family.removeprefix('claude-')}"

    @property
    def version(self) -> str:
        return f"ctok {self.ctok_version} ({self.family})"

    def counts_identity(self) -> str:
        """What fixes this counter's counts, for counts remembered across runs: ctok's release and family."""
        return self.version

    def count_text(self, text: str) -> int:
        ctok = _ctok_module()
        return ctok.token_count(text, FAMILIES[self.family]) - self.message_overhead

    def count_tool(self, tool: Mapping[str, Any]) -> int:
        return self.message_overhead + self.count_text(serialize_tool(tool))


def _ctok_counter(family: str) -> CtokCounter:
    ctok = _ctok_module()
    version = FAMILIES[family]
    # The frame is what an empty message costs minus nothing: ctok's tokenize() returns the frame
    # as ⟨pad⟩ tokens, and its family model carries the measured figure.
    try:
        from ctok.main import _family, _model  # noqa: PLC0415 - private but stable in 1.x

        overhead = int(_model(_family(version)).message_overhead)
    except Exception:
        overhead = sum(1 for tok in ctok.tokenize("", version) if tok == "⟨pad⟩")
    return CtokCounter(family=family, ctok_version=_ctok_version(), message_overhead=overhead)


# ----------------------------------------------------------------------------------------------
# estimate

# One regex pass splits text into runs whose classes the calibration distinguishes. Latin letters
# with diacritics (U+00C0-U+024F, U+1E00-U+1EFF) join the word they stand in, as in "Brücke".
_LATIN_EXT = "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_RUNS = re.compile(
    rf"(?P<alnum>[A-Za-z0-9{_LATIN_EXT}]+)|(?P<space> +)|(?P<newline>\n+)|(?P<tab>\t+)"
    r"|(?P<punct>[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]+)|(?P<control>[\x00-\x1f\x7f])|(?P<other>.)",
    re.DOTALL,
)
_VOWELS = frozenset("aeiouAEIOU")
# Runs between which a single space is a word seam rather than a separate token.
_WORDISH = frozenset({"alnum", "letters2", "letters3", "hangul"})

# Feature names, in the order the calibration file lists factors.
FEATURES: tuple[str, ...] = (
    "const",  # 1 per text
    "words",  # plain words: letter runs in lower, UPPER or Capitalized case
    "vowels",  # ASCII vowels of plain words
    "consonants",  # other ASCII letters of plain words
    "upper",  # uppercase letters of plain words (case markers cost tokens in some families)
    "capitalized",  # Capitalized words (a shift marker in some families)
    "allcaps",  # ALL-CAPS words of two or more letters (a caps marker in some families)
    "long_letters",  # letters of plain words beyond the 8th: rare or run-together words split up
    "accented",  # Latin letters with diacritics inside words
    "jumbled",  # alphanumeric runs that mix letters with digits or switch case inside (camelCase,
    "jumbled_chars",  # hex, base64, API keys): such runs split into many short pieces
    "switches",  # case or letter/digit changes inside jumbled runs
    "digit_runs",
    "digits",
    "punct",  # ASCII punctuation characters
    "punct_runs",
    "seams",  # a single space between two words (ctok: absorbed into the word pair)
    "space_runs",  # other runs of spaces
    "spaces",
    "newline_runs",
    "newlines",
    "tabs",
    "controls",  # other ASCII control characters
    "han",  # CJK ideographs
    "kana",  # Japanese kana and CJK punctuation / fullwidth forms
    "hangul",
    "letters2",  # other letters and marks of 2 UTF-8 bytes (Cyrillic, Greek, Arabic, Hebrew ...)
    "symbols2",  # other characters of 2 UTF-8 bytes (©, °, ± ...)
    "letters3",  # letters and marks of 3 UTF-8 bytes (Devanagari, Thai ...)
    "symbols3",  # other characters of 3 UTF-8 bytes (—, €, ✅, ZWJ, variation selectors ...)
    "nonascii4",  # characters of 4 UTF-8 bytes (emoji, astral planes)
)


@functools.lru_cache(maxsize=4096)
def _nonascii_class(ch: str) -> str:
    cp = ord(ch)
    if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF:
        return "han"
    if 0x3000 <= cp <= 0x30FF or 0xFF00 <= cp <= 0xFFEF or 0x31F0 <= cp <= 0x31FF:
        return "kana"
    if 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F:
        return "hangul"
    if cp >= 0x10000:
        return "nonascii4"
    letter = unicodedata.category(ch)[0] in "LM" and cp not in (0x200D, 0xFE0F, 0xFE0E)
    if cp < 0x800:
        return "letters2" if letter else "symbols2"
    return "letters3" if letter else "symbols3"


def _char_kind(ch: str) -> int:
    return 0 if ch.isdigit() else (1 if ch.isupper() else 2)


def _is_plain_word(run: str) -> bool:
    return run.isalpha() and (run.islower() or run.isupper() or (run[0].isupper() and run[1:].islower()))


def _alnum_features(run: str) -> tuple[tuple[str, int], ...]:
    """What one alphanumeric run adds to the features."""
    if run.isdigit():
        return (("digit_runs", 1), ("digits", len(run)))
    if _is_plain_word(run):
        vowels = sum(1 for ch in run if ch in _VOWELS)
        accented = sum(1 for ch in run if not ch.isascii())
        upper = sum(1 for ch in run if ch.isupper())
        found = [("words", 1), ("vowels", vowels), ("accented", accented),
                 ("consonants", len(run) - vowels - accented), ("upper", upper)]
        if upper == 1 and run[0].isupper():
            found.append(("capitalized", 1))
        elif upper > 1:
            found.append(("allcaps", 1))
        found.append(("long_letters", max(0, len(run) - 8)))
        return tuple(found)
    kinds = [_char_kind(ch) for ch in run]
    return (("jumbled", 1), ("jumbled_chars", len(run)), ("switches", sum(1 for a, b in zip(kinds, kinds[1:]) if a != b)))


# Prompts repeat their words, and pricing a word letter by letter was most of the estimate's time.
# Only short runs are kept (a base64 blob is one run), so the cache stays under a few MB.
_cached_alnum_features = functools.lru_cache(maxsize=8192)(_alnum_features)
_CACHED_RUN_CHARS = 48


def text_features(text: str) -> dict[str, int]:
    """Counts of the character classes the estimate prices (see :data:`FEATURES`)."""
    f = dict.fromkeys(FEATURES, 0)
    f["const"] = 1
    runs = [
        (_nonascii_class(m.group()) if m.lastgroup == "other" else m.lastgroup, m.group()) for m in _RUNS.finditer(text)
    ]
    last = len(runs) - 1
    for index, (kind, run) in enumerate(runs):
        if kind == "alnum":
            price = _cached_alnum_features if len(run) <= _CACHED_RUN_CHARS else _alnum_features
            for name, amount in price(run):
                f[name] += amount
        elif kind == "space":
            if run == " " and 0 < index < last and runs[index - 1][0] in _WORDISH and runs[index + 1][0] in _WORDISH:
                f["seams"] += 1
            else:
                f["space_runs"] += 1
                f["spaces"] += len(run)
        elif kind == "newline":
            f["newline_runs"] += 1
            f["newlines"] += len(run)
        elif kind == "tab":
            f["tabs"] += len(run)
        elif kind == "punct":
            f["punct_runs"] += 1
            f["punct"] += len(run)
        elif kind == "control":
            f["controls"] += 1
        else:
            f[kind] += 1
    return f


@functools.lru_cache(maxsize=1)
def _source_digest() -> bytes:
    return hashlib.sha256(Path(__file__).read_bytes()).digest()


@functools.lru_cache(maxsize=1)
def _estimate_table() -> dict[str, Any]:
    text = resources.files("pytest_tokenbudget.data").joinpath("claude_estimate.toml").read_text("utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True)
class EstimateCounter:
    """Conservative linear estimate: ceil(sum of factor * feature count) content tokens."""

    family: str
    factors: tuple[tuple[str, float], ...]
    message_overhead: int
    calibration: str
    provenance: str = "estimate"
    request_overhead: int = 0

    @property
    def name(self) -> str:
        return f"claude-estimate {self.family.removeprefix('claude-')}"

    @property
    def version(self) -> str:
        return self.calibration

    def counts_identity(self) -> str:
        """What fixes this counter's counts, for counts remembered across runs: the factors, and the
        code that extracts the features they weigh (this module's source, so an edit to the feature
        rules forgets every remembered count), and Python's Unicode database, which tells letters from
        symbols (the cache folder is shared by every Python: U+0CF3 is a mark on 3.13, unassigned on 3.11)."""
        weighed = repr((self.family, self.factors, self.calibration, unicodedata.unidata_version))
        return hashlib.sha256(weighed.encode() + _source_digest()).hexdigest()

    def count_text(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        features = text_features(text)
        total = sum(weight * features[name] for name, weight in self.factors)
        # The small epsilon keeps float noise (e.g. 3.0000000001) from adding a whole token.
        return max(0, math.ceil(total - 1e-9))

    def count_tool(self, tool: Mapping[str, Any]) -> int:
        return self.message_overhead + self.count_text(serialize_tool(tool))


def _estimate_counter(family: str) -> EstimateCounter:
    table = _estimate_table()
    try:
        entry = table["families"][family]
    except KeyError:
        raise ValueError(
            f"data/claude_estimate.toml has no factors for {family!r}; rerun bench/calibrate_claude.py --write"
        ) from None
    unknown = set(entry["factors"]) - set(FEATURES)
    if unknown:
        raise ValueError(f"data/claude_estimate.toml [families.{family!r}.factors]: unknown features {sorted(unknown)}")
    factors = tuple((name, float(entry["factors"].get(name, 0.0))) for name in FEATURES)
    calibration = f"{table['calibration']['id']} ({family})"
    return EstimateCounter(
        family=family,
        factors=factors,
        message_overhead=int(entry["message_overhead"]),
        calibration=calibration,
    )


# ----------------------------------------------------------------------------------------------
# public entry points


@functools.lru_cache(maxsize=None)
def _cached_counter(family: str, source: str) -> ClaudeTextCounter:
    if source == "ctok":
        return _ctok_counter(family)
    return _estimate_counter(family)


def claude_counter(tokenizer_family: str, *, source: str | None = None) -> ClaudeTextCounter:
    """The best available counter for a registry tokenizer family ("claude-v3", "claude-v4.7",
    "claude-v4.8", or plain "claude").

    ``source`` (or the ``TOKENBUDGET_CLAUDE_COUNTER`` environment variable) may force "ctok" or
    "estimate"; the default "auto" uses ctok when importable, else the estimate.
    """
    family = _resolve_family(tokenizer_family)
    choice = (source or os.environ.get(SOURCE_ENV) or "auto").strip().lower()
    if choice not in ("auto", "ctok", "estimate"):
        raise ValueError(f"{SOURCE_ENV} / source must be 'auto', 'ctok' or 'estimate', not {choice!r}")
    if choice == "ctok" and not ctok_available():
        raise RuntimeError(
            "ctok was requested but cannot be imported; install it with "
            "`pip install 'pytest-tokenbudget[ctok]'` (needs Python >= 3.12)"
        )
    if choice == "auto":
        choice = "ctok" if ctok_available() else "estimate"
    return _cached_counter(family, choice)
