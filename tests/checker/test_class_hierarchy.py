"""LLM calls through the project's classes (checker.summaries._Hierarchy): a method inherited
from a base class in another module, an attribute typed by a project class, an abstract method
whose subclass sends, a class re-exported by another module. The shape of agent frameworks
(metagpt's `Action._aask` -> `self.llm.aask` -> `BaseLLM.acompletion_text` -> a provider's
override), where none of the files with the mistake names an SDK."""

from __future__ import annotations

import re

import pytest

FILES = {
    "app/__init__.py": "",
    "app/provider/__init__.py": "",
    "app/provider/base.py": """
        from abc import ABC, abstractmethod


        class BaseLLM(ABC):
            async def aask(self, prompt, system=None):
                messages = [{"role": "system", "content": system or "Be brief."}]
                messages.append({"role": "user", "content": prompt})
                return await self.acompletion_text(messages)

            @abstractmethod
            async def acompletion_text(self, messages):
                \"\"\"Filled in by each provider.\"\"\"
    """,
    "app/provider/openai_llm.py": """
        import openai

        from app.provider.base import BaseLLM


        class OpenAILLM(BaseLLM):
            def __init__(self):
                self.client = openai.AsyncOpenAI()

            async def acompletion_text(self, messages):
                reply = await self.client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=800)
                return reply.choices[0].message.content
    """,
    # re-exports the base class, as `metagpt.llm` does
    "app/llm.py": """
        from app.provider.base import BaseLLM

        __all__ = ["BaseLLM"]
    """,
    "app/mixin.py": """
        from typing import Optional

        from app.provider.base import BaseLLM


        class ContextMixin:
            private_llm: Optional[BaseLLM] = None

            @property
            def llm(self) -> BaseLLM:
                return self.private_llm
    """,
    "app/actions/__init__.py": "",
    "app/actions/action.py": """
        from app.mixin import ContextMixin


        class Action(ContextMixin):
            async def _aask(self, prompt):
                return await self.llm.aask(prompt)
    """,
    "app/actions/write_code.py": """
        import openai
        from tenacity import retry, retry_if_exception_type, stop_after_attempt

        from app.actions.action import Action


        class WriteCode(Action):
            @retry(stop=stop_after_attempt(6))  # TB301
            async def write(self, prompt):
                return await self._aask(prompt)

            @retry(retry=retry_if_exception_type(openai.RateLimitError), stop=stop_after_attempt(6))
            async def write_carefully(self, prompt):
                return await self._aask(prompt)

            async def review(self, code):
                for attempt in range(3):
                    try:
                        return await self._aask("Review:\\n" + code)
                    except Exception:  # TB301
                        continue
    """,
    "app/node.py": """
        from tenacity import retry, stop_after_attempt

        from app.llm import BaseLLM


        class ActionNode:
            llm: BaseLLM

            @retry(stop=stop_after_attempt(3))  # TB301
            async def fill(self, prompt):
                return await self.llm.aask(prompt)
    """,
    # Same shapes with no model behind them: an abstract method whose overrides only write files.
    "app/storage.py": """
        from tenacity import retry, stop_after_attempt


        class Storage:
            def save(self, name, text):
                raise NotImplementedError

            @retry(stop=stop_after_attempt(3))
            def persist(self, name, text):
                return self.save(name, text)


        class DiskStorage(Storage):
            def save(self, name, text):
                with open(name, "w") as handle:
                    handle.write(text)
    """,
}


def _marked() -> set[tuple[str, int, str]]:
    import textwrap

    marked = set()
    for name, text in FILES.items():
        lines = textwrap.dedent(text).lstrip("\n").splitlines()
        marked |= {(name, number, code) for number, line in enumerate(lines, 1)
                   for code in re.findall(r"# (TB\d{3})", line)}
    return marked


def _found(output: str) -> set[tuple[str, int, str]]:
    found = set()
    for line in output.splitlines():
        match = re.match(r"(.+?):(\d+):\d+: (TB\d{3}) ", line)
        if match:
            found.add((match.group(1), int(match.group(2)), match.group(3)))
    return found


@pytest.fixture
def framework(write) -> None:
    for name, text in FILES.items():
        write(name, text)


def test_calls_through_inherited_typed_and_abstract_methods_are_requests(framework, cli) -> None:
    result = cli("check", "--output-format", "concise", "--no-cache", "--select", "TB301", ".")
    assert _found(result.out) == _marked(), result.out
    # the diagnostic names where the request finally leaves: the provider's override
    assert "OpenAILLM.acompletion_text() in app/provider/openai_llm.py:11" in result.out


def test_one_file_run_knows_the_hierarchy_from_the_cache(framework, cli) -> None:
    cli("check", "--select", "TB301", ".")
    result = cli("check", "--output-format", "concise", "--select", "TB301", "app/actions/write_code.py")
    assert _found(result.out) == {m for m in _marked() if m[0] == "app/actions/write_code.py"}, result.out


def test_the_hierarchy_in_the_sink_table() -> None:
    import ast
    import textwrap

    from checker.summaries import build_sinks, summarize_tree

    summaries = {}
    for name, text in FILES.items():
        summary = summarize_tree(ast.parse(textwrap.dedent(text).lstrip("\n")), exports=name == "app/llm.py")
        if summary:
            module = name[:-3].replace("/", ".").removesuffix(".__init__")
            summaries[module] = (name, False, summary)
    table = build_sinks(summaries)
    assert table.sinks["app.provider.base.BaseLLM.acompletion_text"].display == \
        "OpenAILLM.acompletion_text() in app/provider/openai_llm.py:11"  # the abstract method's override
    assert table.sinks["app.provider.base.BaseLLM.aask"].content == ("prompt", "system")
    assert "app.mixin.ContextMixin.llm.aask" in table.sinks  # the property's return type
    assert "app.mixin.ContextMixin.private_llm.aask" in table.sinks  # Optional[BaseLLM]
    assert "app.actions.action.Action._aask" in table.sinks  # through the base's typed property
    assert "app.actions.write_code.WriteCode._aask" in table.sinks  # inherited
    assert "app.node.ActionNode.llm.aask" in table.sinks  # typed by the re-exported name
    assert not any(name.startswith("app.storage.") for name in table.sinks)
