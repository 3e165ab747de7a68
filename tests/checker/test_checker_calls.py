"""The call-site finder on code written the way real projects write it."""

from __future__ import annotations

import ast
import textwrap

import pytest

from checker.calls import CallFinder, ast_may_call_llm, find_llm_calls


def calls(source: str):
    return find_llm_calls(ast.parse(textwrap.dedent(source)))


def one(source: str):
    found = calls(source)
    assert len(found) == 1, found
    return found[0]


def test_module_alias_and_class_alias() -> None:
    call = one(
        """
        import openai as oa
        from openai import OpenAI as C
        c = C()
        c.chat.completions.create(model="gpt-4o", messages=[])
        oa_client = oa.AzureOpenAI()
        """
    )
    assert call.api == "openai.chat"
    assert call.qualified_name == "openai.OpenAI().chat.completions.create"
    assert call.model_literal == "gpt-4o"
    assert call.resolved


def test_self_client_set_in_init_and_used_in_another_method() -> None:
    call = one(
        """
        from anthropic import AsyncAnthropic
        class Bot:
            def __init__(self):
                self.llm = AsyncAnthropic()
            async def ask(self, text):
                return await self.llm.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=[])
        """
    )
    assert call.api == "anthropic.messages"
    assert call.cap is not None and call.cap[0] == "max_tokens"


def test_bound_method_stored_and_called_later() -> None:
    call = one(
        """
        from openai import OpenAI
        create = OpenAI().chat.completions.create
        def f():
            return create(model="gpt-4o", messages=[])
        """
    )
    assert call.method == "create" and call.api == "openai.chat"


def test_import_inside_function() -> None:
    call = one(
        """
        def f(prompt):
            from litellm import completion as c
            return c("gpt-4o-mini", [{"role": "user", "content": prompt}])
        """
    )
    assert call.api == "litellm.completion"
    assert call.model_literal == "gpt-4o-mini"


@pytest.mark.parametrize(
    "wrapper",
    ["instructor.patch(OpenAI())", "instructor.from_openai(OpenAI())", "wrap_openai(OpenAI())"],
)
def test_wrapped_clients(wrapper: str) -> None:
    call = one(
        f"""
        import instructor
        from openai import OpenAI
        from langsmith.wrappers import wrap_openai
        client = {wrapper}
        client.chat.completions.create(model="gpt-4o", messages=[], response_model=int)
        """
    )
    assert call.api == "openai.chat"


def test_dict_kwargs_with_key_added_later_and_update() -> None:
    call = one(
        """
        from openai import OpenAI
        def f():
            params = {"model": "gpt-4o"}
            params["max_tokens"] = 50
            params.update(temperature=0)
            return OpenAI().chat.completions.create(messages=[], **params)
        """
    )
    assert set(call.keywords) >= {"model", "max_tokens", "temperature", "messages"}
    assert not call.has_unknown_star_kwargs
    assert call.model_literal == "gpt-4o"


def test_unknown_kwargs_are_flagged_as_unknown() -> None:
    call = one(
        """
        from openai import OpenAI
        def f(**kwargs):
            return OpenAI().chat.completions.create(model="gpt-4o", **kwargs)
        """
    )
    assert call.has_unknown_star_kwargs


def test_apis_and_variants() -> None:
    found = calls(
        """
        import openai, anthropic, litellm
        from openai import OpenAI
        o = OpenAI()
        o.beta.chat.completions.parse(model="m", messages=[])
        o.chat.completions.stream(model="m", messages=[])
        o.responses.create(model="m", input="x")
        o.completions.create(model="m", prompt="x")
        o.with_options(timeout=5).chat.completions.create(model="m", messages=[])
        o.chat.completions.with_raw_response.create(model="m", messages=[])
        openai.ChatCompletion.acreate(model="m", messages=[])
        openai.Completion.create(model="m", prompt="x")
        anthropic.Anthropic().messages.stream(model="m", max_tokens=1, messages=[])
        anthropic.Anthropic().beta.messages.create(model="m", max_tokens=1, messages=[])
        litellm.acompletion(model="m", messages=[])
        """
    )
    assert [c.api for c in found] == [
        "openai.chat", "openai.chat", "openai.responses", "openai.completions", "openai.chat",
        "openai.chat", "openai.chat", "openai.completions", "anthropic.messages",
        "anthropic.messages", "litellm.completion",
    ]  # fmt: skip
    assert [c.is_legacy for c in found][6:8] == [True, True]


