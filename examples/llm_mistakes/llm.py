"""The app's LLM wrappers: the only module that talks to the SDK."""

import openai

client = openai.OpenAI()
MODEL = "gpt-4o-mini"


def ask(messages, **kwargs):
    # Fine here: the cap is the caller's to pass through **kwargs (TB101 reports callers that don't).
    return client.chat.completions.create(model=MODEL, messages=messages, **kwargs)


def complete(prompt, max_tokens=400):
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens
    )


def describe(text):
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])  # TB101


class Assistant:
    def __init__(self, system):
        self.system = system
        self.client = openai.OpenAI()

    def aask(self, prompt):
        return self.client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "system", "content": self.system}, {"role": "user", "content": prompt}],
            max_tokens=800,
        )
