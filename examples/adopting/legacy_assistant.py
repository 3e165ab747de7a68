"""A module written before the team adopted `tokenbudget check`: the state right after
`tokenbudget check --add-noqa` (every old finding suppressed on its line, nothing else changed).

examples/tests/test_adopting.py replays the adoption on a copy of it in a git repository.
"""

import anthropic
from openai import OpenAI

openai_client = OpenAI(api_key="placeholder-key")
claude = anthropic.Anthropic(api_key="placeholder-key")

SYSTEM = "You answer questions about orders."


def answer(question: str) -> str:
    response = openai_client.chat.completions.create(  # noqa: TB101
        model="gpt-4o",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        temperature=0.2,  # answers must not vary between retries
    )
    return response.choices[0].message.content or ""


def summarize(text: str) -> str:
    reply = claude.messages.create(model="claude-3-5-haiku-20241022", messages=[{"role": "user", "content": text}])  # noqa: TB101
    return reply.content[0].text


def fits_in_prompt(text: str, max_prompt_tokens: int = 4000) -> bool:
    estimated_tokens = len(text) / 4  # noqa: TB201
    return estimated_tokens < max_prompt_tokens
