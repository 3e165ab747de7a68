"""pytest-tokenbudget: count the tokens an LLM request will be billed for, offline, and fail
tests whose prompts outgrow their budget."""
