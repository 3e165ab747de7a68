"""Counting a whole request body as the provider bills it: the text of every part counted with the
model's tokenizer, plus the framing the provider adds around messages and tool definitions, plus
images by the provider's rule. Each component is kept, so a report can say where the tokens went."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import _images
from ._errors import RequestBodyError
from ._models import ModelInfo, Registry
from ._tokenizers import TextCounter, counter_for

APIS = ("openai.chat", "openai.responses", "openai.completions", "openai.embeddings", "anthropic.messages")
# The body field that caps output tokens, by API, in the order we look for it.
OUTPUT_CAP_FIELDS = {
    "openai.chat": ("max_completion_tokens", "max_tokens"),
    "openai.responses": ("max_output_tokens",),
    "openai.completions": ("max_tokens",),
    "openai.embeddings": (),
    "anthropic.messages": ("max_tokens",),
}
# What OpenAI's legacy completions produce when a request sets no cap.
LEGACY_COMPLETIONS_DEFAULT_CAP = 16
# Anthropic's PDF support page: "each page typically uses 1,500-3,000 tokens" of text; requests
# carry at most 100 pages.
PDF_TEXT_TOKENS_PER_PAGE = 3000
PDF_MAX_PAGES = 100


@dataclass(frozen=True)
class Part:
    """One component of a request and what it costs."""

    label: str
    tokens: int


@dataclass(frozen=True)
class RequestCount:
    """The input tokens a request will be billed for, how sure we are, and where they go."""

    input_tokens: int
    model: ModelInfo
    api: str
    tokenizer: str
    tokenizer_version: str
    provenance: str  # "exact", "recorded", "ctok" or "estimate"
    breakdown: tuple[Part, ...]
    max_output_tokens: int | None  # the output cap the request itself asked for

    @property
    def estimated(self) -> bool:
        return self.provenance == "estimate"

    @property
    def produces_output(self) -> bool:
        return self.api != "openai.embeddings"

    def largest_first(self) -> list[Part]:
        return sorted(self.breakdown, key=lambda part: -part.tokens)

    @property
    def cost_usd(self) -> float | None:
        return self.model.cost_usd(self.input_tokens, self.max_output_tokens or 0)

    def describe(self) -> str:
        """`gpt-4o, o200k_base, exact`: the words a failure message puts after a number."""
        return f"{self.model.id}, {self.tokenizer}, {self.provenance}"


def count_request(
    body: Mapping[str, Any],
    *,
    api: str | None = None,
    model: str | None = None,
    registry: Registry | None = None,
) -> RequestCount:
    """Count a request body as sent to `api` (inferred from the body when None)."""
    if not isinstance(body, Mapping):
        raise RequestBodyError("", f"a request body must be a JSON object, not {type(body).__name__}")
    registry = registry or Registry.load()
    model_name = model if model is not None else body.get("model")
    if not isinstance(model_name, str) or not model_name:
        raise RequestBodyError("model", "the request names no model: pass model=... to say which one it is for")
    info = registry.get(model_name)
    api = api or infer_api(body, info)
    if api not in APIS:
        raise ValueError(f"unknown api {api!r}; expected one of {', '.join(APIS)}")
    counter = counter_for(info.tokenizer)
    tally = _Tally(counter, info, registry)
    _WALKERS[api](body, tally)
    provenance = tally.provenance
    total = tally.total()
    if info.provider == "anthropic" and api == "anthropic.messages":
        from ._recorded import lookup

        recorded = lookup(body, info.id)
        if recorded is not None:
            total, provenance = recorded, "recorded"
    return RequestCount(
        input_tokens=total,
        model=info,
        api=api,
        tokenizer=counter.name,
        tokenizer_version=counter.version,
        provenance=provenance,
        breakdown=tuple(tally.parts()),
        max_output_tokens=_output_cap(body, api),
    )


def infer_api(body: Mapping[str, Any], model: ModelInfo) -> str:
    if "messages" in body:
        return "anthropic.messages" if model.provider == "anthropic" else "openai.chat"
    if "prompt" in body:
        return "openai.completions"
    if "input" in body:
        return "openai.embeddings" if model.max_output_tokens == 0 else "openai.responses"
    raise RequestBodyError("", "cannot tell the API from the body (no `messages`, `input` or `prompt`): pass api=...")


def _output_cap(body: Mapping[str, Any], api: str) -> int | None:
    for field in OUTPUT_CAP_FIELDS[api]:
        value = body.get(field)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise RequestBodyError(field, f"must be a whole number, not {value!r}")
            return value
    if api == "openai.completions":
        return LEGACY_COMPLETIONS_DEFAULT_CAP
    return None


class _Tally:
    """Accumulates parts while a walker reads a body; knows the model's framing rules."""

    def __init__(self, counter: TextCounter, model: ModelInfo, registry: Registry) -> None:
        self.counter = counter
        self.model = model
        self.registry = registry
        self.provenance = counter.provenance
        self._parts: list[Part] = []
        self.overhead = 0
        self.framing = registry.chat_overheads.get(model.chat_overhead or "", {})

    def text(self, text: Any, path: str) -> int:
        if not isinstance(text, str):
            raise RequestBodyError(path, f"expected text, got {type(text).__name__}")
        return self.counter.count(text)

    def add(self, label: str, tokens: int) -> None:
        self._parts.append(Part(label, tokens))

    def approximate(self) -> None:
        """A part was counted by a rule nobody published: the whole count becomes an estimate."""
        self.provenance = "estimate"

    def image(self, label: str, width: int | None, height: int | None, detail: str, path: str) -> None:
        rule_name = self.model.image_rule
        if not rule_name:
            raise RequestBodyError(path, f"{self.model.id} does not accept images")
        rule = self.registry.image_rules.get(rule_name)
        if rule is None:
            raise RequestBodyError(path, f"the registry has no image rule {rule_name!r} for {self.model.id}")
        if width is None or height is None:
            self.approximate()
            label += " (size unknown: worst case)"
        else:
            label += f" {width}x{height}"
        self.add(label, _images.tokens_for(rule, width, height, detail))

    def parts(self) -> list[Part]:
        return [*self._parts, Part("overhead", self.overhead)] if self.overhead else list(self._parts)

    def total(self) -> int:
        return sum(part.tokens for part in self._parts) + self.overhead


