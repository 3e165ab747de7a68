"""Tokenizers, offline: tiktoken encodings built from the rank files shipped in `encodings/`, a
local Hugging Face `tokenizer.json`, and (in `_claude`) Claude's. Nothing here downloads."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ._errors import EncodingUnavailableError

if TYPE_CHECKING:
    from ._ascii_bpe import AsciiBpeCounter

# The hashes tiktoken itself expects for these files (tiktoken_ext/openai_public.py); a shipped
# file that does not match is corrupt and must not be used.
SHIPPED_RANK_FILES = {
    "o200k_base.tiktoken": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base.tiktoken": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
# SHA-256 of each file's compact copy in the user's cache (see `_rank_cache`): a copy is used
# only when it hashes to this, and tests derive it from the shipped file to check the pin.
COMPACT_RANK_HASHES = {
    "o200k_base.tiktoken": "0fbeb3489a160a6659c93d74c93687077b2e6d1973cde3ca56e3301490d7c437",
    "cl100k_base.tiktoken": "fbae948f5022b4a8d862a64242579234936fcf2077a5179a31b86d8a3a6fd4e4",
}
# Encodings built from the shipped files, by the rank file each is built from (o200k_harmony
# reuses the o200k ranks).
_SHIPPED_RANK_FILE = {"o200k_base": "o200k_base.tiktoken", "cl100k_base": "cl100k_base.tiktoken",
                      "o200k_harmony": "o200k_base.tiktoken"}
SHIPPED_ENCODINGS = tuple(_SHIPPED_RANK_FILE)


class TextCounter(Protocol):
    name: str
    version: str
    provenance: str  # "exact", "ctok" or "estimate"

    def count(self, text: str) -> int: ...


class _RepeatCache:
    """Counts of texts seen before. Apps resend the same system prompt, history and role names on
    every call; re-encoding them dominated counting, so remember what a text cost.

    Lock-free: a dict's get and set are each atomic, and what a race can lose is one insert (the
    text is counted again next time) or some of the size tally (the bound is approximate). Bounded
    by size, not only by entries: each entry is charged its characters plus a fixed overhead, and
    past the bound the cache starts over rather than tracking recency on every hit."""

    ENTRY_OVERHEAD = 64  # characters' worth of a dict slot, a str header and an int

    def __init__(self, max_size: int = 2_000_000) -> None:
        self._counts: dict[str, int] = {}
        self._size = 0
        self._max_size = max_size

    def get_or_count(self, text: str, count: Callable[[str], int]) -> int:
        counts = self._counts
        cached = counts.get(text)
        if cached is not None:
            return cached
        result = count(text)
        size = len(text) + self.ENTRY_OVERHEAD
        if size > self._max_size // 8:
            return result  # one huge text would push out everything else, and is rarely resent
        if self._size + size > self._max_size:
            counts = self._counts = {}  # rebinding is atomic: a racing insert into the old dict is dropped
            self._size = 0
        counts[text] = result
        self._size += size
        return result

    def __len__(self) -> int:
        return len(self._counts)

    def clear(self) -> None:
        self._counts = {}
        self._size = 0


class TiktokenCounter:
    provenance = "exact"

    def __init__(self, encoding: Any = None, *, name: str | None = None) -> None:
        """From an Encoding, or (``name`` of a shipped encoding) built on the first text it has
        to encode: with the plugin's remembered counts (`_count_cache`) a re-run may need none."""
        import tiktoken

        self._encoding = encoding
        self.name = encoding.name if encoding is not None else str(name)
        self.version = f"tiktoken {tiktoken.__version__}"
        # A system prompt, an earlier turn or a role name is resent on every call: a dict lookup
        # costs a small fraction of encoding even a short text again.
        self._cache = _RepeatCache()
        # What fixes the counts of a shipped encoding, for the remembered counts' file name.
        ranks = _SHIPPED_RANK_FILE.get(self.name)
        self._identity = f"{COMPACT_RANK_HASHES[ranks]}:{self.version}" if ranks else None

    @property
    def encoding(self) -> Any:
        if self._encoding is None:
            self._encoding = get_encoding(self.name)
        return self._encoding

    def clear_cache(self) -> None:
        self._cache.clear()

    def count(self, text: str) -> int:
        return self._cache.get_or_count(text, self._count_new)

    def _count_new(self, text: str) -> int:
        if self._identity is None:
            return self._encode(text)
        return _remembered_count(text, self.name, self._identity, self._encode)

    def _encode(self, text: str) -> int:
        if self._encoding is None:
            built = _built_encodings.get(self.name)
            if built is not None:
                self._encoding = built
            else:
                # Until tiktoken's encoder is worth building (see `_ascii_bpe`), ASCII text is
                # counted without it.
                ascii_counter = _ascii_counter(self.name)
                tokens = ascii_counter.count(text) if ascii_counter is not None else None
                if tokens is not None:
                    return tokens
        # encode_ordinary: special-token strings in user text ("<|endoftext|>") are plain text to
        # the API, and tiktoken substitutes lone surrogates instead of raising.
        return len(self.encoding.encode_ordinary(text))


