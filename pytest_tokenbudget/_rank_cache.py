"""A compact copy of the shipped tiktoken rank files in the user's cache directory.

Parsing a ``.tiktoken`` file (one base64 token and its rank per line) costs several times more
than reading the same ranks back from a binary layout, and every test process pays it once per
encoding. The copy is derived from the shipped, hash-checked file, and is trusted only when its
own SHA-256 equals the one pinned here: the layout is deterministic, so the same ranks always give
the same bytes. A missing, unreadable, corrupt or foreign copy is ignored (the shipped file is
parsed instead) and rewritten when the directory allows; nothing here ever downloads.

Two readers use the copy. Building tiktoken's encoder needs every rank in a dict (`decode`: the
tokens are grouped by length so that each group is sliced in C). Counting a few short prompts in
pure Python (`_ascii_bpe`) needs a few hundred ranks, and building that dict (about 45 ms for
o200k) would be most of its cost: `RankIndex` finds a token in the file's bytes through a hash
table stored in the copy, creating no object per token.

Layout, little-endian ``uint32`` throughout: a magic line; ``<III`` (entries ``N``, groups ``G``,
slot bits ``B``); ``G`` pairs (token length, count), lengths ascending; ``N`` ranks, in entry order
(by length, then rank); ``N + 1`` offsets of the entries' tokens in the blob; ``2**B`` slots (0 for
empty, else entry index + 1: a token's home slot is its CRC-32 masked to ``B`` bits, and a taken
slot passes the token on to the next); then the blob, the tokens concatenated in entry order.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from pathlib import Path

from ._files import write_bytes_atomically

CACHE_DIR_ENV = "TOKENBUDGET_CACHE_DIR"
NO_CACHE_ENV = "TOKENBUDGET_NO_CACHE"
_MAGIC = b"pytest-tokenbudget ranks 2\n"
_HEADER = struct.Struct("<III")
_GROUP = struct.Struct("<II")
# Slots per entry, at least: a lookup that misses (most pair lookups of a merge do) stops at the
# first empty slot, and with at most 40% of the slots taken that takes under two probes on average.
_SLOTS_PER_ENTRY = 2.5


def cache_dir() -> Path | None:
    """Where the compact copies live, or None when caching is switched off."""
    if os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "pytest-tokenbudget" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "pytest-tokenbudget"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pytest-tokenbudget"


def cache_path(encoding_file: str, compact_hash: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    # The hash in the name keeps copies of different rank files (or releases) apart.
    return folder / f"{encoding_file.rsplit('.', 1)[0]}-{compact_hash[:16]}.ranks"


def encode(ranks: dict[bytes, int]) -> bytes:
    """The compact bytes of ``ranks``: the same ranks always give the same bytes."""
    entries = sorted((len(token), rank, token) for token, rank in ranks.items())
    groups: dict[int, int] = {}
    for length, _, _ in entries:
        groups[length] = groups.get(length, 0) + 1
    slot_bits = max(1, math.ceil(math.log2(max(1, len(entries)) * _SLOTS_PER_ENTRY)))
    mask = (1 << slot_bits) - 1
    slots = [0] * (mask + 1)
    offsets = [0]
    for index, (_, _, token) in enumerate(entries):
        offsets.append(offsets[-1] + len(token))
        slot = zlib.crc32(token) & mask
        while slots[slot]:
            slot = (slot + 1) & mask
        slots[slot] = index + 1
    return b"".join([
        _MAGIC,
        _HEADER.pack(len(entries), len(groups), slot_bits),
        *(_GROUP.pack(length, count) for length, count in groups.items()),
        struct.pack(f"<{len(entries)}I", *(rank for _, rank, _ in entries)),
        struct.pack(f"<{len(offsets)}I", *offsets),
        struct.pack(f"<{len(slots)}I", *slots),
        *(token for _, _, token in entries),
    ])


class _Layout:
    """Where the parts of compact bytes start. Raises ValueError when the bytes are not in that layout."""

    def __init__(self, data: bytes) -> None:
        if not data.startswith(_MAGIC):
            raise ValueError("not a compact rank file")
        try:
            self.entries, group_count, slot_bits = _HEADER.unpack_from(data, len(_MAGIC))
        except struct.error as error:
            raise ValueError(f"truncated compact rank file ({error})") from None
        position = len(_MAGIC) + _HEADER.size
        self.groups = list(_GROUP.iter_unpack(data[position:position + group_count * _GROUP.size]))
        if len(self.groups) != group_count or not 0 < slot_bits < 32:
            raise ValueError("truncated compact rank file")
        self.ranks = position + group_count * _GROUP.size
        self.offsets = self.ranks + 4 * self.entries
        self.slots = self.offsets + 4 * (self.entries + 1)
        self.slot_count = 1 << slot_bits
        self.blob = self.slots + 4 * self.slot_count
        if (sum(count for _, count in self.groups) != self.entries or any(length == 0 for length, _ in self.groups)
                or self.blob + sum(length * count for length, count in self.groups) != len(data)):
            raise ValueError("truncated compact rank file")


def decode(data: bytes) -> dict[bytes, int]:
    """The ranks of compact bytes. Raises ValueError when the bytes are not in that layout."""
    layout = _Layout(data)
    numbers = struct.unpack_from(f"<{layout.entries}I", data, layout.ranks)
    ranks: dict[bytes, int] = {}
    first, position = 0, layout.blob
    for length, count in layout.groups:
        # One format of `count` fields slices the whole group in C, with no Python step per token.
        tokens = struct.unpack_from(f"{length}s" * count, data, position)
        ranks.update(zip(tokens, numbers[first:first + count]))
        first += count
        position += length * count
    return ranks


def _words(data: bytes, start: int, count: int) -> Sequence[int]:
    view = memoryview(data)[start:start + 4 * count]
    if sys.byteorder == "little" and array("I").itemsize == 4:
        return view.cast("I")  # no copy
    return struct.unpack(f"<{count}I", view)


class RankIndex:
    """The ranks of compact bytes, looked up in place (see the module docstring) with ``get`` and
    ``in`` as on the dict `decode` returns. Raises ValueError when the bytes are not in that layout;
    a lookup in bytes that are (the copy's hash is checked first) always ends at an empty slot."""

    def __init__(self, data: bytes) -> None:
        layout = _Layout(data)
        self._data = data
        self._blob = layout.blob
        self._mask = layout.slot_count - 1
        self._ranks = _words(data, layout.ranks, layout.entries)
        self._offsets = _words(data, layout.offsets, layout.entries + 1)
        self._slots = _words(data, layout.slots, layout.slot_count)

    def get(self, token: bytes, default: int | None = None) -> int | None:
        slots, offsets, data, blob, mask = self._slots, self._offsets, self._data, self._blob, self._mask
        slot = zlib.crc32(token) & mask
        while True:
            entry = slots[slot]
            if not entry:
                return default
            if data[blob + offsets[entry - 1]:blob + offsets[entry]] == token:
                return self._ranks[entry - 1]
            slot = (slot + 1) & mask

    def __contains__(self, token: bytes) -> bool:
        return self.get(token) is not None


def _verified(encoding_file: str, compact_hash: str) -> bytes | None:
    path = cache_path(encoding_file, compact_hash)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == compact_hash else None


def load(encoding_file: str, compact_hash: str) -> dict[bytes, int] | None:
    """The cached ranks when the copy exists and its SHA-256 is ``compact_hash``, else None."""
    data = _verified(encoding_file, compact_hash)
    try:
        return decode(data) if data is not None else None
    except ValueError:
        return None


def load_index(encoding_file: str, compact_hash: str) -> RankIndex | None:
    """The cached ranks as a `RankIndex` when the copy exists and its SHA-256 is ``compact_hash``, else None."""
    data = _verified(encoding_file, compact_hash)
    try:
        return RankIndex(data) if data is not None else None
    except ValueError:
        return None


def store(encoding_file: str, compact_hash: str, ranks: dict[bytes, int]) -> None:
    """Write the copy atomically, if the layout of ``ranks`` has the pinned hash and the
    directory is writable; any failure just leaves the cache empty."""
    path = cache_path(encoding_file, compact_hash)
    if path is None:
        return
    data = encode(ranks)
    if hashlib.sha256(data).hexdigest() != compact_hash:
        return  # not the ranks the pin describes: never cache what could not be verified later
    try:
        write_bytes_atomically(path, data)
    except OSError:
        pass  # a read-only or full cache folder: the next run parses the shipped file again
