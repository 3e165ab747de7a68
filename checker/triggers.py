"""Prefilter words of the call finder, kept apart so the CLI can use them without importing libcst."""

# Text a file must contain for the finder to possibly report a call in it, as alternatives; a
# tuple needs all of its regexes. They mirror `calls.ast_may_call_llm`: an SDK method on an API
# resource (`completions.create`, `messages.stream`, also split over lines, or stored as a bound
# method) in a file naming the provider (unresolved receivers only count for `.completions`), a
# LangChain chat model, or LiteLLM's completion functions.
_PROVIDER_WORDS = r"openai|anthropic|litellm|instructor|ChatOpenAI|ChatAnthropic|ChatLiteLLM|\.completions"
_SDK_METHOD = (
    r"(?:completions|messages|responses|ChatCompletion|Completion|with_raw_response|with_streaming_response)"
    r"\s*\.\s*(?:acreate|create|parse|stream)\b"
)
CALL_TRIGGERS: tuple[tuple[str, ...], ...] = (
    (_PROVIDER_WORDS, _SDK_METHOD),
    (r"ChatOpenAI|ChatAnthropic|ChatLiteLLM",),
    (r"litellm", r"completion"),
)

# A LangChain model class imported by name (`from langchain.llms import OpenAI`): a function
# that makes one and calls it is an LLM wrapper (checker.summaries), though no SDK text is there.
LANGCHAIN_MODEL_IMPORT = (
    r"from langchain[\w.]* import[^\n]*\b(?:OpenAI|AzureOpenAI|Anthropic|ChatOpenAI|ChatAnthropic|Ollama|"
    r"ChatOllama|ChatGoogleGenerativeAI|ChatVertexAI|ChatMistralAI|ChatGroq|ChatBedrock|Bedrock)\b"
)

# Text of the call shapes the heuristic rules' `_llm.is_llm_call` recognises (plain words, so the
# engine searches it with bytes.find): "this file sends something to a model".
SENDS_TRIGGER = (
    r"\.completions\.create|ChatCompletion|Completion\.create|\.messages\.create|\.messages\.stream|"
    r"\.responses\.create|\.responses\.stream|litellm|completion\(|\.invoke\(|\.ainvoke\(|\.complete\(|"
    r"\.acomplete\(|\.chat\(|\.achat\(|\.stream_chat\(|generate_content|\.predict\(|\.generate\(|"
    r"\.agenerate\("
)

# Triggers that only say "an LLM request is made here": a file calling the project's own wrappers
# (checker.summaries) makes one without any of this text, so for such files they count as found.
SEND_PATTERNS: frozenset[str] = frozenset({SENDS_TRIGGER, *(p for c in CALL_TRIGGERS for p in c)})