# --- OpenAI ----------------------------------------------------------------------------------


def _openai_chat(body: Mapping[str, Any], tally: _Tally) -> None:
    _require_framing(tally)
    messages = _sequence(body.get("messages"), "messages")
    for index, message in enumerate(messages):
        _openai_message(message, f"messages[{index}]", tally)
    _openai_tools(body, tally)
    tally.overhead += tally.framing.get("reply_priming", 3)


def _openai_message(message: Any, path: str, tally: _Tally) -> None:
    if not isinstance(message, Mapping):
        raise RequestBodyError(path, f"a message must be an object, not {type(message).__name__}")
    role = message.get("role")
    if not isinstance(role, str):
        raise RequestBodyError(f"{path}.role", "missing or not a string")
    framing = tally.framing
    tally.overhead += framing.get("tokens_per_message", 3)
    tokens = tally.text(role, f"{path}.role")
    for key, value in message.items():
        if key == "role" or value is None:
            continue
        if key == "content":
            tokens += _openai_content(value, f"{path}.content", tally)
        elif key == "name":
            tokens += tally.text(value, f"{path}.name")
            tally.overhead += framing.get("tokens_per_name", 1)
        elif key == "tool_calls":
            tokens += _openai_tool_calls(value, f"{path}.tool_calls", tally)
        elif key == "function_call" and isinstance(value, Mapping):
            tokens += tally.text(value.get("name", ""), f"{path}.function_call.name")
            tokens += tally.text(value.get("arguments", ""), f"{path}.function_call.arguments")
            tally.approximate()
        elif key in ("refusal", "reasoning_content") and isinstance(value, str):
            tokens += tally.text(value, f"{path}.{key}")
        # tool_call_id, audio ids and other bookkeeping fields are not part of the prompt text.
    tally.add(f"{path} {role}", tokens)


