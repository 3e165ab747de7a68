"""Exact Claude counts recorded from Anthropic's count-tokens endpoint, read offline.

``tokenbudget record`` sends request bodies to ``messages.count_tokens`` (only when
``ANTHROPIC_API_KEY`` is set) and stores each exact total in a small lock file that is committed
with the project. Everyone else, CI included, reads the file offline: a count for a request whose
prompt and model match an entry is exact, with provenance ``recorded``.

The lock file
-------------
Default location: ``tokenbudget.lock.json`` in the project root (the nearest directory upwards
from the working directory holding ``pyproject.toml``). Override with ``--lock`` on the command
line, ``lock_path=`` in code, the ``TOKENBUDGET_LOCK`` environment variable, or
``[tool.tokenbudget] lock-file = "path"`` in pyproject.toml (relative to that file).

Format: UTF-8 JSON, keys sorted, two-space indent, one trailing newline, so diffs stay small::

    {
      "entries": {
        "<sha256 hex>": {"input_tokens": 1234, "model": "claude-sonnet-4-5-20250929",
                         "recorded_at": "2026-11-28T15:00:00Z"}
      },
      "version": 1
    }

The key is ``sha256`` of the canonical JSON (sorted keys, no whitespace, UTF-8) of
``{"model": <model id>, "request": <prompt fields of the body>}``. Prompt fields are those that
change the input token count: ``messages``, ``system``, ``tools``, ``tool_choice``, ``thinking``,
``output_config``, ``output_format`` and ``mcp_servers``. Everything else (``max_tokens``,
``temperature``, ``top_p``, ``top_k``, ``stop_sequences``, ``stream``, ``metadata``,
``service_tier``, the body's own ``model`` field ...) is ignored, so changing a sampling parameter
keeps the recorded count. The model is part of the key: pass the registry's canonical id, so an
alias and its dated id share entries.

Where the bodies come from: hand-made request files, or the JSON report of
``pytest --tokenbudget-json=PATH``, which names exactly the Claude requests the suite builds. That
report holds no prompt text by default, only each request's key: enough to tell which requests are
recorded already (and to keep their entries on ``--prune``), not to count new ones, which needs the
bodies that ``--tokenbudget-json-bodies`` adds.

A *stale* entry is one whose key matches no current request (the prompt changed) or that was
recorded for another model: it is simply never found, and the count falls back to ctok or the
estimate. ``tokenbudget record --prune`` drops entries not produced by that run.
Writes are atomic (temporary file in the same directory, then ``os.replace``).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._config import nearest_pyproject, tool_table
from ._errors import ConfigError, TokenBudgetError
from ._files import write_text_atomically

__all__ = [
    "LOCK_FILENAME",
    "LOCK_VERSION",
    "PROMPT_FIELDS",
    "LockFileError",
    "canonical_key",
    "default_lock_path",
    "lookup",
    "load_lock",
    "record",
    "run_record",
]

LOCK_FILENAME = "tokenbudget.lock.json"
LOCK_VERSION = 1
LOCK_ENV = "TOKENBUDGET_LOCK"
API_KEY_ENV = "ANTHROPIC_API_KEY"
PROMPT_FIELDS = (
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "output_format",
    "mcp_servers",
)
# Fields count_tokens takes as keyword arguments; the rest of PROMPT_FIELDS go in extra_body.
_SDK_KWARGS = ("system", "tools", "tool_choice", "thinking", "output_config")


class LockFileError(TokenBudgetError, ValueError):
    """The lock file exists but cannot be used; the message names the file and the fix."""


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_key(body: Mapping[str, Any], model_id: str) -> str:
    """sha256 hex of the canonical JSON of the body's prompt fields plus the model id."""
    if not isinstance(body, Mapping):
        raise TypeError(f"request body must be a mapping, not {type(body).__name__}")
    prompt = {field: body[field] for field in PROMPT_FIELDS if field in body}
    try:
        text = _canonical_json({"model": model_id, "request": prompt})
    except (TypeError, ValueError) as exc:
        raise TypeError(f"request body is not JSON-serialisable: {exc}") from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------------------------
# locating and reading the lock file


def default_lock_path(start: Path | None = None) -> Path:
    """Where the lock file lives when no path is given (see the module docstring)."""
    return Path(_lock_file(str(start.resolve()) if start else os.getcwd()))


