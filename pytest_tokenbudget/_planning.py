"""The prompt planner: the context window split into the answer's reserve, the fixed parts
(system prompt, few-shot examples, tools) counted once, and what is left for history and
retrieved chunks, handed out token-exactly."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ._fitting import FitError, fit_limit, fit_messages
from ._models import Registry
from ._requests import count_messages
from ._tokenizers import counter_for


class PromptPlan:
    """Plan the requests of one call site. The fixed parts are counted here, once; `fit_history`
    and `fit_chunks` then share out what they leave."""

    def __init__(self, model: str, *, reserve_output: int = 0, max_input_tokens: int | None = None,
                 system: Any = None, examples: Sequence[Mapping[str, Any]] = (),
                 tools: Sequence[Mapping[str, Any]] | None = None, registry: Registry | None = None) -> None:
        self.registry = registry or Registry.load()
        self.model = self.registry.get(model)
        self.model_name = model
        self.system = system
        self.examples = list(examples)
        self.tools = tools
        self.limit = fit_limit(self.model.context_window, max_input_tokens, reserve_output)
        self.fixed_tokens = count_messages(self.examples, model, system=system, tools=tools,
                                           registry=self.registry).input_tokens
        if self.fixed_tokens > self.limit:
            raise FitError(self.fixed_tokens, self.limit, self.model.id, "the system prompt, examples and tools")
        self._counter = counter_for(self.model.tokenizer)

    @property
    def available(self) -> int:
        """Tokens left for history and chunks once the fixed parts are in."""
        return self.limit - self.fixed_tokens

    def fit_history(self, messages: Sequence[Mapping[str, Any]], *, leave: int = 0) -> list[Mapping[str, Any]]:
        """The newest turns of `messages` that fit after the examples, leaving `leave` tokens spare
        (for chunks); the examples are not part of the result."""
        kept = fit_messages([*self.examples, *messages], self.model_name, max_input_tokens=max(1, self.limit - leave),
                            system=self.system, tools=self.tools, registry=self.registry)
        history = kept[len(self.examples):] if kept[:len(self.examples)] == self.examples else kept
        return list(history)

    def fit_chunks(self, chunks: Sequence[str], *, max_tokens: int | None = None, separator: str = "\n\n") -> list[str]:
        """The top chunks (best first, as given) that fit in `max_tokens`, `available` by default,
        joined by `separator`; stops at the first that does not fit, so no lower-ranked chunk
        takes the place of a better one."""
        room = self.available if max_tokens is None else max_tokens
        separator_tokens = self._counter.count(separator) if separator else 0
        kept: list[str] = []
        used = 0
        for chunk in chunks:
            cost = self._counter.count(chunk) + (separator_tokens if kept else 0)
            if used + cost > room:
                break
            kept.append(chunk)
            used += cost
        # Token counts of joined texts can differ from the sum by a merge at a boundary.
        while kept and self._counter.count(separator.join(kept)) > room:
            kept.pop()
        return kept
