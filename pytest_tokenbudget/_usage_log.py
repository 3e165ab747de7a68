"""The usage log: one JSON line per guarded request through Python `logging`, with our count next to
the usage the provider reported, so drift between the two shows. Prompt text only when asked for; credentials never."""

from __future__ import annotations

import json
import logging
from typing import Any

DEFAULT_LOGGER = "pytest_tokenbudget.usage"


class UsageReader:
    """Collects a response body as it passes (whole JSON or server-sent events) and reads the
    provider's reported usage from it; keeps nothing else of the body."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        # Events end with a blank line; read the finished ones and drop them, so a long stream
        # never accumulates in memory.
        if b"\n\n" in self._buffer and self._buffer.lstrip()[:1] != b"{":
            done, _, rest = bytes(self._buffer).rpartition(b"\n\n")
            self._read_events(done)
            self._buffer = bytearray(rest)

    def finish(self) -> None:
        text = bytes(self._buffer).strip()
        self._buffer = bytearray()
        if text.startswith(b"{"):
            try:
                self._take(json.loads(text))
            except ValueError:
                pass
        elif text:
            self._read_events(text)

    def _read_events(self, data: bytes) -> None:
        for line in data.splitlines():
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload.startswith(b"{"):
                    try:
                        self._take(json.loads(payload))
                    except ValueError:
                        continue

    def _take(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        for holder in (event, event.get("message"), event.get("response")):
            usage = holder.get("usage") if isinstance(holder, dict) else None
            if isinstance(usage, dict):
                self._take_usage(usage)

    def _take_usage(self, usage: dict[str, Any]) -> None:
        prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
        if isinstance(prompt, int):
            # Anthropic reports cached input apart; all of it was in the prompt we counted.
            cached = sum(usage.get(k) or 0 for k in ("cache_creation_input_tokens", "cache_read_input_tokens")
                         if isinstance(usage.get(k) or 0, int))
            if prompt + cached or self.input_tokens is None:
                self.input_tokens = prompt + cached
        output = usage.get("completion_tokens", usage.get("output_tokens"))
        if isinstance(output, int):
            self.output_tokens = output


# The request fields that hold what the model reads; logged only when prompt logging is asked for.
# Credentials are never among them: they travel in headers and query strings, which no record sees.
PROMPT_FIELDS = ("system", "instructions", "messages", "input", "prompt", "tools")


def usage_record(admitted: Any, *, reader: UsageReader | None, status: int | None, log_prompts: bool = False,
                 refused: str | None = None, refunded_tokens: int = 0) -> dict[str, Any]:
    count = admitted.count
    reported_in = reader.input_tokens if reader else None
    reported_out = reader.output_tokens if reader else None
    cost = count.model.cost_usd(reported_in if reported_in is not None else count.input_tokens,
                                reported_out if reported_out is not None else (count.max_output_tokens or 0))
    record = {
        "event": "llm_request_refused" if refused else "llm_request",
        "model": count.model.id,
        "api": count.api,
        "url": admitted.url,
        "key": admitted.key,
        "input_tokens": count.input_tokens,
        "provenance": count.provenance,
        "output_cap": count.max_output_tokens,
        "reported_input_tokens": reported_in,
        "reported_output_tokens": reported_out,
        "input_difference": None if reported_in is None else count.input_tokens - reported_in,
        "cost_usd": None if cost is None else round(cost, 8),
        "status": status,
        "streamed": admitted.streamed,
        "window_tokens_charged": admitted.charged_tokens,
        "window_tokens_refunded": refunded_tokens,
    }
    if refused:
        record["refused"] = refused
    if log_prompts:
        record["prompt"] = {name: admitted.body[name] for name in PROMPT_FIELDS if name in admitted.body}
    return record


def emit(logger: logging.Logger | None, record: dict[str, Any]) -> None:
    if logger is not None and logger.isEnabledFor(logging.INFO):
        logger.info(json.dumps(record, sort_keys=True))