def _lock_file(folder: str) -> str:
    """`default_lock_path` as a string. Every Claude request asks, so this stays on strings and
    remembered answers: building Paths here cost more than the rest of the lookup."""
    env = os.environ.get(LOCK_ENV)
    if env:
        return env
    pyproject = nearest_pyproject(folder)
    if pyproject is None:
        return os.path.join(folder, LOCK_FILENAME)
    try:
        info = os.stat(pyproject)
        stamp = (info.st_mtime_ns, info.st_size)
    except OSError:
        stamp = (0, 0)
    return _lock_file_of(pyproject, stamp)


@functools.lru_cache(maxsize=16)
def _lock_file_of(pyproject: str, stamp: tuple[int, int]) -> str:
    configured = _configured_lock(pyproject, stamp)
    root = Path(pyproject).parent
    return str((root / configured) if configured else root / LOCK_FILENAME)


@functools.lru_cache(maxsize=16)
def _configured_lock(pyproject: str, stamp: tuple[int, int]) -> str | None:
    """[tool.tokenbudget] lock-file of a pyproject.toml; cached per file version (``stamp``)
    because every Claude request looks the lock file up."""
    try:
        value = tool_table(Path(pyproject)).get("lock-file")
    except ConfigError:
        return None  # the registry loader reports a broken pyproject; here we just use the default
    if value is not None and not isinstance(value, str):
        raise LockFileError(f"{pyproject}: [tool.tokenbudget] lock-file must be a string path, not {value!r}")
    return value


@dataclass(frozen=True)
class _Entry:
    input_tokens: int
    model: str


_cache: dict[str, tuple[float, int, dict[str, _Entry]]] = {}


def load_lock(path: Path) -> dict[str, dict[str, Any]]:
    """The raw entries of a lock file ({} when it does not exist). Raises LockFileError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise LockFileError(f"{path}: cannot read the token lock file ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockFileError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"fix it or delete it and run `tokenbudget record` again"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise LockFileError(f"{path}: expected an object with an \"entries\" object; delete it and re-record")
    if data.get("version") != LOCK_VERSION:
        raise LockFileError(
            f"{path}: lock file version {data.get('version')!r} is not supported (expected {LOCK_VERSION}); "
            f"re-record with `tokenbudget record`"
        )
    for key, entry in data["entries"].items():
        tokens = entry.get("input_tokens") if isinstance(entry, dict) else None
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0 or not isinstance(entry.get("model"), str):
            raise LockFileError(
                f"{path}: entries[{key!r}] needs an integer \"input_tokens\" >= 0 and a string \"model\""
            )
    return data["entries"]


def _entries(path: str) -> dict[str, _Entry]:
    # Most projects have no lock file, and every Claude request asks: os.access says so without the
    # FileNotFoundError that os.stat raises, which cost more than the rest of the lookup.
    if not os.access(path, os.F_OK):
        _cache.pop(path, None)
        return {}
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        _cache.pop(path, None)
        return {}
    cached = _cache.get(path)
    if cached and cached[0] == stat.st_mtime and cached[1] == stat.st_size:
        return cached[2]
    entries = {k: _Entry(int(v["input_tokens"]), v["model"]) for k, v in load_lock(Path(path)).items()}
    _cache[path] = (stat.st_mtime, stat.st_size, entries)
    return entries


def lookup(body: Mapping[str, Any], model_id: str, *, lock_path: Path | None = None) -> int | None:
    """The recorded exact input-token total for this request and model, or None."""
    path = os.fspath(lock_path) if lock_path is not None else _lock_file(os.getcwd())
    entries = _entries(path)
    if not entries:
        return None
    entry = entries.get(canonical_key(body, model_id))
    # The model is already in the key; checking it again guards against hand-edited files.
    if entry is None or entry.model != model_id:
        return None
    return entry.input_tokens


def _write_lock(path: Path, entries: Mapping[str, Mapping[str, Any]]) -> None:
    text = json.dumps({"entries": dict(entries), "version": LOCK_VERSION}, sort_keys=True, indent=2, ensure_ascii=False)
    write_text_atomically(path, text + "\n")
    _cache.pop(path, None)


@dataclass(frozen=True)
class RecordResult:
    recorded: int  # new or changed entries
    unchanged: int  # requests whose entry was already present (not re-sent unless force)
    pruned: int  # entries dropped by prune


def record(
    requests: Iterable[tuple[Mapping[str, Any], str]],
    *,
    lock_path: Path,
    client: Any,
    prune: bool = False,
    force: bool = False,
    current_keys: Iterable[str] = (),
) -> RecordResult:
    """Count each ``(body, model_id)`` with ``client.messages.count_tokens`` and store the totals.

    Requests already in the lock file are not sent again unless ``force``. ``current_keys`` are
    entries known to belong to current requests whose bodies are not at hand (a JSON report without
    bodies): they count as unchanged and survive ``prune``, which removes every entry no request
    of this run produced. The file is written once, atomically, at the end (and not at all if
    nothing changed); an API error leaves it untouched.
    """
    existing = {k: dict(v) for k, v in load_lock(lock_path).items()}
    updated = dict(existing)
    seen: set[str] = set(current_keys) & set(existing)
    recorded, unchanged = 0, len(seen)
    for body, model_id in requests:
        key = canonical_key(body, model_id)
        if key in seen:  # the same prompt from several tests (parametrized ones, a report) is sent once
            continue
        seen.add(key)
        if key in existing and existing[key].get("model") == model_id and not force:
            unchanged += 1
            continue
        kwargs = {field: body[field] for field in _SDK_KWARGS if field in body}
        extra = {field: body[field] for field in PROMPT_FIELDS if field in body and field not in _SDK_KWARGS and field != "messages"}
        if extra:
            kwargs["extra_body"] = extra
        result = client.messages.count_tokens(model=model_id, messages=body.get("messages", []), **kwargs)
        tokens = int(result.input_tokens)
        entry = {
            "input_tokens": tokens,
            "model": model_id,
            "recorded_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if existing.get(key, {}).get("input_tokens") == tokens and existing[key].get("model") == model_id:
            unchanged += 1
            entry["recorded_at"] = existing[key].get("recorded_at", entry["recorded_at"])
        else:
            recorded += 1
        updated[key] = entry
    pruned = 0
    if prune:
        for key in list(updated):
            if key not in seen:
                del updated[key]
                pruned += 1
    if updated != existing:
        _write_lock(lock_path, updated)
    return RecordResult(recorded=recorded, unchanged=unchanged, pruned=pruned)


# ----------------------------------------------------------------------------------------------
# `tokenbudget record`


class _InputError(Exception):
    pass


def _iter_files(paths: Iterable[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file())
            if not found:
                raise _InputError(f"{path}: directory holds no .json or .jsonl request files")
            yield from found
        elif path.is_file():
            yield path
        else:
            raise _InputError(f"{path}: no such file or directory")


def _bodies_in(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _InputError(f"{path}: cannot read ({exc})") from None
    if path.suffix == ".jsonl":
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield f"{path}:{lineno}", json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _InputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _InputError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield f"{path}[{index}]", item
    else:
        yield str(path), data


def _resolve_model(name: str) -> str:
    """The registry's canonical id for ``name`` when the registry knows it, else ``name``."""
    try:
        from pytest_tokenbudget import get_model  # noqa: PLC0415 - lead's registry, optional here
    except ImportError:
        return name
    try:
        return get_model(name).id
    except Exception:
        return name