def _openai_content(content: Any, path: str, tally: _Tally) -> int:
    if isinstance(content, str):
        return tally.text(content, path)
    tokens = 0
    for index, part in enumerate(_sequence(content, path)):
        part_path = f"{path}[{index}]"
        kind = _part_type(part, part_path)
        if kind in ("text", "input_text", "output_text"):
            tokens += tally.text(part.get("text"), f"{part_path}.text")
        elif kind == "refusal":
            tokens += tally.text(part.get("refusal"), f"{part_path}.refusal")
        elif kind == "image_url":
            image = part.get("image_url")
            if isinstance(image, str):
                image = {"url": image}
            if not isinstance(image, Mapping) or not isinstance(image.get("url"), str):
                raise RequestBodyError(f"{part_path}.image_url.url", "missing image URL")
            _openai_image(image["url"], image.get("detail") or "auto", part_path, tally)
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise RequestBodyError(f"{part_path}.image_url", "missing image URL (file_id images cannot be sized offline)")
            _openai_image(url, part.get("detail") or "auto", part_path, tally)
        elif kind in ("file", "input_file", "input_audio"):
            raise RequestBodyError(f"{part_path}.type", f"cannot count {kind!r} parts offline yet")
        else:
            raise RequestBodyError(f"{part_path}.type", f"unknown part {kind!r}")
    return tokens


def _openai_image(url: str, detail: str, path: str, tally: _Tally) -> None:
    size = _images.size_from_data_url(url, path)
    width, height = size if size else (None, None)
    tally.image(f"{path} image", width, height, "low" if detail == "low" else "high", path)


def _openai_tool_calls(calls: Any, path: str, tally: _Tally) -> int:
    # The cookbook publishes no rule for tool calls in history: count name and arguments, and say
    # the total is an estimate.
    tokens = 0
    for index, call in enumerate(_sequence(calls, path)):
        call_path = f"{path}[{index}]"
        if not isinstance(call, Mapping):
            raise RequestBodyError(call_path, "a tool call must be an object")
        function = call.get("function")
        if not isinstance(function, Mapping):
            raise RequestBodyError(f"{call_path}.function", "missing function name and arguments")
        tokens += tally.text(function.get("name"), f"{call_path}.function.name")
        tokens += tally.text(function.get("arguments", ""), f"{call_path}.function.arguments")
    tally.approximate()
    return tokens


def _openai_tools(body: Mapping[str, Any], tally: _Tally) -> None:
    functions = []
    if body.get("tools") is not None:
        for index, tool in enumerate(_sequence(body["tools"], "tools")):
            path = f"tools[{index}]"
            if not isinstance(tool, Mapping):
                raise RequestBodyError(path, "a tool must be an object")
            if tool.get("type", "function") != "function":
                tally.approximate()  # built-in tools (web search, ...) have unpublished prompts
                tally.add(f"{path} {tool.get('type')}", tally.text(json.dumps(tool, sort_keys=True), path))
                continue
            function = tool.get("function", tool)  # the Responses API writes functions flat
            functions.append((function, f"{path}.function" if "function" in tool else path))
    if body.get("functions") is not None:
        functions += [(f, f"functions[{i}]") for i, f in enumerate(_sequence(body["functions"], "functions"))]
    if not functions:
        return
    framing = tally.framing
    tokens = 0
    for function, path in functions:
        tokens += _function_definition(function, path, tally, framing)
    tally.overhead += framing.get("func_end", 12)
    tally.add("tools", tokens)


def _function_definition(function: Any, path: str, tally: _Tally, framing: Mapping[str, Any]) -> int:
    if not isinstance(function, Mapping):
        raise RequestBodyError(path, "a function definition must be an object")
    name = function.get("name")
    if not isinstance(name, str):
        raise RequestBodyError(f"{path}.name", "missing or not a string")
    description = function.get("description") or ""
    tokens = framing.get("func_init", 7)
    tokens += tally.text(f"{name}:{description.removesuffix('.')}", f"{path}.description")
    parameters = function.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise RequestBodyError(f"{path}.parameters", "must be a JSON schema object")
    return tokens + _properties(parameters.get("properties") or {}, f"{path}.parameters.properties", tally, framing)


