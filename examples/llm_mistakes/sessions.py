"""Conversations kept per user, agents' scratchpads and hand-made token totals: the shapes real
bots and agents grow their prompts in."""

from collections import defaultdict

import openai

client = openai.OpenAI()
MAX_CONTEXT_TOKENS = 8000

histories = defaultdict(list)
trimmed_histories = defaultdict(list)


def chat(user_id, text):
    histories[user_id].append({"role": "user", "content": text})
    return client.chat.completions.create(  # TB401: each user's history grows and is sent whole
        model="gpt-4o-mini", messages=histories[user_id], max_tokens=400
    )


def trimmed_chat(user_id, text):
    history = trimmed_histories[user_id]
    history.append({"role": "user", "content": text})
    del history[:-20]  # fine: each user keeps their last 20 messages
    return client.chat.completions.create(model="gpt-4o-mini", messages=history, max_tokens=400)


def solve(task):
    steps = []
    while True:
        prompt = "Task: {task}\nSteps so far:\n{steps}".format(task=task, steps="\n".join(steps))
        reply = client.chat.completions.create(  # TB401: every step joins the scratchpad, sent whole
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], max_tokens=200
        )
        step = reply.choices[0].message.content
        if step.startswith("DONE"):
            return step
        steps.append(step)


def fits(messages):
    total = 0
    for message in messages:
        total += len(message["role"]) + len(message["content"])
    return total < MAX_CONTEXT_TOKENS  # TB202: characters summed, compared with a token limit
