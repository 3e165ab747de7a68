"""The assistants: one on OpenAI's chat completions, one on Anthropic's messages API.

Each answer takes at most two model calls: the question, and (when the model asks
for an order lookup) one follow-up carrying the tool result.
"""

from __future__ import annotations

from typing import Any

from . import prompts
from .orders import OrderBook

MAX_ANSWER_TOKENS = 400


class OpenAISupportBot:
    def __init__(self, client: Any, orders: OrderBook, model: str = "gpt-4o-mini",
                 max_prompt_tokens: int | None = None) -> None:
        self.client = client
        self.orders = orders
        self.model = model
        # When set, the history is trimmed by tokens (fit_messages), not only by message count.
        self.max_prompt_tokens = max_prompt_tokens
        self.history: list[dict[str, Any]] = []

    def _complete(self, messages: list[dict[str, Any]]) -> Any:
        reply = self.client.chat.completions.create(
            model=self.model,
            messages=messages,
            tools=prompts.openai_tools(),
            max_tokens=MAX_ANSWER_TOKENS,
        )
        return reply.choices[0].message

    def answer(self, question: str) -> str:
        messages = prompts.openai_messages(self.history, question)
        if self.max_prompt_tokens is not None:
            messages = prompts.fit_openai_messages(messages, self.model, self.max_prompt_tokens)
        message = self._complete(messages)
        if message.tool_calls:
            results = [
                {"role": "tool", "tool_call_id": call.id,
                 "content": self.orders.lookup(prompts.tool_arguments(call.function.arguments).get("order_id", ""))}
                for call in message.tool_calls
            ]
            message = self._complete([*messages, message.model_dump(exclude_none=True), *results])
        text = message.content or ""
        self.history = [*self.history, {"role": "user", "content": question}, {"role": "assistant", "content": text}]
        return text


class ClaudeSupportBot:
    def __init__(self, client: Any, orders: OrderBook, model: str = "claude-haiku-4-5") -> None:
        self.client = client
        self.orders = orders
        self.model = model
        self.history: list[dict[str, Any]] = []

    def _complete(self, messages: list[dict[str, Any]]) -> Any:
        return self.client.messages.create(
            model=self.model,
            system=prompts.SYSTEM_PROMPT,
            messages=messages,
            tools=prompts.anthropic_tools(),
            max_tokens=MAX_ANSWER_TOKENS,
        )

    def answer(self, question: str) -> str:
        messages = prompts.anthropic_messages(self.history, question)
        reply = self._complete(messages)
        tool_uses = [block for block in reply.content if block.type == "tool_use"]
        if tool_uses:
            assistant = {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in reply.content]}
            results = {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": self.orders.lookup(use.input.get("order_id", ""))}
                for use in tool_uses
            ]}
            reply = self._complete([*messages, assistant, results])
        text = "".join(block.text for block in reply.content if block.type == "text")
        self.history = [*self.history, {"role": "user", "content": question}, {"role": "assistant", "content": text}]
        return text