def _properties(properties: Any, path: str, tally: _Tally, framing: Mapping[str, Any]) -> int:
    if not isinstance(properties, Mapping):
        raise RequestBodyError(path, "must be an object of property schemas")
    if not properties:
        return 0
    tokens = framing.get("prop_init", 3)
    for key, schema in properties.items():
        prop_path = f"{path}.{key}"
        if not isinstance(schema, Mapping):
            raise RequestBodyError(prop_path, "a property schema must be an object")
        tokens += framing.get("prop_key", 3)
        kind = schema.get("type", "")
        if isinstance(kind, list):
            kind = "|".join(map(str, kind))
        if "enum" in schema:
            tokens += framing.get("enum_init", -3)
            for item in _sequence(schema["enum"], f"{prop_path}.enum"):
                tokens += framing.get("enum_item", 3) + tally.text(str(item), f"{prop_path}.enum")
        description = schema.get("description") or ""
        tokens += tally.text(f"{key}:{kind}:{str(description).removesuffix('.')}", prop_path)
        # The cookbook's rule covers flat properties; nested objects and arrays of objects follow
        # the same shape one level down, which no published count confirms.
        nested = schema.get("properties")
        if nested is None and isinstance(schema.get("items"), Mapping):
            nested = schema["items"].get("properties")
        if nested:
            tally.approximate()
            tokens += _properties(nested, f"{prop_path}.properties", tally, framing)
    return tokens


def _require_framing(tally: _Tally) -> None:
    if not tally.framing:
        # A model without a published chat framing (an open-weight model's own chat template):
        # OpenAI's framing stands in for it, and the count says it is an estimate.
        tally.approximate()


def _openai_responses(body: Mapping[str, Any], tally: _Tally) -> None:
    _require_framing(tally)
    instructions = body.get("instructions")
    if instructions is not None:
        tally.overhead += tally.framing.get("tokens_per_message", 3)
        tally.add("instructions", tally.text(instructions, "instructions"))
    items = body.get("input")
    if isinstance(items, str):
        tally.overhead += tally.framing.get("tokens_per_message", 3)
        tally.add("input user", tally.text("user", "input") + tally.text(items, "input"))
    else:
        for index, item in enumerate(_sequence(items, "input")):
            _responses_item(item, f"input[{index}]", tally)
    _openai_tools(body, tally)
    tally.overhead += tally.framing.get("reply_priming", 3)


def _responses_item(item: Any, path: str, tally: _Tally) -> None:
    if not isinstance(item, Mapping):
        raise RequestBodyError(path, "an input item must be an object")
    kind = item.get("type", "message")
    if kind == "message":
        _openai_message(item, path, tally)
    elif kind == "function_call":
        tally.overhead += tally.framing.get("tokens_per_message", 3)
        tokens = tally.text(item.get("name"), f"{path}.name") + tally.text(item.get("arguments", ""), f"{path}.arguments")
        tally.add(f"{path} function_call", tokens)
        tally.approximate()
    elif kind == "function_call_output":
        tally.overhead += tally.framing.get("tokens_per_message", 3)
        output = item.get("output")
        tokens = tally.text(output, f"{path}.output") if isinstance(output, str) else _openai_content(output, f"{path}.output", tally)
        tally.add(f"{path} function_call_output", tokens)
    elif kind == "reasoning":
        pass  # reasoning items carry encrypted state the caller cannot read; billed by the provider's rule
    else:
        raise RequestBodyError(f"{path}.type", f"unknown input item {kind!r}")


def _openai_completions(body: Mapping[str, Any], tally: _Tally) -> None:
    _plain_inputs(body, "prompt", tally)
    if body.get("suffix"):
        tally.add("suffix", tally.text(body["suffix"], "suffix"))


def _openai_embeddings(body: Mapping[str, Any], tally: _Tally) -> None:
    _plain_inputs(body, "input", tally)


