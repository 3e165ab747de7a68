"""Text the plugin prints: a test's failure report and the session summary.

Everything here works from plain data (dicts of numbers and strings) so that
reports survive the trip from pytest-xdist workers to the controller.
Nothing here ever sees request headers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["failure_text", "request_record", "summary_lines"]

# How many breakdown parts a failure report lists at each verbosity (-q, default, -v).
_PARTS_SHOWN = {-1: 0, 0: 6, 1: None}

# Limit names as a user wrote them in the marker, for the per-request table.
_PER_REQUEST_LIMITS = ("max_input_tokens", "max_output_tokens")


def request_record(request: Any, rootpath: str | None) -> dict[str, Any]:
    """A captured request as plain data: what reports and the xdist controller need."""
    count = request.count
    return {
        "index": request.index,
        "api": request.api,
        "url": request.url,
        "requested_model": request.model,
        "model": count.model.id if count is not None else request.model,
        "context_window": count.model.context_window if count is not None else None,
        "tokenizer": count.tokenizer if count is not None else None,
        "tokenizer_version": count.tokenizer_version if count is not None else None,
        "provenance": count.provenance if count is not None else None,
        "input_tokens": count.input_tokens if count is not None else None,
        "max_output_tokens": count.max_output_tokens if count is not None else None,
        "cost_usd": count.cost_usd if count is not None else None,
        "breakdown": [(part.label, part.tokens) for part in count.largest_first()] if count is not None else [],
        "call_site": _relative(request.call_site, rootpath),
        "phase": request.phase,
        "stream": request.stream,
        "refused": request.refused,
        "answered_by": request.answered_by,
        "error": request.error,
        # Set by _baseline.annotate: the entry key, and the comparison with the baseline file.
        "baseline_key": None,
        "baseline": None,
    }


def _relative(call_site: str, rootpath: str | None) -> str:
    if rootpath and call_site.startswith(rootpath + os.sep):
        return call_site[len(rootpath) + 1:]
    return call_site


def public_url(url: str) -> str:
    """``url`` without its query string, fragment and user info, where some APIs take the key."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def public_blocked(entry: str) -> str:
    """A refused non-LLM request, ``"GET https://host/path?query"``, without the query."""
    method, _, url = entry.partition(" ")
    return f"{method} {public_url(url)}" if url else public_url(method)


def headline(problems: Sequence[tuple[str, int | None]]) -> str:
    return problems[0][0].splitlines()[0] if problems else ""


def failure_text(
    problems: Sequence[tuple[str, int | None]],
    requests: Sequence[Mapping[str, Any]],
    limits: Mapping[str, Any],
    *,
    verbosity: int,
    live: bool,
    blocked: Sequence[str] = (),
) -> str:
    """The report of a test that broke its budget.

    ``problems`` are (message, 1-based request number or None) pairs: budget
    violations first, then unknown models and unreadable bodies. The first
    line is the first problem's sentence, so it reads well in the short summary.
    """
    verbosity = max(-1, min(1, verbosity))
    lines = [message for message, _ in problems[:1]]
    lines += [message for message, _ in problems[1:]]
    by_index = {record["index"]: record for record in requests}
    offending = sorted({index for _, index in problems if index is not None})
    if problems and any(index is None for _, index in problems):
        total_in = sum(r["input_tokens"] or 0 for r in requests)
        total_out = sum(r["max_output_tokens"] or 0 for r in requests)
        lines.append("")
        calls = f"{len(requests)} call{'' if len(requests) == 1 else 's'}"
        lines.append(f"over the whole test: {calls}, {total_in:,} input tokens, "
                     f"{total_out:,} requested output tokens")
        if verbosity >= 0:
            for record in requests:
                lines.append(f"  request {record['index']}: {_tokens(record['input_tokens'])} in, "
                             f"{_tokens(record['max_output_tokens'])} out cap  {record['model']}  at {record['call_site']}")
    for index in offending:
        record = by_index.get(index)
        if record is None:
            continue
        lines.append("")
        lines += _request_section(record, len(requests), limits, verbosity)
    if blocked:
        lines.append("")
        lines.append(f"also refused (not LLM requests, never sent): {', '.join(map(public_blocked, blocked[:5]))}"
                     + (f" and {len(blocked) - 5} more" if len(blocked) > 5 else ""))
    if live:
        lines.append("")
        lines.append("(live mode: requests that broke the budget were refused before sending)")
    return "\n".join(lines)


