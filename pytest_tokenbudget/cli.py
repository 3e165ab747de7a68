"""The `tokenbudget` command: `count` and `models` here, `record` from `_recorded`, `compare` from
`_compare`, and `check` / `rule` from the static checker."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from ._errors import TokenBudgetError

_USAGE = """usage: tokenbudget <command> [options]

commands:
  check [PATH ...]      find LLM calls without an output cap and other costly mistakes (static)
  rule CODE             explain a checker rule, e.g. `tokenbudget rule TB101`
  calls [PATH ...]      list the LLM call sites and the wrappers that reach them [--format json]
  count [FILE|-]        count the tokens of a text or JSON request body: --model M [--json]
  models [PATTERN]      list the model registry [--json]
  record [FILE ...]     record exact Claude counts from Anthropic's count-tokens endpoint (request
                        bodies, or the JSON report of pytest --tokenbudget-json)
  compare OLD NEW       compare two prompt-size baselines or reports [--format text|markdown|json] [--fail-on 5%]
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    try:
        if command in ("check", "rule"):
            from checker.cli import main as checker_main

            return checker_main([command, *rest])
        if command == "calls":
            return _calls(rest)
        if command == "record":
            from ._recorded import run_record

            return run_record(rest)
        if command == "compare":
            from ._compare import run_compare

            return run_compare(rest)
        if command == "count":
            return _count(rest)
        if command == "models":
            return _models(rest)
    except TokenBudgetError as error:
        print(f"tokenbudget {command}: error: {error}", file=sys.stderr)
        return 2
    print(f"tokenbudget: unknown command {command!r}\n\n{_USAGE}", file=sys.stderr)
    return 2


def _count(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tokenbudget count", description="Count the input tokens of a "
                                     "text file or a JSON request body (OpenAI or Anthropic), offline.")
    parser.add_argument("file", nargs="?", default="-", help="a file, or - for standard input (default)")
    parser.add_argument("--model", help="the model; required for plain text, optional when the body names one")
    parser.add_argument("--api", choices=["openai.chat", "openai.responses", "openai.completions",
                                          "openai.embeddings", "anthropic.messages"],
                        help="the API the body is for (inferred when omitted)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    options = parser.parse_args(argv)
    text = _read_input(options.file)
    body = _as_request_body(text)

    from ._models import get_model
    from ._requests import count_request, count_tokens
    from ._tokenizers import counter_for

    if body is None:
        if not options.model:
            parser.error("plain text needs --model (which tokenizer counts it)")
        model = get_model(options.model)
        counter = counter_for(model.tokenizer)
        tokens = count_tokens(text, options.model)
        result: dict[str, Any] = {"input_tokens": tokens, "model": model.id, "tokenizer": counter.name,
                                  "tokenizer_version": counter.version, "provenance": counter.provenance,
                                  "breakdown": [{"label": "text", "tokens": tokens}]}
    else:
        counted = count_request(body, api=options.api, model=options.model)
        result = {
            "input_tokens": counted.input_tokens, "model": counted.model.id, "api": counted.api,
            "tokenizer": counted.tokenizer, "tokenizer_version": counted.tokenizer_version,
            "provenance": counted.provenance, "max_output_tokens": counted.max_output_tokens,
            "context_window": counted.model.context_window, "cost_usd": counted.cost_usd,
            "breakdown": [{"label": p.label, "tokens": p.tokens} for p in counted.largest_first()],
        }
    if options.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['input_tokens']:,} input tokens ({result['model']}, {result['tokenizer']}, {result['provenance']})")
    width = max(len(part["label"]) for part in result["breakdown"]) if result["breakdown"] else 0
    for part in result["breakdown"]:
        print(f"  {part['label']:<{width}}  {part['tokens']:>10,}")
    return 0


def _calls(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tokenbudget calls", description="List the LLM call sites under PATHs "
                                     "(found statically, as `tokenbudget check` finds them) and the project's "
                                     "functions that send through them.")
    parser.add_argument("paths", nargs="*", default=[], help="files or directories (default: .)")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the checker's cache")
    options = parser.parse_args(argv)

    from checker.config import ConfigError
    from checker.inventory import call_inventory

    try:
        inventory = call_inventory(options.paths, use_cache=not options.no_cache)
    except ConfigError as error:
        raise TokenBudgetError(str(error)) from None
    for problem in inventory.problems:
        print(f"tokenbudget calls: warning: {problem}", file=sys.stderr)
    if options.format == "json":
        print(json.dumps(inventory.as_dict(), indent=2))
    else:
        for line in _inventory_lines(inventory):
            print(line)
    return 2 if inventory.missing_paths else 0


def _inventory_lines(inventory: Any) -> list[str]:
    lines = []
    for site in inventory.sites:
        where = f"{site['file']}:{site['line']}"
        note = "  (no-cover)" if site["no_cover"] else ""
        lines.append(f"{where}  {site['api']}  model={site['model'] or '?'}  cap: {site['cap']}{note}")
    if inventory.wrappers:
        lines.append("")
        lines.append("wrappers (the project's functions that send):")
        for wrapper in inventory.wrappers:
            model = f", model={wrapper['model']}" if wrapper["model"] else ""
            lines.append(f"  {wrapper['name']}()  -> {wrapper['reaches']}  (cap {wrapper['cap']}{model})")
    files = len({site["file"] for site in inventory.sites})
    lines.append("")
    lines.append(f"{len(inventory.sites)} LLM call site{'s' if len(inventory.sites) != 1 else ''} in {files} "
                 f"file{'s' if files != 1 else ''}, {len(inventory.wrappers)} wrapper{'s' if len(inventory.wrappers) != 1 else ''}")
    return lines


def _read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise TokenBudgetError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise TokenBudgetError(f"{path} is not UTF-8 text") from None


def _as_request_body(text: str) -> dict[str, Any] | None:
    """The JSON request body `text` holds, or None when it is plain text."""
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return None
    try:
        body = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    if isinstance(body, dict) and any(key in body for key in ("messages", "input", "prompt")):
        return body
    return None


def _models(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tokenbudget models", description="List the model registry.")
    parser.add_argument("pattern", nargs="?", default="", help="only models whose id contains this text")
    parser.add_argument("--json", action="store_true", help="print the models as JSON")
    options = parser.parse_args(argv)

    from ._models import Registry

    models = [m for m in Registry.load().models() if options.pattern.lower() in m.id.lower()
              or any(options.pattern.lower() in alias.lower() for alias in m.aliases)]
    if options.json:
        print(json.dumps([{
            "id": m.id, "provider": m.provider, "tokenizer": m.tokenizer, "context_window": m.context_window,
            "max_output_tokens": m.max_output_tokens, "input_price_per_mtok": m.input_price_per_mtok,
            "output_price_per_mtok": m.output_price_per_mtok, "aliases": list(m.aliases),
            "source": m.source, "as_of": m.as_of, "defined_in": m.origin,
        } for m in models], indent=2))
        return 0
    if not models:
        print(f"no model matches {options.pattern!r}", file=sys.stderr)
        return 1
    header = ("model", "provider", "tokenizer", "context", "max out", "$/M in", "$/M out")
    rows = [(m.id, m.provider, m.tokenizer, f"{m.context_window:,}", f"{m.max_output_tokens:,}",
             _price(m.input_price_per_mtok), _price(m.output_price_per_mtok)) for m in models]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    return 0


def _price(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


if __name__ == "__main__":
    sys.exit(main())
