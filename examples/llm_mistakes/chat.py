"""Callers of the wrappers in llm.py: no SDK call in sight, and every mistake still counts."""

import openai
import tenacity

from .llm import Assistant, ask, complete

history = []
support_history = []


def turn(user_text):
    history.append({"role": "user", "content": user_text})
    reply = ask(history, max_tokens=500)  # TB401: the history grows every turn and is sent whole
    history.append({"role": "assistant", "content": reply.choices[0].message.content})
    return reply


def trimmed_turn(user_text):
    support_history.append({"role": "user", "content": user_text})
    del support_history[:-20]  # fine: only the last 20 messages are kept
    return ask(support_history, max_tokens=500)


def quick(question):
    return ask([{"role": "user", "content": question}])  # TB101: ask() forwards **kwargs, no cap passed


def capped_quick(question):
    return ask([{"role": "user", "content": question}], max_tokens=300)  # fine: the cap goes through


@tenacity.retry(stop=tenacity.stop_after_attempt(5))  # TB301: retries the 400 of an oversized prompt
def summarize(doc):
    return complete("Summarize:\n" + doc)


@tenacity.retry(retry=tenacity.retry_if_exception_type(openai.RateLimitError), stop=tenacity.stop_after_attempt(5))
def summarize_politely(doc):  # fine: only rate limits are retried
    return complete("Summarize:\n" + doc)


def review(code):
    for attempt in range(5):
        try:
            return Assistant("You review code.").aask("Review this:\n" + code)
        except Exception:  # TB301: catches the 400 too and sends the same prompt again
            continue


def headline(article):
    excerpt = article[:4000]  # TB203: 4000 characters are 1000-4000 tokens, depending on the text
    return complete("Write a headline for:\n" + excerpt)
