"""tokenbudget check: a static checker for LLM API calls that can burn money or overflow the
context window."""