@dataclass
class _Collected:
    requests: list[tuple[dict, str]]  # (body, model id) to count
    skipped: list[str]  # notes on inputs that are not Claude Messages requests
    bodiless: list[Any]  # _ci_reports.ReportRequest: requests of a JSON report written without bodies


def _collect(paths: list[str], default_model: str | None) -> _Collected:
    from . import _ci_reports

    found = _Collected([], [], [])
    requests, skipped = found.requests, found.skipped
    for path in _iter_files(paths):
        for where, body in _bodies_in(path):
            if _ci_reports.is_report(body):
                _collect_report(body, where, found)
                continue
            if not isinstance(body, dict):
                raise _InputError(f"{where}: a request body must be a JSON object, not {type(body).__name__}")
            # A captured-request wrapper ({"body": {...}, "model": ...}) is accepted too.
            if "messages" not in body and isinstance(body.get("body"), dict):
                body = body["body"]
            if "messages" not in body:
                skipped.append(f"{where}: no \"messages\" (not an Anthropic Messages request)")
                continue
            if not isinstance(body["messages"], list):
                raise _InputError(f"{where}: \"messages\" must be a list")
            model = body.get("model") or default_model
            if not model:
                raise _InputError(f"{where}: the body has no \"model\"; pass --model MODEL")
            if not isinstance(model, str):
                raise _InputError(f"{where}: \"model\" must be a string")
            if not model.startswith("claude") and "anthropic" not in model:
                skipped.append(f"{where}: model {model!r} is not a Claude model")
                continue
            requests.append((body, _resolve_model(model.split("/", 1)[-1])))
    return found


