"""Generated LLM calls in the shapes people write them (every provider's call, several argument
lists and statement shapes, comments on some argument lines), formatted with the real `ruff
format`: the corpus on which `--fix` must leave formatter-clean files clean. Used by
test_adoption.py and bench/fix_layout_corpus.py."""

from __future__ import annotations

import io
import itertools
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path
from typing import Optional, Sequence

SETUP = {
    "openai": ('from openai import OpenAI\n\nclient = OpenAI()\nMODEL = "gpt-4o"\n',
               ["client.chat.completions.create", "client.responses.create"]),
    "anthropic": ('import anthropic\n\nclient = anthropic.Anthropic()\nMODEL = "claude-sonnet-4-5"\n',
                  ["client.messages.create"]),
    "litellm": ('from litellm import completion\n\nMODEL = "gpt-4o"\n', ["completion"]),
    "langchain": ('from langchain_openai import ChatOpenAI\n\nMODEL = "gpt-4o"\n', ["ChatOpenAI"]),
}
MODELS = ["model=MODEL", 'model="gpt-4o"', 'model="gpt-3.5-turbo-16k"']
MESSAGES = ["messages=msgs", "messages=[]", 'messages=[{"role": "user", "content": question}]', "messages=messages",
            'messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]']
EXTRAS = ["", "n=1", "temperature=0.7, top_p=0.9, presence_penalty=0.1", "temperature=0.2", "temperature=GPT_TEMP",
          "stream=True, temperature=0"]
STATEMENTS = {
    "assignment": "response = {call}\n",
    "return": "def ask(question, messages, msgs):\n    return {call}\n",
    "nested block": "class Bot:\n    def ask(self, question, messages, msgs):\n        if question:\n"
                    "            reply = {call}\n            return reply\n",
    "await": "async def ask(question, messages, msgs):\n    return await {call}\n",
    "trailers after the call": "def ask(question, messages, msgs):\n    return {call}.choices[0].message.content\n",
    "assigned trailers": "def ask(question, messages, msgs):\n    answer = {call}.choices[0].message.content\n"
                         "    return answer\n",
    "inside another call": 'def ask(question, messages, msgs):\n    log("asking", {call})\n',
}


def sources(models: Sequence[str] = MODELS, messages: Sequence[str] = MESSAGES, extras: Sequence[str] = EXTRAS,
            statements: Optional[Sequence[str]] = None) -> list[tuple[str, str]]:
    """(statement shape, module source) for every combination."""
    out = []
    for provider, (header, functions) in SETUP.items():
        for function, model, message, extra in itertools.product(functions, models, messages, extras):
            if provider == "langchain":
                args = [model, extra]
            else:
                args = [model, message.replace("messages=", "input=") if "responses" in function else message, extra]
            call = f"{function}({', '.join(a for a in args if a)})"
            for shape in statements or STATEMENTS:
                out.append((shape, header + "\n\n" + STATEMENTS[shape].format(call=call)))
    return out


def ruff() -> Optional[str]:
    found = Path(sys.executable).with_name("ruff")
    return str(found) if found.exists() else shutil.which("ruff")


def write_formatted(folder: Path, generated: Sequence[tuple[str, str]], ruff_path: str) -> dict[str, str]:
    """The sources as m0000.py... in ``folder``, formatted; every third file then gets comments
    on some argument lines, as people write them, and is formatted again, so each file starts
    formatter-clean. Returns {file name: statement shape}."""
    shapes = {}
    for index, (shape, source) in enumerate(generated):
        (folder / f"m{index:04d}.py").write_text(source)
        shapes[f"m{index:04d}.py"] = shape
    subprocess.run([ruff_path, "format", "-q", "--isolated", str(folder)], check=True)
    for path in sorted(folder.glob("*.py"))[::3]:
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line.rstrip("\n") + f"  # note {n}\n" if line.rstrip().endswith(",") and n % 2 == 0
                                else line for n, line in enumerate(lines)))
    subprocess.run([ruff_path, "format", "-q", "--isolated", str(folder)], check=True)
    return shapes


def comments(source: str) -> list[str]:
    return sorted(t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT)
