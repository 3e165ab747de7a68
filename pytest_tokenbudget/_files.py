"""Writing the files the project keeps or hands to CI (lock file, reports) so no reader ever sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_text_atomically"]


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to a temporary file beside ``path``, then rename it over ``path``.

    A crash or a full disk leaves the old file (or none), never a truncated one; the parent folders
    are created. Raises OSError.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
