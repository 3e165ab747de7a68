"""How often `tokenbudget check --fix` leaves a `ruff format`-clean file clean, on generated call
shapes (every provider's call, several argument lists and statement shapes, comments on some
argument lines), formatted with the real ruff first. Also counts what must never happen: a file
that no longer compiles, a second run that changes it again, trailing whitespace, a comment
moved or copied.

    python bench/fix_layout_corpus.py [--checker PATH]   # PATH: another checker's parent directory
"""

from __future__ import annotations

import argparse
import io
import itertools
import subprocess
import sys
import tempfile
import tokenize
from pathlib import Path

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
    "inside another call": 'def ask(question, messages, msgs):\n    log("asking", {call})\n',
}


def sources() -> list[tuple[str, str]]:
    out = []
    for provider, (header, functions) in SETUP.items():
        for function, model, messages, extra in itertools.product(functions, MODELS, MESSAGES, EXTRAS):
            if provider == "langchain":
                args = [model, extra]
            else:
                args = [model, messages.replace("messages=", "input=") if "responses" in function else messages, extra]
            call = f"{function}({', '.join(a for a in args if a)})"
            for shape, statement in STATEMENTS.items():
                out.append((shape, header + "\n\n" + statement.format(call=call)))
    return out


def comments(source: str) -> list[str]:
    return sorted(t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checker", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    sys.path.insert(0, str(args.checker))
    from checker.engine import fix_source
    from checker.registry import select_rules
    from checker.settings import RuleSettings

    ruff = str(Path(sys.executable).with_name("ruff"))
    corpus = Path(tempfile.mkdtemp(prefix="fix-layout-"))
    shapes = {}
    for index, (shape, source) in enumerate(sources()):
        (corpus / f"m{index:04d}.py").write_text(source)
        shapes[f"m{index:04d}.py"] = shape
    subprocess.run([ruff, "format", "-q", "--isolated", str(corpus)], check=True)
    for path in sorted(corpus.glob("*.py"))[::3]:
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line.rstrip("\n") + f"  # note {n}\n" if line.rstrip().endswith(",") and n % 2 == 0
                                else line for n, line in enumerate(lines)))
    subprocess.run([ruff, "format", "-q", "--isolated", str(corpus)], check=True)
    rules, settings = select_rules(["TB101"]), RuleSettings(project_root=corpus)
    broken = {"does not compile": 0, "not idempotent": 0, "trailing whitespace": 0, "comment moved or copied": 0}
    for path in sorted(corpus.glob("*.py")):
        before = path.read_text()
        after = fix_source(before, path.name, rules, settings)[0]
        try:
            compile(after, path.name, "exec")
        except SyntaxError:
            broken["does not compile"] += 1
        broken["not idempotent"] += fix_source(after, path.name, rules, settings)[0] != after
        broken["trailing whitespace"] += any(line != line.rstrip() for line in after.splitlines())
        broken["comment moved or copied"] += comments(after) != comments(before)
        path.write_text(after)
    check = subprocess.run([ruff, "format", "--check", "--isolated", str(corpus)], capture_output=True, text=True)
    unclean = [line.split("-->")[1].strip().split(":")[0] for line in (check.stdout + check.stderr).splitlines()
               if line.strip().startswith("-->")]
    print(f"{len(shapes)} files, all formatter-clean before --fix")
    print(f"ruff format would reformat after --fix: {len(unclean)}")
    for shape in STATEMENTS:
        total = sum(1 for s in shapes.values() if s == shape)
        bad = sum(1 for name in unclean if shapes[Path(name).name] == shape)
        print(f"  {shape:<26} {bad:>4} / {total}")
    for what, count in broken.items():
        print(f"{what}: {count}")


if __name__ == "__main__":
    main()
