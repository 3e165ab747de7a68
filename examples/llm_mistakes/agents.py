"""Agents built on the wrappers' classes: the request is a base class or an attribute away."""

import openai
import tenacity

from .llm import Assistant


class Reviewer(Assistant):
    @tenacity.retry(stop=tenacity.stop_after_attempt(3))  # TB301: aask() is inherited from Assistant and sends
    def review(self, code):
        return self.aask("Review this:\n" + code)

    @tenacity.retry(retry=tenacity.retry_if_exception_type(openai.APIConnectionError))
    def review_politely(self, code):  # fine: only connection errors are retried
        return self.aask("Review this:\n" + code)


class Pipeline:
    writer: Assistant  # set by whatever builds the pipeline

    def draft(self, topic):
        while True:
            try:
                return self.writer.aask("Draft a post about " + topic)
            except Exception:  # TB301: the writer is an Assistant: a 400 is re-sent forever
                continue
