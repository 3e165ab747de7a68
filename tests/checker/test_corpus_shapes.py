"""Shapes the labelled corpus (bench/corpus_labels.toml) showed the checker missing, as small
projects run through the real CLI: a wrapper whose cap is a parameter defaulting to None
(Auto-GPT's `create_chat_completion(messages, model=None, max_tokens=None)`)."""

from __future__ import annotations


LLM_UTILS = """
    from typing import Optional

    import openai


    def create_chat_completion(messages, model: Optional[str] = None, temperature: float = 0.0,
                               max_tokens: Optional[int] = None) -> str:
        for attempt in range(10):
            try:
                response = openai.ChatCompletion.create(
                    model=model, messages=messages, temperature=temperature, max_tokens=max_tokens
                )
                return response.choices[0].message["content"]
            except openai.error.RateLimitError:
                continue
        raise RuntimeError("no reply")
"""

CALLERS = """
    from app.llm_utils import create_chat_completion


    def summarize(chunk):
        messages = [{"role": "user", "content": "Summarize: " + chunk}]
        return create_chat_completion(model="gpt-4", messages=messages)  # TB101


    def reply(messages, remaining):
        return create_chat_completion(messages, "gpt-4", 0.0, remaining)


    def answer(messages, remaining):
        return create_chat_completion(model="gpt-4", messages=messages, max_tokens=remaining)


    def forward(messages, **options):
        return create_chat_completion(messages, **options)
"""


def test_a_cap_parameter_defaulting_to_none_is_the_callers_to_pass(write, cli) -> None:
    write("app/__init__.py", "")
    write("app/llm_utils.py", LLM_UTILS)
    write("app/agent.py", CALLERS)
    result = cli("check", "--output-format", "concise", "--no-cache", "--select", "TB101", ".")
    # the wrapper itself passes max_tokens on; only the caller that passes none is reported
    # (positionally or by keyword counts, and **options may hold it)
    assert result.findings() == {("app/agent.py", 6, "TB101")}, result.out
    assert "create_chat_completion() in app/llm_utils.py:10" in result.out
    assert "capped by its `max_tokens` parameter, whose default is None" in result.out


def test_the_fix_passes_the_parameter(write, project, cli) -> None:
    write("app/__init__.py", "")
    write("app/llm_utils.py", LLM_UTILS)
    write("app/agent.py", CALLERS)
    cli("check", "--fix", "--select", "TB101", ".")
    fixed = (project / "app/agent.py").read_text()
    assert 'model="gpt-4", messages=messages, max_tokens=1024' in fixed  # split to the line length
    assert fixed.count("max_tokens=1024") == 1
    assert cli("check", "--select", "TB101", ".").code == 0


LANGCHAIN_LLM = """
    from langchain.llms import OpenAI


    def generate_suggestions(diff, api_key=None):
        llm = OpenAI(temperature=0.2, max_tokens=100)
        return llm("Suggest a commit message for this diff:\\n" + diff)
"""


def test_a_langchain_model_made_and_called_in_a_function_makes_it_a_wrapper(write, cli) -> None:
    # aicommit's shape: no SDK text in either file; the character cut is in the caller
    write("autocommit/__init__.py", "")
    write("autocommit/llm.py", LANGCHAIN_LLM)
    write("autocommit/commit.py", LANGCHAIN_LLM + """

    def commit(diff):
        if len(diff) == 0:
            return []
        return generate_suggestions(diff[:7000])
    """)
    write("scan_repo.py", """
        from autocommit.llm import generate_suggestions


        def scan(commits):
            return [generate_suggestions(commit.diff[:7000]) for commit in commits]
    """)
    result = cli("check", "--output-format", "concise", "--no-cache", ".")
    assert result.findings() == {("autocommit/commit.py", 12, "TB203"), ("scan_repo.py", 5, "TB203")}, result.out
    assert "generate_suggestions() in autocommit/llm.py:6" in result.out


PIPELINE = """
    def retry(func, times):
        def wrapper(*args, **kwargs):
            for attempt in range(times):
                try:
                    return func(*args, **kwargs)
                except TimeoutError:
                    continue
        return wrapper


    def pipeline(*funcs):
        def wrapper(*args, **kwargs):
            result = funcs[0](*args, **kwargs)
            for func in funcs[1:]:
                result = func(result)
            return result
        return wrapper
"""

WRAPPED_SENDER = """
    import openai

    from .pipeline import pipeline, retry


    def commit(messages, llm_config):
        client = openai.OpenAI()
        return client.chat.completions.create(messages=messages, max_tokens=500, **llm_config)


    def content(response):
        return response.choices[0].message.content


    call_stream = retry(pipeline(commit, content), times=3)
"""


