"""Per-file results cache, like ``.ruff_cache``: keyed by file content, configuration and version.

One file per (version, configuration) holds ``{absolute path: (content digest, diagnostics)}``,
so a warm run reads a single file, hashes the sources and parses nothing.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

_FORMAT = 1


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _code_signature() -> str:
    """Size and mtime of the checker's own modules: an edited rule invalidates the cache even
    before the version number changes."""
    here = Path(__file__).parent
    parts = []
    for directory in (here, here / "rules"):
        try:
            for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                if entry.name.endswith(".py"):
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
        version = package_version()
        key = hashlib.sha256(
            "\0".join((str(_FORMAT), version, sys.version, _code_signature(), key_material)).encode()
        ).hexdigest()[:24]
        self.path = directory / version / f"{key}.cache"
        self.entries: dict[str, tuple[bytes, tuple[Any, ...]]] = {}
        self.dirty = False
        try:
            with open(self.path, "rb") as handle:
                loaded = marshal.load(handle)
            if isinstance(loaded, dict):
                self.entries = loaded
        except (OSError, EOFError, ValueError, TypeError):
            self.entries = {}

    def get(self, path: str, content_digest: bytes) -> Optional[tuple[Any, ...]]:
        entry = self.entries.get(path)
        if entry is not None and entry[0] == content_digest:
            return entry[1]
        return None

    def put(self, path: str, content_digest: bytes, diagnostics: tuple[Any, ...]) -> None:
        current = self.entries.get(path)
        if current is None or current[0] != content_digest or current[1] != diagnostics:
            self.entries[path] = (content_digest, diagnostics)
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
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    marshal.dump(self.entries, handle)
                os.replace(temp, self.path)
            except BaseException:
                try:
                    os.unlink(temp)
                except OSError:
                    pass
                raise
        except OSError:
            pass  # a read-only checkout still gets its results, only slower next time