def _plain_inputs(body: Mapping[str, Any], field: str, tally: _Tally) -> None:
    """A text, a list of texts, a list of token ids or a list of those: no framing at all."""
    value = body.get(field)
    items = value if isinstance(value, list) and value and not isinstance(value[0], int) else [value]
    for index, item in enumerate(items):
        path = field if len(items) == 1 else f"{field}[{index}]"
        if isinstance(item, list) and all(isinstance(token, int) for token in item):
            tally.add(path, len(item))  # already tokenized by the caller
        else:
            tally.add(path, tally.text(item, path))


# --- Anthropic -------------------------------------------------------------------------------


def _anthropic_messages(body: Mapping[str, Any], tally: _Tally) -> None:
    counter: Any = tally.counter
    if not hasattr(counter, "message_overhead"):
        # A Claude request body sent to a model we count with another tokenizer (an
        # OpenAI-compatible proxy): walk it, with no Claude framing to add.
        tally.approximate()
    tally.overhead += getattr(counter, "request_overhead", 0)
    system = body.get("system")
    if system is not None:
        tally.overhead += getattr(counter, "message_overhead", 0)
        if isinstance(system, str):
            tokens = tally.text(system, "system")
        else:
            tokens = _anthropic_blocks(system, "system", tally)
        tally.add("system", tokens)
    for index, message in enumerate(_sequence(body.get("messages"), "messages")):
        path = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise RequestBodyError(path, f"a message must be an object, not {type(message).__name__}")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise RequestBodyError(f"{path}.role", f"must be 'user' or 'assistant', not {role!r}")
        tally.overhead += getattr(counter, "message_overhead", 0)
        content = message.get("content")
        tokens = tally.text(content, f"{path}.content") if isinstance(content, str) else _anthropic_blocks(content, f"{path}.content", tally)
        tally.add(f"{path} {role}", tokens)
    tools = body.get("tools")
    if tools:
        tokens = 0
        for index, tool in enumerate(_sequence(tools, "tools")):
            path = f"tools[{index}]"
            if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
                raise RequestBodyError(f"{path}.name", "a tool needs a name")
            count_tool = getattr(counter, "count_tool", None)
            tokens += count_tool(dict(tool)) if count_tool else tally.text(json.dumps(tool, sort_keys=True), path)
        tally.add("tools", tokens)
        tally.add("tool-use system prompt", _tool_use_prompt_tokens(tally, body.get("tool_choice")))


def _tool_use_prompt_tokens(tally: _Tally, tool_choice: Any) -> int:
    """The hidden system prompt Anthropic adds to requests with tools. A model without a published
    figure is charged the largest one any model has."""
    kind = tool_choice.get("type", "auto") if isinstance(tool_choice, Mapping) else (tool_choice or "auto")
    key = "any" if kind in ("any", "tool") else "auto"
    figures = tally.model.tool_use_system_prompt_tokens
    if figures and key in figures:
        return int(figures[key])
    tally.approximate()
    published = [int(value) for model in tally.registry.models() for value in (model.tool_use_system_prompt_tokens or {}).values()]
    return max(published, default=0)


def _anthropic_blocks(blocks: Any, path: str, tally: _Tally) -> int:
    tokens = 0
    for index, block in enumerate(_sequence(blocks, path)):
        block_path = f"{path}[{index}]"
        kind = _part_type(block, block_path)
        if kind == "text":
            tokens += tally.text(block.get("text"), f"{block_path}.text")
        elif kind == "image":
            _anthropic_image(block, block_path, tally)
        elif kind == "document":
            tokens += _anthropic_document(block, block_path, tally)
        elif kind in ("tool_use", "server_tool_use"):
            tokens += tally.text(block.get("name"), f"{block_path}.name")
            tokens += tally.text(json.dumps(block.get("input", {}), ensure_ascii=False), f"{block_path}.input")
        elif kind == "tool_result":
            content = block.get("content", "")
            tokens += tally.text(content, f"{block_path}.content") if isinstance(content, str) else _anthropic_blocks(content, f"{block_path}.content", tally)
        elif kind == "thinking":
            tokens += tally.text(block.get("thinking", ""), f"{block_path}.thinking")
        elif kind == "redacted_thinking":
            tally.approximate()
        else:
            raise RequestBodyError(f"{block_path}.type", f"unknown part {kind!r}")
    return tokens


