"""A compact copy of the shipped tiktoken rank files in the user's cache directory.

Parsing a ``.tiktoken`` file (one base64 token and its rank per line) costs several times more
than reading the same ranks back from a binary layout, and every test process pays it once per
encoding. The copy is derived from the shipped, hash-checked file, and is trusted only when its
own SHA-256 equals the one pinned here: the layout is deterministic, so the same ranks always give
the same bytes. A missing, unreadable, corrupt or foreign copy is ignored (the shipped file is
parsed instead) and rewritten when the directory allows; nothing here ever downloads.

Layout: a magic line, then one group per token length ``L``: ``<II`` (L, count), ``count``
little-endian ``uint32`` ranks, and the ``count`` tokens of that length concatenated.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
from pathlib import Path

from ._files import write_bytes_atomically

CACHE_DIR_ENV = "TOKENBUDGET_CACHE_DIR"
NO_CACHE_ENV = "TOKENBUDGET_NO_CACHE"
_MAGIC = b"pytest-tokenbudget ranks 1\n"
_GROUP = struct.Struct("<II")


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
    by_length: dict[int, list[tuple[int, bytes]]] = {}
    for token, rank in ranks.items():
        by_length.setdefault(len(token), []).append((rank, token))
    chunks = [_MAGIC]
    for length in sorted(by_length):
        group = sorted(by_length[length])
        chunks.append(_GROUP.pack(length, len(group)))
        chunks.append(struct.pack(f"<{len(group)}I", *(rank for rank, _ in group)))
        chunks.append(b"".join(token for _, token in group))
    return b"".join(chunks)


def decode(data: bytes) -> dict[bytes, int]:
    """The ranks of compact bytes. Raises ValueError when the bytes are not in that layout."""
    if not data.startswith(_MAGIC):
        raise ValueError("not a compact rank file")
    ranks: dict[bytes, int] = {}
    position = len(_MAGIC)
    try:
        while position < len(data):
            length, count = _GROUP.unpack_from(data, position)
            position += _GROUP.size
            numbers = struct.unpack_from(f"<{count}I", data, position)
            position += 4 * count
            blob = data[position:position + length * count]
            if length == 0 or len(blob) != length * count:
                raise ValueError("truncated compact rank file")
            position += length * count
            # iter_unpack slices the blob in C: about twice as fast as slicing in Python.
            ranks.update(zip((token for (token,) in struct.iter_unpack(f"{length}s", blob)), numbers))
    except struct.error as error:
        raise ValueError(f"truncated compact rank file ({error})") from None
    return ranks


def load(encoding_file: str, compact_hash: str) -> dict[bytes, int] | None:
    """The cached ranks when the copy exists and its SHA-256 is ``compact_hash``, else None."""
    path = cache_path(encoding_file, compact_hash)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != compact_hash:
        return None
    try:
        return decode(data)
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