def _collect_report(report: Mapping[str, Any], where: str, found: _Collected) -> None:
    """The Claude requests of a pytest ``--tokenbudget-json`` report: exactly those the suite builds."""
    from . import _ci_reports

    try:
        claude = list(_ci_reports.report_requests(report, where))
    except _ci_reports.ReportError as exc:
        raise _InputError(str(exc)) from None
    others = sum(len(test["requests"]) for test in report["tests"]) - len(claude)
    if others:
        found.skipped.append(f"{where}: {others} request{'s' if others != 1 else ''} of the report "
                             f"{'are' if others != 1 else 'is'} not Claude Messages requests")
    for request in claude:
        if request.body is not None:
            found.requests.append((dict(request.body), _resolve_model(request.model)))
        else:
            found.bodiless.append(request)


def _without_counts(bodiless: list[Any], entries: Mapping[str, Mapping[str, Any]], force: bool) -> list[Any]:
    """Report requests with no body whose count is not in the lock file: they cannot be recorded."""
    if force:
        return list(bodiless)
    return [request for request in bodiless
            if request.lock_key not in entries or entries[request.lock_key].get("model") != request.model]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenbudget record",
        description=(
            "Record exact Claude input-token counts from Anthropic's count-tokens endpoint into the "
            "lock file, so tests and CI can use them offline. Needs ANTHROPIC_API_KEY."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="request body files (.json object or list, .jsonl), directories of them, or a "
                             "JSON report of pytest --tokenbudget-json (with --tokenbudget-json-bodies for "
                             "requests not recorded yet)")
    parser.add_argument("--lock", type=Path, default=None,
                        help=f"lock file to update (default: {LOCK_FILENAME} in the project root)")
    parser.add_argument("--model", default=None, help="model for bodies that have no \"model\" field")
    parser.add_argument("--prune", action="store_true", help="drop lock entries no given request produced")
    parser.add_argument("--force", action="store_true", help="re-count requests already in the lock file")
    return parser


def run_record(argv: list[str], *, client: Any = None) -> int:
    """``tokenbudget record ...``; returns the exit code (0 ok, 1 API failure, 2 usage error).

    ``client`` lets tests pass an ``anthropic.Anthropic`` wired to a fake transport; by default
    one is created from the environment.
    """
    args = _parser().parse_args(argv)
    lock_path = args.lock or default_lock_path()
    try:
        found = _collect(args.paths, args.model)
        entries = load_lock(lock_path)  # fail on a broken lock file before any network call
    except (_InputError, LockFileError) as exc:
        print(f"tokenbudget record: error: {exc}", file=sys.stderr)
        return 2
    requests = found.requests
    for note in found.skipped:
        print(f"tokenbudget record: skipped {note}", file=sys.stderr)
    missing = _without_counts(found.bodiless, entries, args.force)
    if missing:
        listed = "; ".join(f"{request.where} ({request.model})" for request in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        print(f"tokenbudget record: error: {len(missing)} Claude request{'s' if len(missing) != 1 else ''} of the "
              f"JSON report {'have' if len(missing) != 1 else 'has'} no body to count (the report leaves prompt text "
              f"out unless asked): {listed}{more}. Write the report with `pytest --tokenbudget-json=PATH "
              f"--tokenbudget-json-bodies` and record from that; nothing was sent and {lock_path} is unchanged.",
              file=sys.stderr)
        return 2
    current_keys = [request.lock_key for request in found.bodiless]
    if not requests and not current_keys:
        print("tokenbudget record: error: no Anthropic Messages requests found in the given paths", file=sys.stderr)
        return 2
    if client is None:
        if not os.environ.get(API_KEY_ENV):
            print(
                f"tokenbudget record: error: {API_KEY_ENV} is not set. Recording calls Anthropic's "
                f"count-tokens endpoint; set the key (e.g. `export {API_KEY_ENV}=sk-ant-...`) and rerun. "
                f"Without it, counts come from ctok or the offline estimate.",
                file=sys.stderr,
            )
            return 2
        try:
            import anthropic  # noqa: PLC0415 - optional dependency
        except ImportError:
            print("tokenbudget record: error: the anthropic package is not installed; "
                  "`pip install 'pytest-tokenbudget[anthropic]'`", file=sys.stderr)
            return 2
        client = anthropic.Anthropic()
    try:
        result = record(requests, lock_path=lock_path, client=client, prune=args.prune, force=args.force,
                        current_keys=current_keys)
    except Exception as exc:  # the SDK's errors: auth, rate limit, connection, bad request
        print(f"tokenbudget record: error: count_tokens failed: {type(exc).__name__}: {exc}. "
              f"The lock file {lock_path} was not changed.", file=sys.stderr)
        return 1
    print(
        f"{lock_path}: {result.recorded} recorded, {result.unchanged} unchanged"
        + (f", {result.pruned} pruned" if args.prune else "")
    )
    return 0
