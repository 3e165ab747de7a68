"""Every user's conversation is trimmed token-exactly to fit, every request is judged before it
is sent, and each user shares one token window across all the app's processes (Redis)."""

from __future__ import annotations

from typing import Any

import openai

from pytest_tokenbudget import Budget, PromptPlan, RedisWindow, guard

MODEL = "gpt-4o-mini"
SYSTEM_PROMPT = "You are the support assistant of an outdoor shop. Answer in two sentences at most."
# The production budget: the same Budget the tests put on the bot.
BUDGET = Budget(max_input_tokens=3000, max_output_tokens=300)


def guarded_client(client: openai.OpenAI, redis: Any, *, tokens_per_hour: int) -> openai.OpenAI:
    """`client`, refusing requests over BUDGET and charging each user's hourly window."""
    window = RedisWindow(redis, max_tokens=tokens_per_hour, seconds=3600, prefix="shop:tokens:")
    return guard(client, BUDGET, window=window, key=lambda body: body.get("user", "anonymous"))


class ChatService:
    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client
        self.plan = PromptPlan(MODEL, max_input_tokens=BUDGET.max_input_tokens, reserve_output=300,
                               system=SYSTEM_PROMPT)
        self.histories: dict[str, list[dict[str, Any]]] = {}

    def reply(self, user: str, text: str) -> str:
        history = self.histories.setdefault(user, [])
        history.append({"role": "user", "content": text})
        kept = self.plan.fit_history(history)  # the newest turns that fit, never a cut tool pair
        response = self.client.chat.completions.create(
            model=MODEL, max_tokens=300, user=user,
            messages=[{"role": "system", "content": SYSTEM_PROMPT}, *kept])
        answer = response.choices[0].message.content or ""
        history.append({"role": "assistant", "content": answer})
        return answer