def _anthropic_image(block: Mapping[str, Any], path: str, tally: _Tally) -> None:
    source = block.get("source")
    if not isinstance(source, Mapping):
        raise RequestBodyError(f"{path}.source", "missing image source")
    if source.get("type") == "base64":
        width, height = _images.size_from_base64(source.get("data") or "", f"{path}.source.data")
    elif source.get("type") in ("url", "file"):
        width = height = None
    else:
        raise RequestBodyError(f"{path}.source.type", f"unknown image source {source.get('type')!r}")
    tally.image(f"{path} image", width, height, "high", path)


def _anthropic_document(block: Mapping[str, Any], path: str, tally: _Tally) -> int:
    source = block.get("source")
    if not isinstance(source, Mapping):
        raise RequestBodyError(f"{path}.source", "missing document source")
    if source.get("type") == "text":
        return tally.text(source.get("data"), f"{path}.source.data")
    if source.get("type") == "content":
        return _anthropic_blocks(source.get("content"), f"{path}.source.content", tally)
    # PDFs are billed per page for the text plus an image of each page; without rendering the PDF
    # we only know how many pages it has, so each costs the most text Anthropic quotes per page
    # and a worst-case image. A PDF we cannot open counts as the 100-page maximum.
    tally.approximate()
    pages = (_pdf_pages(source.get("data")) if source.get("type") == "base64" else None) or PDF_MAX_PAGES
    rule = tally.registry.image_rules.get(tally.model.image_rule or "")
    page_image = _images.tokens_for(rule, None, None) if rule else 0
    return pages * (PDF_TEXT_TOKENS_PER_PAGE + page_image)


def _pdf_pages(data: Any) -> int | None:
    if not isinstance(data, str):
        return None
    try:
        raw = base64.b64decode(data)
    except (binascii.Error, ValueError):
        return None
    return len(re.findall(rb"/Type\s*/Page(?!s)", raw)) or None


# --- shared ----------------------------------------------------------------------------------


def _sequence(value: Any, path: str) -> Sequence[Any]:
    if not isinstance(value, (list, tuple)):
        raise RequestBodyError(path, f"expected a list, got {type(value).__name__}")
    return value


def _part_type(part: Any, path: str) -> str:
    if not isinstance(part, Mapping):
        raise RequestBodyError(path, f"a content part must be an object, not {type(part).__name__}")
    kind = part.get("type")
    if not isinstance(kind, str):
        raise RequestBodyError(f"{path}.type", "missing part type")
    return kind


_WALKERS = {
    "openai.chat": _openai_chat,
    "openai.responses": _openai_responses,
    "openai.completions": _openai_completions,
    "openai.embeddings": _openai_embeddings,
    "anthropic.messages": _anthropic_messages,
}


def count_messages(
    messages: Iterable[Mapping[str, Any]],
    model: str,
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    system: Any = None,
    registry: Registry | None = None,
) -> RequestCount:
    """Count a conversation in either provider's message shape, for `model`."""
    body: dict[str, Any] = {"model": model, "messages": list(messages)}
    if tools is not None:
        body["tools"] = list(tools)
    if system is not None:
        info = (registry or Registry.load()).get(model)
        if info.provider == "anthropic":
            body["system"] = system
        else:
            body["messages"] = [{"role": "system", "content": system}, *body["messages"]]
    return count_request(body, registry=registry)


def count_tokens(text: str, model: str, *, registry: Registry | None = None) -> int:
    """Tokens of `text` alone, with `model`'s tokenizer: no message framing."""
    if not isinstance(text, str):
        raise TypeError(f"count_tokens() takes text (str), not {type(text).__name__}")
    info = (registry or Registry.load()).get(model)
    return counter_for(info.tokenizer).count(text)