def _remembered_count(text: str, table_name: str, identity: str, count: Callable[[str], int]) -> int:
    """``count(text)``, or what it gave in an earlier run (`_count_cache`, when the plugin switched it on)."""
    from . import _count_cache

    remembered = _count_cache.table(table_name, identity)
    if remembered is None:
        return count(text)
    key = _count_cache.digest(text)
    tokens = remembered.get(key)
    if tokens is None:
        tokens = count(text)
        remembered.put(key, tokens)
    return tokens


class HuggingFaceCounter:
    """A local `tokenizer.json`, for open-weight models behind OpenAI-compatible servers."""

    provenance = "exact"

    def __init__(self, path: str) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise EncodingUnavailableError(
                f"the tokenizer {path!r} needs the `tokenizers` package: pip install 'pytest-tokenbudget[hf]'"
            ) from None
        if not os.path.isfile(path):
            raise EncodingUnavailableError(f"no tokenizer.json at {path!r}: give the path of a local file")
        self._tokenizer = Tokenizer.from_file(path)
        self.name = f"hf:{path}"
        import tokenizers

        self.version = f"tokenizers {tokenizers.__version__}"
        self._cache = _RepeatCache()

    def count(self, text: str) -> int:
        return self._cache.get_or_count(
            text, lambda t: len(self._tokenizer.encode(t, add_special_tokens=False).ids)
        )


_build_lock = threading.Lock()
_built_encodings: dict[str, Any] = {}


def get_encoding(name: str) -> Any:
    """A tiktoken Encoding, offline: from the shipped rank files, else from TIKTOKEN_CACHE_DIR."""
    found = _built_encodings.get(name)
    if found is None:
        found = _build_shipped(name) if name in SHIPPED_ENCODINGS else _from_user_cache(name)
        found = _built_encodings.setdefault(name, found)  # a racing build keeps the first one
    return found


_rank_files_read: set[str] = set()


def rank_tables_loaded() -> bool:
    """Whether this process has read a shipped encoding's ranks: what a re-run whose texts were all
    counted before (`_count_cache`) never needs."""
    return bool(_rank_files_read)


@lru_cache(maxsize=None)
def _ascii_counter(name: str) -> "AsciiBpeCounter | None":
    """The pure-Python counter of a shipped encoding whose pre-tokenizer `_ascii_bpe` knows, else None."""
    if name not in SHIPPED_ENCODINGS:
        return None
    from . import _rank_cache
    from ._ascii_bpe import O200K_PATTERN, AsciiBpeCounter

    if _shipped_pattern(name) != O200K_PATTERN:
        return None  # cl100k, or a tiktoken release that changed the pattern
    file_name = _SHIPPED_RANK_FILE[name]
    ranks: Any = _rank_cache.load_index(file_name, COMPACT_RANK_HASHES[file_name])
    if ranks is None:  # no verified copy (yet): parse the shipped file, which writes one
        ranks = _shipped_definition(name)["mergeable_ranks"]
    _rank_files_read.add(file_name)
    return AsciiBpeCounter(ranks)


@lru_cache(maxsize=None)
def counter_for(tokenizer: str) -> TextCounter:
    """The counter named by a registry entry's `tokenizer` field."""
    if tokenizer.startswith("hf:"):
        return HuggingFaceCounter(tokenizer[3:])
    if tokenizer.startswith("claude"):
        from ._claude import claude_counter

        return ClaudeCounter(claude_counter(tokenizer))
    if tokenizer in SHIPPED_ENCODINGS:
        return TiktokenCounter(name=tokenizer)  # built when a text needs it
    return TiktokenCounter(get_encoding(tokenizer))


