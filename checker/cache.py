"""Per-file results cache, like ``.ruff_cache``: keyed by file content, configuration and version.

One file per (version, configuration) holds ``{absolute path: (content digest, diagnostics)}``,
so a warm run reads a single file, hashes the sources and parses nothing.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple, Optional

from checker.atomic import write_atomically

_FORMAT = 2
# A file modified this close to the cache's last write may have changed without its mtime
# changing (same-second edits): such files are always re-hashed ("racy git" problem).
_RACY_NS = 2_000_000_000


class Checked(NamedTuple):
    """One file's result as it crosses process boundaries and enters the cache."""

    digest: Optional[bytes]  # of the file's content; None: do not cache the result
    diagnostics: tuple[tuple[Any, ...], ...]  # Diagnostic.to_tuple() each
    needs_libcst: bool = False  # not checked: it needs libcst, which this process may not load
    # (modules it imports, function summary or None): checker.summaries, for the project's sinks
    facts: Optional[tuple[Any, ...]] = None


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


@functools.lru_cache(maxsize=None)
def code_signature() -> str:
    """Size and mtime of the checker's modules and of the model registry's data files: an edited
    rule or an upgraded registry invalidates the cache (cheaper than asking importlib.metadata
    for the version, and it also catches editable installs being edited)."""
    import importlib.util

    here = Path(__file__).parent
    directories = [here, here / "rules"]
    spec = importlib.util.find_spec("pytest_tokenbudget")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            directories += [Path(location), Path(location) / "data"]
    parts = []
    for directory in directories:
        try:
            for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                if entry.name.endswith((".py", ".toml", ".json")):
                    stat = entry.stat()
                    parts.append(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns}")
        except OSError:
            pass
    return ";".join(parts)


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("pytest-tokenbudget")
    except Exception:
        return "0+unknown"


class ResultCache:
    def __init__(self, directory: Path, key_material: str) -> None:
        self.directory = directory
        self.key_material = key_material
        key = hashlib.sha256(
            "\0".join((str(_FORMAT), sys.version, code_signature(), key_material)).encode()
        ).hexdigest()[:24]
        self.path = directory / f"v{_FORMAT}" / f"{key}.cache"
        self._entries: Optional[dict[str, tuple[bytes, int, int, tuple[Any, ...]]]] = None
        self._written_ns = 0
        self.dirty = False

    @property
    def entries(self) -> dict[str, tuple[bytes, int, int, tuple[Any, ...]]]:
        """path -> (content digest, size, mtime_ns, diagnostics); read on first use (a run may
        pick another cache file once it knows the project's LLM wrappers)."""
        if self._entries is None:
            self._entries = {}
            loaded = read_marshal(self.path)
            if isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[1], dict):
                self._written_ns, self._entries = loaded
        return self._entries

    @property
    def written_ns(self) -> int:
        self.entries  # noqa: B018 - loads the file, which records when it was written
        return self._written_ns

    def knows(self, path: str) -> bool:
        entries = self._entries if self._entries is not None else self.entries
        return path in entries

    def get_by_stat(self, path: str, size: int, mtime_ns: int) -> Optional[tuple[Any, ...]]:
        """Diagnostics when the file's size and mtime are those recorded with its content digest
        (as git's index does), without reading it; None means: read and hash it."""
        entry = self.entries.get(path)
        if entry is not None and entry[1] == size and entry[2] == mtime_ns and mtime_ns < self._written_ns - _RACY_NS:
            return entry[3]  # (`entries` has read the file, and with it `_written_ns`)
        return None

    def get(self, path: str, content_digest: bytes) -> Optional[tuple[Any, ...]]:
        entry = self.entries.get(path)
        if entry is not None and entry[0] == content_digest:
            return entry[3]
        return None

    def put(self, path: str, content_digest: bytes, size: int, mtime_ns: int, diagnostics: tuple[Any, ...]) -> None:
        entry = (content_digest, size, mtime_ns, diagnostics)
        if self.entries.get(path) != entry:
            self.entries[path] = entry
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tag = self.directory / "CACHEDIR.TAG"
            if not tag.exists():
                tag.write_text("Signature: 8a477f597d28d172789f06886806bc55\n# tokenbudget check cache\n")
                (self.directory / ".gitignore").write_text("*\n")
            write_marshal(self.path, (time.time_ns(), self.entries))
        except OSError:
            pass  # a read-only checkout still gets its results, only slower next time


def read_marshal(path: "Path | str") -> Any:
    """What ``path`` holds, or None when it is missing, unreadable or not marshal data: every
    cache here is rebuilt rather than trusted when its file is damaged. One read, then loads:
    marshal.load on a file reads it piece by piece, several times slower on a large cache."""
    try:
        with open(path, "rb") as handle:
            return marshal.loads(handle.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None


def write_marshal(path: Path, value: Any) -> None:
    """``marshal`` ``value`` into ``path`` atomically: never a torn cache file."""
    write_atomically(path, marshal.dumps(value))