def _request_section(record: Mapping[str, Any], total: int, limits: Mapping[str, Any], verbosity: int) -> list[str]:
    stream = ", stream" if record["stream"] else ""
    refused = ", REFUSED before sending" if record["refused"] else ""
    answered = record.get("answered_by")
    answered = f", answered by {answered}" if answered and answered != "pytest-tokenbudget" and not record["refused"] else ""
    lines = [f"request {record['index']} of {total}: {record['api']}{stream}{refused}{answered} -> {public_url(record['url'])}"]
    lines.append(f"  called at:  {record['call_site']}")
    if record["input_tokens"] is None:
        # Not counted: the reason (unknown model, unreadable body) is already among the problems above.
        lines.append(f"  model:      {record['requested_model'] or '(none given)'}")
        return lines
    model = record["model"]
    if record["requested_model"] and record["requested_model"] != model:
        model = f"{model} (requested as {record['requested_model']})"
    lines.append(f"  model:      {model}, tokenizer {record['tokenizer']} ({record['provenance']})")
    if verbosity < 0:
        return lines
    lines.append("  limits:")
    rows = [("input tokens", record["input_tokens"], limits.get("max_input_tokens"))]
    rows.append(("output cap (max_tokens)", record["max_output_tokens"], limits.get("max_output_tokens")))
    if record["context_window"] is not None and record["api"] != "openai.embeddings":
        rows.append(("input + output cap", record["input_tokens"] + (record["max_output_tokens"] or 0), record["context_window"]))
    for label, actual, allowed in rows:
        if allowed is None:
            verdict, allowed_text = "", "no limit"
        else:
            over = actual is None or actual > allowed
            verdict = "  OVER" if over else "  ok"
            allowed_text = f"limit {allowed:,}"
            if label == "input + output cap":
                allowed_text = f"context window {allowed:,}"
        lines.append(f"    {label:<24} {_tokens(actual):>10}   {allowed_text}{verdict}")
    shown = _PARTS_SHOWN[verbosity]
    parts = record["breakdown"]
    if parts:
        lines.append("  breakdown (largest first):")
        for label, tokens in parts[:shown] if shown is not None else parts:
            lines.append(f"    {tokens:>10,}  {label}")
        hidden = len(parts) - len(parts[:shown] if shown is not None else parts)
        if hidden > 0:
            rest = sum(tokens for _, tokens in parts[shown:])
            lines.append(f"    {rest:>10,}  ... {hidden} smaller parts (-v shows all)")
    return lines


def _tokens(value: int | None) -> str:
    return "not set" if value is None else f"{value:,}"


def summary_lines(tests: Iterable[Mapping[str, Any]], limit: int, verbosity: int) -> list[str]:
    """Heaviest tests and heaviest requests, like ``--durations``; ``limit`` 0 means all."""
    tests = [test for test in tests if test["requests"]]
    if not tests:
        return ["no LLM requests were captured"]
    def test_weight(test: Mapping[str, Any]) -> int:
        return sum(r["input_tokens"] or 0 for r in test["requests"])

    ranked = sorted(tests, key=test_weight, reverse=True)
    shown = ranked if limit == 0 else ranked[:limit]
    lines = [f"heaviest tests (input tokens over all calls){'' if limit == 0 else f', top {len(shown)}'}:"]
    for test in shown:
        calls = len(test["requests"])
        lines.append(f"{test_weight(test):>10,} tokens  {calls:>3} call{'s' if calls != 1 else ' '}  {test['nodeid']}")
    if verbosity < 0:
        return lines
    requests = [(record, test["nodeid"]) for test in tests for record in test["requests"]]
    requests.sort(key=lambda pair: pair[0]["input_tokens"] or 0, reverse=True)
    top = requests if limit == 0 else requests[:limit]
    lines.append("")
    lines.append(f"heaviest requests{'' if limit == 0 else f', top {len(top)}'}:")
    for record, nodeid in top:
        cap = record["max_output_tokens"]
        cap_text = f"{cap:,}" if cap is not None else "no cap"
        lines.append(f"{_tokens(record['input_tokens']):>10} in {cap_text:>8} out  {record['model'] or '?':<22} "
                     f"{nodeid} [request {record['index']}]")
        if verbosity > 0:
            lines.append(f"{'':>14}at {record['call_site']}; tokenizer {record['tokenizer']} ({record['provenance']})")
            for label, tokens in record["breakdown"][:3]:
                lines.append(f"{'':>14}{tokens:>8,}  {label}")
    return lines
