"""Token counts remembered across test runs, so that a re-run whose prompts were all counted
before never builds a tokenizer.

Building a tiktoken encoding (parsing its ranks, then tiktoken's own constructor, which holds the
GIL) is most of what the first budgeted test of a session pays. A test suite sends the same
prompts run after run, so the pytest plugin keeps their counts in the user's cache directory, next
to the compact rank copies (`_rank_cache`): one file per encoding, named by what fixes the counts
(the encoding, the SHA-256 of its pinned rank copy, the tiktoken release). A text is kept only as a
128-bit BLAKE2b digest of its UTF-8, never as text, and its count is what the tokenizer gave.

Only the plugin switches this on (:func:`enable`, :func:`save`); the counting core used by the
runtime guard and the checker never reads or writes these files. A file that is missing, from
another layout, truncated or whose checksum does not match is ignored and rewritten; writes are
atomic, and concurrent writers (xdist workers) at worst drop each other's new entries, which are
counted again next time. ``TOKENBUDGET_NO_CACHE=1`` switches it off with the rank copies.

Layout: a magic line, ``count`` entries of (16-byte digest, ``uint32`` tokens), then the SHA-256
of everything before it.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from pathlib import Path

from ._files import write_bytes_atomically

_MAGIC = b"pytest-tokenbudget counts 1\n"
_ENTRY = struct.Struct("<16sI")
_CHECKSUM_SIZE = 32
# 20 bytes an entry on disk (1 MB), about 120 in memory (6 MB). Past it the oldest entries go first.
MAX_ENTRIES = 50_000

_lock = threading.Lock()
_enabled = False
_tables: dict[str, CountTable] = {}


def digest(text: str) -> bytes:
    # surrogatepass: a lone surrogate is text the tokenizer counts too, and must get a key.
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class CountTable:
    """The remembered counts of one encoding: those read from its file, and those counted since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._known: dict[bytes, int] = _read(path)
        self._new: dict[bytes, int] = {}

    def get(self, key: bytes) -> int | None:
        found = self._known.get(key)
        return found if found is not None else self._new.get(key)

    def put(self, key: bytes, tokens: int) -> None:
        if 0 <= tokens < 2**32 and key not in self._known:
            self._new[key] = tokens

    def save(self) -> None:
        if not self._new:
            return
        merged = {**_read(self.path), **self._known, **self._new}  # another process may have added some
        entries = list(merged.items())[-MAX_ENTRIES:]
        body = _MAGIC + b"".join(_ENTRY.pack(key, tokens) for key, tokens in entries)
        try:
            write_bytes_atomically(self.path, body + hashlib.sha256(body).digest())
        except OSError:
            return  # a read-only or full cache folder: the next run counts these texts again
        self._known = dict(entries)
        self._new = {}


def _read(path: Path) -> dict[bytes, int]:
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    body, checksum = data[:-_CHECKSUM_SIZE], data[-_CHECKSUM_SIZE:]
    if (not body.startswith(_MAGIC) or (len(body) - len(_MAGIC)) % _ENTRY.size
            or hashlib.sha256(body).digest() != checksum):
        return {}
    return dict(_ENTRY.iter_unpack(memoryview(body)[len(_MAGIC):]))


def enable() -> None:
    global _enabled
    _enabled = True


def disable() -> None:
    """Stop remembering (the tables read so far are dropped, nothing is written)."""
    global _enabled
    with _lock:
        _enabled = False
        _tables.clear()


def table(encoding: str, identity: str) -> CountTable | None:
    """The table of ``encoding`` whose counts ``identity`` fixes, or None when switched off."""
    if not _enabled:
        return None
    name = f"{encoding}:{identity}"
    found = _tables.get(name)
    if found is not None:
        return found
    from ._rank_cache import cache_dir

    folder = cache_dir()
    if folder is None:
        return None
    with _lock:
        if name not in _tables:
            tag = hashlib.sha256(name.encode()).hexdigest()[:16]
            _tables[name] = CountTable(folder / f"counts-{encoding}-{tag}.bin")
        return _tables[name]


def save() -> None:
    """Write every table that learnt new counts."""
    with _lock:
        tables = list(_tables.values())
    for found in tables:
        found.save()
