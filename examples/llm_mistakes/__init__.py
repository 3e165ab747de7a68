"""A small app with the mistakes `tokenbudget check` finds, spread over wrappers and callers.

`llm.py` wraps the SDK the way most apps do; `chat.py` calls the wrappers and never names the
SDK. Every line with a mistake says which rule reports it. Nothing here is run by the tests.
"""