class ClaudeCounter:
    """A Claude content counter (ctok or the estimate, see `_claude`) with the repeat cache, and
    the frame sizes the request walker composes a whole request from."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = inner.name
        self.version = inner.version
        self.provenance = inner.provenance
        self.message_overhead = inner.message_overhead
        self.request_overhead = inner.request_overhead
        # Claude counting is pure Python, many times slower than tiktoken per character.
        self._cache = _RepeatCache()
        # For the remembered counts: a file name of safe characters, and (worked out on the first
        # text not seen in this process) what fixes this counter's counts.
        self._table_name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in self.name)
        self._identity: str | None = None

    def count(self, text: str) -> int:
        return self._cache.get_or_count(text, self._count_new)

    def _count_new(self, text: str) -> int:
        # A test sends new texts (the user's question) next to resent ones; a re-run sends the
        # same new texts again, and the estimate prices them character by character.
        if self._identity is None:
            self._identity = self._inner.counts_identity()
        return _remembered_count(text, self._table_name, self._identity, self._inner.count_text)

    def count_tool(self, tool: Any) -> int:
        return self._inner.count_tool(tool)

    def clear_cache(self) -> None:
        self._cache.clear()


def _shipped_ranks(file_name: str, expected_hash: str) -> dict[bytes, int]:
    """The ranks of a shipped file: from its verified compact copy when there is one, else parsed
    (and the copy written for the next process)."""
    from . import _rank_cache

    compact_hash = COMPACT_RANK_HASHES[file_name]
    cached = _rank_cache.load(file_name, compact_hash)
    if cached is not None:
        return cached
    ranks = _read_shipped_ranks(file_name, expected_hash)
    _rank_cache.store(file_name, compact_hash, ranks)
    return ranks


def _read_shipped_ranks(file_name: str, expected_hash: str) -> dict[bytes, int]:
    data = (resources.files("pytest_tokenbudget") / "encodings" / file_name).read_bytes()
    if hashlib.sha256(data).hexdigest() != expected_hash:
        raise EncodingUnavailableError(
            f"the shipped rank file {file_name} is corrupt (SHA-256 mismatch): reinstall pytest-tokenbudget"
        )
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}


@lru_cache(maxsize=None)
def _shipped_definition(name: str) -> dict[str, Any]:
    """tiktoken's own definition of the encoding (pattern, special tokens) with our shipped ranks,
    handed to it where it would fetch them."""

    def load_shipped(file_name: str, expected_hash: str) -> dict[bytes, int]:
        _rank_files_read.add(file_name)
        return _shipped_ranks(file_name, expected_hash)

    return _tiktoken_definition(name, load_shipped)


@lru_cache(maxsize=None)
def _shipped_pattern(name: str) -> str:
    """The pre-tokenizer pattern tiktoken defines for the encoding, without reading its ranks."""
    return _tiktoken_definition(name, lambda file_name, expected_hash: {})["pat_str"]


def _tiktoken_definition(name: str, load_ranks: Callable[[str, str], dict[bytes, int]]) -> dict[str, Any]:
    """tiktoken's constructor of the encoding, run with ``load_ranks(file name, hash)`` where it
    would download a rank file: its loader is swapped only for this call."""
    from tiktoken_ext import openai_public

    def load_shipped(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        file_name = url.rsplit("/", 1)[-1]
        if file_name not in SHIPPED_RANK_FILES or expected_hash != SHIPPED_RANK_FILES[file_name]:
            raise EncodingUnavailableError(
                f"tiktoken asked for {file_name} with a hash we do not ship; "
                "this tiktoken release is newer than pytest-tokenbudget knows"
            )
        return load_ranks(file_name, expected_hash)

    with _build_lock:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = load_shipped
        try:
            return openai_public.ENCODING_CONSTRUCTORS[name]()
        finally:
            openai_public.load_tiktoken_bpe = original


def _build_shipped(name: str) -> Any:
    import tiktoken

    definition = _shipped_definition(name)
    return tiktoken.Encoding(
        name=definition["name"],
        pat_str=definition["pat_str"],
        mergeable_ranks=definition["mergeable_ranks"],
        special_tokens=definition["special_tokens"],
    )


def _from_user_cache(name: str) -> Any:
    """Encodings we do not ship (p50k_base, r50k_base, ...) only from a cache the user filled:
    tiktoken would otherwise try to download them."""
    import tiktoken
    from tiktoken_ext import openai_public

    if name not in openai_public.ENCODING_CONSTRUCTORS:
        raise EncodingUnavailableError(
            f"unknown encoding {name!r}; known: {', '.join(sorted(openai_public.ENCODING_CONSTRUCTORS))}"
        )
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    missing = _urls_of(name) if not cache_dir else [
        url for url in _urls_of(name)
        if not os.path.exists(os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest()))
    ]
    if missing:
        raise EncodingUnavailableError(
            f"the {name} encoding is not shipped with pytest-tokenbudget (only "
            f"{', '.join(SHIPPED_ENCODINGS)}) and counting never downloads. To use it, run "
            f"`python -c \"import tiktoken; tiktoken.get_encoding('{name}')\"` once on a machine with network "
            "access with TIKTOKEN_CACHE_DIR set, copy that folder here and set TIKTOKEN_CACHE_DIR to it."
        )
    return tiktoken.get_encoding(name)


_RANK_URLS = {
    "r50k_base": ["https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken"],
    "p50k_base": ["https://openaipublic.blob.core.windows.net/encodings/p50k_base.tiktoken"],
    "p50k_edit": ["https://openaipublic.blob.core.windows.net/encodings/p50k_base.tiktoken"],
    "gpt2": [
        "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
        "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
    ],
}


def _urls_of(name: str) -> list[str]:
    # Where tiktoken fetches from: its cache keys files by the SHA-1 of this address.
    return _RANK_URLS.get(name, [name])