def test_langchain_constructors_and_bind() -> None:
    found = calls(
        """
        from langchain_openai import ChatOpenAI, AzureChatOpenAI
        from langchain_anthropic import ChatAnthropic
        from langchain_community.chat_models import ChatLiteLLM
        llm = ChatOpenAI(model="gpt-4o")
        capped = llm.bind(max_tokens=10)
        ChatAnthropic(model="claude-sonnet-4-5", max_tokens=5)
        AzureChatOpenAI(azure_deployment="prod")
        ChatLiteLLM(model="gpt-4o")
        """
    )
    apis = [c.api for c in found]
    assert apis == ["langchain.chat_model", "langchain.bind", "langchain.chat_model", "langchain.chat_model", "langchain.chat_model"]
    assert found[0].binds == [found[1]]
    assert found[3].model_literal == "prod"


def test_with_statement_and_annotated_parameter() -> None:
    found = calls(
        """
        from typing import Optional
        from openai import AsyncOpenAI, OpenAI
        async def a():
            async with AsyncOpenAI() as client:
                await client.responses.create(model="gpt-4o", input="x")
        def b(client: Optional[OpenAI]):
            client.embeddings.create(model="text-embedding-3-small", input="x")
            client.chat.completions.create(model="gpt-4o", messages=[])
        """
    )
    assert [(c.api, c.resolved) for c in found] == [("openai.responses", True), ("openai.chat", True)]


def test_not_llm_calls() -> None:
    assert calls(
        """
        from twilio.rest import Client
        Client().messages.create(to="+1", body="hi")
        # client.chat.completions.create(model="gpt-4o")
        text = "client.chat.completions.create(model='gpt-4o')"
        import anthropic
        def notify(client):
            client.messages.create(to="+1", from_="+2", body="x")
        from openai import OpenAI
        OpenAI().beta.threads.messages.create(thread_id="t", role="user", content="hi", model="x")
        """
    ) == []


def test_unresolved_receiver_shapes() -> None:
    found = calls(
        """
        def f(client):
            client.chat.completions.create(model="llama3", messages=[])
            client.responses.create(model="gpt-4o", input="x")
        """
    )
    # .responses needs openai imported somewhere in the module: only chat.completions matches
    assert [(c.api, c.resolved) for c in found] == [("openai.chat", False)]


def test_qualified_name_for_rules() -> None:
    module = ast.parse("import tiktoken as tk\nfrom tiktoken import get_encoding as ge\nenc = tk.get_encoding('x')\nge('y')\nlen(enc)\n")
    finder = CallFinder(module)
    statements = module.body
    enc_call = statements[2].value
    ge_call = statements[3].value
    len_call = statements[4].value
    assert finder.qualified_name(enc_call.func) == "tiktoken.get_encoding"
    assert finder.qualified_name(ge_call.func) == "tiktoken.get_encoding"
    assert finder.qualified_name(enc_call) == "tiktoken.get_encoding()"
    assert finder.qualified_name(len_call.func) == "builtins.len"


def test_cyclic_data_flow_terminates() -> None:
    assert calls("x = x.y\ny = z\nz = y\nz.chat\nx.create()\n") == []


def test_ast_gate_agrees_with_the_finder() -> None:
    positive = "from openai import OpenAI\ncreate = OpenAI().chat.completions.create\ncreate(model='m')\n"
    negative = "import openai\nprint(openai.__version__)\nx = {}.get('messages')\n"
    assert ast_may_call_llm(ast.parse(positive))
    assert not ast_may_call_llm(ast.parse(negative))


def test_context_parent_ancestors_and_memo() -> None:
    from checker.context import RuleContext
    from checker.settings import RuleSettings

    source = "def f():\n    return g(x)\n"
    module = ast.parse(source)
    context = RuleContext("m.py", source, module, RuleSettings())
    call = module.body[0].body[0].value
    name = call.args[0]
    # no Arg wrapper on ast: a positional argument's parent is the call itself
    assert context.parent(name) is call
    assert [type(n).__name__ for n in context.ancestors(call)] == ["Return", "FunctionDef", "Module"]
    built = []
    assert context.memo("k", lambda: built.append(1) or "v") == "v"
    assert context.memo("k", lambda: built.append(1) or "w") == "v" and built == [1]