def test_a_sender_made_by_wrapping_calls_at_module_level_is_a_wrapper(write, cli) -> None:
    # devchat's shape: `chat_call_completion_stream = exception_handle(retry(pipeline(commit, ...)))`,
    # called from a tool loop in a decorator's nested function of another module
    write("app/__init__.py", "")
    write("app/pipeline.py", PIPELINE)
    write("app/llm.py", WRAPPED_SENDER)
    write("app/tools.py", """
        from .llm import call_stream


        def chat_tools(prompt):
            def decorator(func):
                def wrapper(*args, **kwargs):
                    messages = [{"role": "user", "content": prompt}]
                    while True:
                        reply = call_stream(messages, {})
                        messages.append({"role": "assistant", "content": reply})
                return wrapper
            return decorator


        def one_turn(prompt):
            messages = [{"role": "user", "content": prompt}]
            for attempt in range(3):
                reply = call_stream(list(messages), {})
            return reply
    """)
    result = cli("check", "--output-format", "concise", "--no-cache", ".")
    assert result.findings() == {("app/tools.py", 9, "TB401")}, result.out
    assert "commit() in app/llm.py:8" in result.out


PROVIDERS = {
    "app/completion.py": """
        from abc import abstractmethod


        class CompletionProvider:
            @abstractmethod
            def complete(self, messages, args):
                pass
    """,
    "app/openai_provider.py": """
        from openai import OpenAI

        from app.completion import CompletionProvider


        class OpenAIProvider(CompletionProvider):
            def __init__(self):
                self.client = OpenAI()

            def complete(self, messages, args):
                return self.client.chat.completions.create(messages=messages, max_tokens=500, **args)
    """,
    "app/assistant.py": """
        from app.completion import CompletionProvider
        from app.openai_provider import OpenAIProvider


        def get_provider(model: str) -> CompletionProvider:
            return OpenAIProvider()


        class Assistant:
            def complete_chat(self, messages):
                provider = get_provider("gpt-4o")
                return provider.complete(messages, {"model": "gpt-4o"})
    """,
}


def test_a_method_of_what_a_factory_returns_and_a_typed_parameter_kept_on_self(write, cli) -> None:
    # gpt-command-line's shape: ChatSession(assistant: Assistant) keeps `self.assistant`, whose
    # complete_chat sends through `get_completion_provider(...) -> CompletionProvider`
    write("app/__init__.py", "")
    for name, text in PROVIDERS.items():
        write(name, text)
    write("app/session.py", """
        from typing import List

        from app.assistant import Assistant


        class ChatSession:
            def __init__(self, assistant: Assistant):
                self.assistant = assistant
                self.messages: List[dict] = []

            def respond(self, text):
                self.messages = self.messages + [{"role": "user", "content": text}]
                reply = self.assistant.complete_chat(self.messages)
                self.messages = self.messages + [{"role": "assistant", "content": reply}]


        class TrimmedSession(ChatSession):
            def respond(self, text):
                self.messages = self.messages[-10:] + [{"role": "user", "content": text}]
                return self.assistant.complete_chat(self.messages)
    """)
    result = cli("check", "--output-format", "concise", "--no-cache", "--select", "TB401", ".")
    assert result.findings() == {("app/session.py", 13, "TB401")}, result.out
    assert "OpenAIProvider.complete() in app/openai_provider.py:11" in result.out


def test_a_wrapping_call_that_sets_the_cap_makes_a_capped_sender(write, cli) -> None:
    write("app/__init__.py", "")
    write("app/llm.py", """
        import functools

        from openai import OpenAI

        client = OpenAI()


        def ask(messages, **kwargs):
            return client.chat.completions.create(model="gpt-4o", messages=messages, **kwargs)


        ask_short = functools.partial(ask, max_tokens=100)
        ask_again = functools.partial(ask, temperature=0)
    """)
    write("app/chat.py", """
        from app.llm import ask_again, ask_short


        def quick(question):
            return ask_short([{"role": "user", "content": question}])


        def retry(question):
            return ask_again([{"role": "user", "content": question}])
    """)
    result = cli("check", "--output-format", "concise", "--no-cache", "--select", "TB101", ".")
    # the forwarding wrapper and the cap-less partial of it are the caller's to cap; the capped
    # partial is not
    assert ("app/chat.py", 9, "TB101") in result.findings(), result.out
    assert ("app/chat.py", 5, "TB101") not in result.findings(), result.out
