"""Writing a file so that readers see the old contents or the new, never a torn half."""

from __future__ import annotations

import os
import time
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int = 0o600, durable: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: a run
    interrupted half-way, or two runs at once, never leave a partly written file. ``durable``:
    flush to disk before the rename (for the user's own files; a cache can be rebuilt)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of our own rather than tempfile.mkstemp: tempfile imports shutil and random, which
    # cost a one-file run more than writing its cache does. O_EXCL makes it as safe.
    temp = str(path.parent / f".{path.name}.{os.getpid()}-{time.monotonic_ns()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode != 0o600:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
