"""Prefilter words of the call finder, kept apart so the CLI can use them without importing libcst."""

# Text that must occur in a file for it to possibly contain an LLM call the finder understands.
# Unresolved receivers only match ``.chat.completions`` (the other shapes need the provider
# imported, which one of the words then matches). LangChain's community chat models can be
# imported without the provider's name in lowercase.
CALL_TRIGGERS: tuple[str, ...] = (
    r"openai|anthropic|litellm|instructor|ChatOpenAI|ChatAnthropic|ChatLiteLLM|\.completions",
)
