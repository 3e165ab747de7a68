"""The inventory of a project's LLM call sites: what ``tokenbudget calls`` lists and budget coverage counts.

Public entry point: :func:`call_inventory`. It walks paths as ``tokenbudget check`` does (same
excludes, ``.gitignore``), finds each file's SDK calls with :mod:`checker.calls`, and the
project's own wrappers with :mod:`checker.summaries`. Per-file results are kept in the checker's
cache directory, keyed by size, mtime and content, so a second inventory parses only what changed.

Everything returned is plain data (dicts, lists, strings, numbers): the pytest plugin sends
nothing else between processes, and the JSON outputs dump it as is.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

__all__ = ["Inventory", "call_inventory", "NO_COVER"]

# A comment on any line of a call that takes it out of budget coverage (code left untested on purpose).
NO_COVER = re.compile(r"#\s*tokenbudget\s*:\s*no-cover\b", re.I)

_STORE_FORMAT = 1


@dataclass
class Inventory:
    """``sites``: one dict per SDK call (see :func:`_site`); ``wrappers``: the project's functions that
    send through an SDK call; ``problems``: what could not be read, one sentence each, naming the file."""

    root: Path
    sites: list[dict[str, Any]] = field(default_factory=list)
    wrappers: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    missing_paths: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "sites": self.sites, "wrappers": self.wrappers,
                "problems": self.problems}


def call_inventory(
    paths: Sequence["str | Path"] = (),
    *,
    cwd: Optional[Path] = None,
    config_file: Optional[Path] = None,
    use_cache: bool = True,
) -> Inventory:
    """The LLM call sites under ``paths`` (default: the working directory), never raising for bad
    input: paths that do not exist and files that cannot be parsed are listed in ``problems`` and
    the rest is still inventoried. The nearest ``pyproject.toml`` (or ``config_file``) gives the
    project root and ``[tool.tokenbudget.check]`` excludes; a broken one raises
    :class:`checker.config.ConfigError`."""
    from checker.config import find_config_file, load_config
    from checker.files import FileFinder

    cwd = (cwd or Path.cwd()).resolve()
    given = [Path(p) for p in paths] or [Path(".")]
    absolute = [p if p.is_absolute() else cwd / p for p in given]
    if config_file is None:
        first = next((p for p in absolute if p.exists()), cwd)
        config_file = find_config_file(first if first.is_dir() else first.parent)
    config = load_config(config_file, cwd)
    root = config.root.resolve()
    inventory = Inventory(root)
    existing = []
    for shown, path in zip(given, absolute):  # type: ignore[assignment]
        if path.exists():
            existing.append(path)
        else:
            shown = _relative(str(path), root) if path.is_absolute() else shown
            inventory.missing_paths.append(str(shown))
            inventory.problems.append(f"{shown}: no such file or directory (its calls are not counted)")
    files = sorted(FileFinder(config).find(existing)) if existing else []
    directory = (config.cache_dir or root / ".tokenbudget_cache") if use_cache else None
    store = _SiteStore(directory, root)
    for name in files:
        sites, problem = store.sites_of(name)
        relative = _relative(name, root)
        if problem is not None:
            inventory.problems.append(f"{relative}: {problem} (its calls are not counted)")
        for site in sites:
            inventory.sites.append(_site(relative, name, site))
    inventory.wrappers = _wrappers(files, directory, root)
    store.save()
    return inventory


def _relative(name: str, root: Path) -> str:
    try:
        return Path(name).relative_to(root).as_posix()
    except ValueError:
        return Path(name).as_posix()


def _site(relative: str, absolute: str, found: tuple) -> dict[str, Any]:
    line, end_line, api, provider, method, model, cap, no_cover = found
    return {"file": relative, "path": absolute, "line": line, "end_line": end_line, "api": api,
            "provider": provider, "method": method, "model": model, "cap": cap, "no_cover": no_cover}


# --- one file ----------------------------------------------------------------------------------


def file_sites(data: bytes, filename: str) -> tuple[tuple[tuple, ...], Optional[str]]:
    """(SDK calls of one file's bytes as tuples, problem sentence or None). Calls that only
    configure a model (LangChain constructors, ``.bind``) send nothing and are left out."""
    from checker.calls import ast_may_call_llm
    from checker.engine import RuleSet, decode_source

    if not RuleSet([]).may_call_llm(data):
        return (), None
    try:
        source, _ = decode_source(data)
        tree = ast.parse(source, filename)
    except SyntaxError as error:
        return (), f"syntax error at line {error.lineno}: {error.msg}"
    except (UnicodeDecodeError, LookupError):
        return (), "not valid UTF-8 (or its declared encoding)"
    except (ValueError, RecursionError, MemoryError) as error:
        return (), f"cannot be parsed ({type(error).__name__})"
    if not ast_may_call_llm(tree):
        return (), None
    from checker.calls import find_llm_calls

    try:
        calls = find_llm_calls(tree)
    except RecursionError:
        return (), "nested too deeply to be parsed"
    lines = source.splitlines()

    def no_cover(start: int, end: int) -> bool:
        return any(NO_COVER.search(text) for text in lines[start - 1:end])

    found = []
    for call in calls:
        if call.provider == "langchain":
            continue
        start, end = call.node.lineno, call.node.end_lineno or call.node.lineno
        found.append((start, end, call.api, call.provider, call.method, call.model_literal,
                      _cap_text(call, source), no_cover(start, end)))
    # The finder leaves `self.client.messages.create(...)` unresolved when nothing in the file names
    # the SDK (Twilio has `messages.create` too); the wrappers' summaries count such calls by their
    # shape, and so does coverage: a missed site would hide an unbudgeted prompt.
    known = {site[0] for site in found}
    for node, shape in _shaped_calls(tree):
        if node.lineno in known:
            continue
        end = node.end_lineno or node.lineno
        api, provider = shape
        found.append((node.lineno, end, api, provider, node.func.attr, _ast_model(node), _ast_cap(node),
                      no_cover(node.lineno, end)))
    return tuple(sorted(found)), None


_SHAPES = {"messages": ("anthropic.messages", "anthropic"), "responses": ("openai.responses", "openai"),
           "ChatCompletion": ("openai.chat", "openai"), "Completion": ("openai.completions", "openai")}


def _shaped_calls(tree: ast.AST) -> list[tuple[ast.Call, tuple[str, str]]]:
    from checker.calls import ast_llm_calls

    shaped = []
    for node, shape in ast_llm_calls(tree):
        if shape == "completions":
            owner = node.func.value  # type: ignore[attr-defined]
            chat = isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Attribute) and owner.value.attr == "chat"
            shaped.append((node, ("openai.chat", "openai") if chat else ("openai.completions", "openai")))
        elif shape in _SHAPES:
            shaped.append((node, _SHAPES[shape]))
    return shaped


def _ast_model(node: ast.Call) -> Optional[str]:
    for keyword in node.keywords:
        if keyword.arg == "model" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
            return keyword.value.value
    return None


def _ast_cap(node: ast.Call) -> str:
    from checker.calls import API_CAP_NAMES

    caps = {name for names in API_CAP_NAMES.values() for name in names}
    for keyword in node.keywords:
        if keyword.arg in caps:
            return f"{keyword.arg}={ast.unparse(keyword.value)}"
    return "unknown (**kwargs)" if any(k.arg is None for k in node.keywords) else "none"


def _cap_text(call: Any, source: str) -> str:
    cap = call.cap
    if cap is not None:
        name, value = cap
        return f"{name}={ast.get_source_segment(source, value)}"
    return "unknown (**kwargs)" if call.has_unknown_star_kwargs else "none"


class _SiteStore:
    """Each file's call sites by absolute path, with (size, mtime_ns, content digest), in the
    checker's cache directory: a file whose stat or content is unchanged is not parsed again."""

    def __init__(self, directory: Optional[Path], root: Path) -> None:
        self.path: Optional[Path] = None
        self.entries: dict[str, tuple] = {}
        self.dirty = False
        if directory is not None:
            key = hashlib.blake2b(str(root).encode(), digest_size=8).hexdigest()
            self.path = directory / f"calls-v{_STORE_FORMAT}" / f"{key}.marshal"
            from checker.cache import read_marshal

            loaded = read_marshal(self.path)
            if isinstance(loaded, dict) and loaded.get("signature") == _signature() \
                    and isinstance(loaded.get("entries"), dict):
                self.entries = loaded["entries"]

    def sites_of(self, name: str) -> tuple[tuple, Optional[str]]:
        from checker.cache import digest

        try:
            stat = os.stat(name)
        except OSError as error:
            return (), f"cannot be read ({error.strerror})"
        entry = self.entries.get(name)
        if entry is not None and entry[:2] == (stat.st_size, stat.st_mtime_ns):
            return entry[3], entry[4]
        try:
            with open(name, "rb") as handle:
                data = handle.read()
        except OSError as error:
            return (), f"cannot be read ({error.strerror})"
        content = digest(data)
        if entry is not None and entry[2] == content:
            sites, problem = entry[3], entry[4]
        else:
            sites, problem = file_sites(data, name)
        self.entries[name] = (stat.st_size, stat.st_mtime_ns, content, sites, problem)
        self.dirty = True
        return sites, problem

    def save(self) -> None:
        if not self.dirty or self.path is None:
            return
        from checker.cache import write_marshal

        try:
            write_marshal(self.path, {"signature": _signature(), "entries": self.entries})
        except OSError:
            pass  # a read-only checkout still gets its inventory


def _signature() -> str:
    """The finder's code: an upgraded checker must not reuse sites found by an older one."""
    here = Path(__file__).parent
    parts = []
    for name in ("calls.py", "inventory.py", "triggers.py"):
        try:
            stat = (here / name).stat()
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
        except OSError:
            pass
    return ";".join(parts)


# --- wrappers ------------------------------------------------------------------------------------


def _wrappers(files: Iterable[str], directory: Optional[Path], root: Path) -> list[dict[str, Any]]:
    """The project's functions that send LLM requests (``checker.summaries`` sinks), each with the
    SDK call its request leaves through. Wrappers of wrappers are known once ``tokenbudget check``
    has summarised their files (the summaries cache); direct wrappers always are."""
    from checker.summaries import SummaryStore

    store = SummaryStore(directory, root)
    store.refresh_files(files)
    table = store.sinks()
    store.save()
    wrappers = []
    for sink in sorted(table.sinks.values(), key=lambda s: s.qualname):
        reaches = sink.display.rpartition(" in ")[2]
        wrappers.append({"name": sink.qualname, "reaches": reaches, "label": sink.label, "cap": sink.cap,
                         "model": sink.model, "retries": sink.retries})
    return wrappers
