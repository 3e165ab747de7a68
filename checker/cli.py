"""``tokenbudget check`` / ``tokenbudget rule``: ``main(["check", ...])``, ``main(["rule", "TB101"])``.

Exit status (ruff's): 0 no findings, 1 findings (or, with ``--diff``, changes to make),
2 bad usage, bad configuration or internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from checker.config import ConfigError, enabled_codes, find_config_file, load_config, validate_selectors

# Kept here (not imported from checker.output) so that start-up stays light.
FORMATS = ("text", "concise", "json", "github", "sarif", "junit")

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, with the terminal's width found without importing shutil (~5 ms on
    every run, for help text that is rarely printed)."""

    def __init__(self, prog: str, **kwargs: "Any") -> None:  # type: ignore[name-defined]  # noqa: F821
        if kwargs.get("width") is None:
            kwargs["width"] = _terminal_columns() - 2  # as argparse does
        super().__init__(prog, **kwargs)


def _terminal_columns() -> int:
    try:
        return int(os.environ["COLUMNS"])  # shutil.get_terminal_size's order
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
        self.print_usage(sys.stderr)
        raise ConfigError(f"{self.prog}: {message}")


def _selectors(value: str) -> list[str]:
    return [part.strip().upper() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tokenbudget", description="Static checks for LLM API calls.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check Python files for risky LLM calls")
    check.prog = "tokenbudget check"
    check.add_argument("paths", nargs="*", type=Path, help="files or directories (default: .)")
    check.add_argument("--select", type=_selectors, help="rule codes or prefixes to enable (replaces the configured list)")
    check.add_argument("--extend-select", type=_selectors, default=[], help="rule codes or prefixes to enable as well")
    check.add_argument("--ignore", type=_selectors, default=[], help="rule codes or prefixes to disable")
    check.add_argument("--exclude", action="append", default=None, help="glob to exclude (replaces the defaults)")
    check.add_argument("--extend-exclude", action="append", default=[], help="glob to exclude as well")
    check.add_argument("--force-exclude", action="store_true", help="exclude files even when passed explicitly")
    check.add_argument("--no-respect-gitignore", action="store_true", help="check files .gitignore excludes")
    check.add_argument("--config", type=Path, help="pyproject.toml to read (default: the nearest one)")
    check.add_argument("--output-format", choices=FORMATS, default=None, help="how to print findings (default: text)")
    check.add_argument("--statistics", action="store_true", help="print the number of findings per rule")
    check.add_argument("--stdin-filename", type=Path, help="read the source from standard input, as this file")
    check.add_argument("--fix", action="store_true", help="apply fixes in place")
    check.add_argument("--unsafe-fixes", action="store_true", help="also apply fixes that may change behaviour")
    check.add_argument("--diff", action="store_true", help="print the fixes as a diff instead of writing them")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings")
    check.add_argument("--strict", action="store_true", default=None, help="report calls whose **kwargs are unknown")
    check.add_argument("--default-max-tokens", type=int, default=None, help="cap inserted by --fix")
    check.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    check.add_argument("--cache-dir", type=Path, help="cache directory (default: .tokenbudget_cache)")
    check.add_argument("--jobs", "-j", type=int, default=None, help="worker processes (default: CPU count)")
    check.add_argument("--add-noqa", action="store_true", help="add `# noqa: TBnnn` to every line with a finding")
    check.add_argument("--new-since", metavar="REF", help="report only findings on lines added or changed since this git ref")
    check.add_argument("--quiet", "-q", action="store_true", help="print findings only, no summary")
    rule = sub.add_parser("rule", help="print a rule's documentation")
    rule.prog = "tokenbudget rule"
    rule.add_argument("code", nargs="?", help="rule code, e.g. TB101")
    rule.add_argument("--all", action="store_true", help="print every rule")
    rule.add_argument("--output-format", choices=("text", "json"), default="text")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            args = build_parser().parse_args(args_list)
        except SystemExit as exit_request:  # --help / --version
            return int(exit_request.code or 0)
        if args.command == "rule":
            return _rule(args)
        return _check(args)
    except ConfigError as error:
        print(f"tokenbudget: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - exit 2 with a message, not a traceback
        print(f"tokenbudget: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        if os.environ.get("TOKENBUDGET_DEBUG"):
            raise
        return EXIT_ERROR


def _rule(args: argparse.Namespace) -> int:
    from checker.registry import all_rules

    rules = all_rules()
    if args.all:
        chosen = list(rules.values())
    elif args.code:
        code = args.code.upper()
        if code not in rules:
            raise ConfigError(f"unknown rule '{args.code}'; known rules: {', '.join(rules)}")
        chosen = [rules[code]]
    else:
        raise ConfigError("tokenbudget rule: give a rule code (e.g. TB101) or --all")
    if args.output_format == "json":
        import json

        payload = [
            {"code": r.code, "name": r.name, "severity": r.severity, "fixable": r.fixable, "summary": r.summary(),
             "explanation": r.documentation()}
            for r in chosen
        ]  # fmt: skip
        print(json.dumps(payload if args.all else payload[0], indent=2))
    else:
        sys.stdout.write("\n".join(r.documentation() for r in chosen))
    return EXIT_CLEAN


def _check(args: argparse.Namespace) -> int:
    from checker.config import PathMatcher

    cwd = Path.cwd()
    if args.config is not None:
        if not args.config.is_file():
            raise ConfigError(f"--config {args.config}: no such file")
        config_file: Optional[Path] = args.config.resolve()
    else:
        start = cwd
        if args.paths:
            first = (cwd / args.paths[0]).resolve()
            start = first if first.is_dir() else first.parent
        elif args.stdin_filename is not None:
            start = (cwd / args.stdin_filename).resolve().parent
        config_file = find_config_file(start)
    config = load_config(config_file, cwd)
    if config_file is None:
        config.root = cwd
    for key in ("select", "extend_select", "ignore"):
        validate_selectors(getattr(args, key) or [], f"--{key.replace('_', '-')}")
    if args.select is not None:
        config.select = args.select
    config.extend_select = list(config.extend_select) + list(args.extend_select)
    config.ignore = list(config.ignore) + list(args.ignore)
    if args.exclude is not None:
        config.exclude = args.exclude
    config.extend_exclude = list(config.extend_exclude) + list(args.extend_exclude)
    if args.no_respect_gitignore:
        config.respect_gitignore = False
    if args.strict:
        config.strict = True
    if args.default_max_tokens is not None:
        if args.default_max_tokens < 1:
            raise ConfigError("--default-max-tokens: expected a positive integer")
        config.default_max_tokens = args.default_max_tokens
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("--jobs: expected a positive integer")
    if args.new_since is not None and (args.fix or args.diff or args.stdin_filename is not None):
        raise ConfigError("--new-since cannot be combined with --fix, --diff or --stdin-filename")
    if args.add_noqa and (args.fix or args.diff or args.stdin_filename is not None):
        raise ConfigError("--add-noqa cannot be combined with --fix, --diff or --stdin-filename")
    enabled = enabled_codes(config.select, config.extend_select, config.ignore)
    _validate_model_registry(config, enabled)
    output_format = args.output_format or "text"

    from checker.runner import Runner

    runner = Runner(
        config,
        enabled,
        use_cache=not args.no_cache and args.stdin_filename is None,
        cache_dir=args.cache_dir,
        jobs=args.jobs,
    )
    sources: dict[str, str] = {}
    fixed_count = 0
    if args.stdin_filename is not None:
        path = (cwd / args.stdin_filename).resolve()
        if args.force_exclude and PathMatcher(list(config.exclude) + list(config.extend_exclude)).matches(runner.relative(path)):
            return EXIT_CLEAN
        data = sys.stdin.buffer.read()
        diagnostics = runner.check_stdin(data, path)
        source_text = data.decode("utf-8", errors="replace")
        sources[str(path)] = source_text
        if args.fix or args.diff:
            fixed_text, fixed_count, diagnostics = _fix_one(runner, path, source_text, args.unsafe_fixes)
            if args.diff:
                sys.stdout.write(_diff(str(path), source_text, fixed_text))
                return EXIT_FINDINGS if fixed_text != source_text and not args.exit_zero else EXIT_CLEAN
            sys.stdout.write(fixed_text)  # editors replace the buffer with stdout, as with ruff
            _report(diagnostics, args, output_format, runner, sources, fixed_count, stream=sys.stderr)
            return EXIT_FINDINGS if diagnostics and not args.exit_zero else EXIT_CLEAN
    else:
        from checker.files import FileFinder

        paths = args.paths or [Path(".")]
        missing = [p for p in paths if not (cwd / p).exists()]
        if missing:
            raise ConfigError(f"no such file or directory: {missing[0]}")
        verdicts = None
        if args.force_exclude and runner.cache is not None:
            from checker.files import IgnoreVerdicts

            verdicts = IgnoreVerdicts(runner.cache.directory / "ignored-v1.marshal")
        files = list(FileFinder(config, force_exclude=args.force_exclude, verdicts=verdicts).find(paths))
        if verdicts is not None:
            verdicts.save()
        changed = None
        if args.new_since is not None:
            from checker.gitdiff import changed_lines

            changed = changed_lines(args.new_since, paths, cwd)
        diagnostics = runner.check_files(files)
        if changed is not None:  # the one place findings on old lines are dropped
            diagnostics = [d for d in diagnostics if changed.contains(d.filename, d.line)]
        if args.add_noqa:
            return _add_noqa(diagnostics)
        if args.fix or args.diff:
            diagnostics, fixed_count, diff_text = _fix_files(runner, diagnostics, args.unsafe_fixes, write=not args.diff)
            if args.diff:
                sys.stdout.write(diff_text)
                if fixed_count:
                    print(f"Would fix {fixed_count} error{'s' if fixed_count != 1 else ''}.", file=sys.stderr)
                return EXIT_FINDINGS if diff_text and not args.exit_zero else EXIT_CLEAN
    _report(diagnostics, args, output_format, runner, sources, fixed_count, stream=sys.stdout)
    return EXIT_FINDINGS if diagnostics and not args.exit_zero else EXIT_CLEAN


def _validate_model_registry(config, enabled: frozenset[str]) -> None:
    """A broken ``[tool.tokenbudget.models]`` table is a configuration error (exit 2 naming the
    key), not a TB000 on every file. Only paid when the project declares models or aliases."""
    if "TB102" not in enabled or config.config_file is None:
        return
    try:
        text = config.config_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    if "tool.tokenbudget.models" not in text and "tool.tokenbudget.aliases" not in text:
        return
    try:
        from pytest_tokenbudget import Registry, TokenBudgetError
    except ImportError:
        return
    try:
        Registry.load(config.root)
    except TokenBudgetError as error:
        raise ConfigError(str(error)) from None


def _report(diagnostics, args, output_format, runner, sources, fixed_count, stream) -> None:
    from checker import output

    if args.statistics:
        from checker.registry import all_rules

        rules = all_rules()
        stream.write(output.statistics(diagnostics, rules, output_format == "json"))
        return

    def source_of(filename: str) -> Optional[str]:
        if filename not in sources:
            try:
                sources[filename] = Path(filename).read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
        return sources[filename]

    if output_format == "text":
        stream.write(output.text(diagnostics, source_of))
    elif output_format == "concise":
        stream.write(output.concise(diagnostics))
    elif output_format == "json":
        stream.write(output.as_json(diagnostics))
    elif output_format == "github":
        stream.write(output.github(diagnostics))
    elif output_format == "sarif":
        from checker.cache import package_version
        from checker.registry import all_rules

        rules = all_rules()
        chosen = [rules[code] for code in sorted(runner.enabled | {"TB000"}) if code in rules]
        stream.write(output.sarif(diagnostics, chosen, package_version()))
    elif output_format == "junit":
        stream.write(output.junit(diagnostics))
    if output_format in ("text", "concise") and not args.quiet:
        stream.write(output.summary(diagnostics, args.unsafe_fixes, fixed_count))


def _fix_one(runner, path: Path, source: str, unsafe: bool):
    from checker.engine import fix_source
    from checker.registry import select_rules

    codes = runner.codes_for(path)
    return fix_source(source, str(path), select_rules(codes), runner.settings, unsafe=unsafe)


def _diff(name: str, before: str, after: str) -> str:
    import difflib

    from checker.output import display_path

    shown = display_path(name)
    return "".join(
        difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True), shown, shown)
    )


def _fix_files(runner, diagnostics, unsafe: bool, write: bool):
    from checker.engine import decode_source

    fixable_files = sorted(
        {d.filename for d in diagnostics if d.fix is not None and (unsafe or d.fix.is_safe)}
    )
    remaining = [d for d in diagnostics if d.filename not in fixable_files]
    total = 0
    diff_parts: list[str] = []
    for filename in fixable_files:
        path = Path(filename)
        data = path.read_bytes()
        source, encoding = decode_source(data)
        fixed, count, left = _fix_one(runner, path, source, unsafe)
        remaining.extend(left)
        if fixed == source:
            continue
        total += count
        if write:
            _write_source(path, fixed.encode(encoding))
        else:
            diff_parts.append(_diff(filename, source, fixed))
    if write and total and runner.cache is not None:
        runner.check_files(sorted({Path(f) for f in fixable_files}))  # refresh the cache for fixed files
    from checker.diagnostics import Diagnostic

    if not write:
        remaining = list(diagnostics)
    return sorted(remaining, key=Diagnostic.sort_key), total, "".join(diff_parts)


# Not suppressed by --add-noqa: a file that cannot be analysed needs fixing, and a directive
# that suppresses nothing is not to be suppressed by another.
_NOT_ADDED = frozenset({"TB000", "TB001"})


def _add_noqa(diagnostics) -> int:
    from checker.diagnostics import Edit
    from checker.engine import decode_source
    from checker.noqa import add_codes
    from checker.output import display_path

    wanted: dict[str, dict[int, list[tuple[int, str]]]] = {}
    stale: dict[str, dict[int, Edit]] = {}  # TB001's edits: a directive merged into loses its stale codes
    for d in diagnostics:
        if d.code not in _NOT_ADDED:
            wanted.setdefault(d.filename, {}).setdefault(d.line, []).append((d.end_line, d.code))
        elif d.code == "TB001" and d.fix is not None and len(d.fix.edits) == 1 and d.fix.edits[0].end_line == d.line:
            stale.setdefault(d.filename, {})[d.line] = d.fix.edits[0]
    total = 0
    for filename, per_line in sorted(wanted.items()):
        path = Path(filename)
        source, encoding = decode_source(path.read_bytes())
        updated, added, skipped = add_codes(source, per_line, stale.get(filename))
        if skipped:
            print(f"{display_path(filename)}: {skipped} finding{'s' if skipped != 1 else ''} not suppressed: "
                  f"no line of it can take a comment", file=sys.stderr)
        if updated != source:
            _write_source(path, updated.encode(encoding))
            total += added
    print(f"Added {total} noqa directive{'s' if total != 1 else ''}.", file=sys.stderr)
    return EXIT_CLEAN


def _write_source(path: Path, data: bytes) -> None:
    """Rewrite a checked file in place, keeping its permissions."""
    from checker.atomic import write_atomically

    write_atomically(path, data, mode=path.stat().st_mode & 0o7777, durable=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
