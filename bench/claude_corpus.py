"""Deterministic, varied text corpus for calibrating the Claude token estimate against ctok.

``build_corpus(seed)`` returns ``[(content_type, text), ...]``: the same seed always yields the
same samples (nothing is read from disk or the network), and different seeds give different
samples, so one seed can fit the estimate and another check it.

Content types: prose, code, json, cjk, emoji, whitespace, mixed, numbers, urls, identifiers
(hashes, base64, UUIDs), other_scripts (Cyrillic, Greek, Arabic, accented Latin, Hindi, Thai), and
fragments: pieces of all of these glued together at random, the same recipe the property test in
tests/core/test_claude.py draws from.
Lengths range from a few characters to a few thousand, because the constant part of the
estimate matters for short strings and the per-character part for long ones.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid

CONTENT_TYPES = (
    "prose", "code", "json", "cjk", "emoji", "whitespace", "mixed", "numbers", "urls",
    "identifiers", "other_scripts", "fragments",
)

WORDS = """the of and to in is that it for was on are as with his they at be this from have or by
one had not but what all were when we there can an your which their said if do will each about how
up out them then she many some so these would other into has more her two like him see time could
no make than first been its who now people my made over did down only way find use may water long
little very after words called just where most know get through back much before go good new write
our used me man too any day same right look think also around another came come work three word
must because does part even place well such here take why things help put years different away
again off went old number great tell men say small every found still between name should home big
give air line set own under read last never us left end along while might next sound below saw
something thought both few those always looks show large often together asked house world going want
school important until form food keep children feet land side without boy once animals life enough
took sometimes four head above kind began almost live page got earth need far hand high year mother
light parts country father let night following picture being study second eyes soon times story boys
since white days ever paper hard near sentence better best across during today others however sure
means knew trying wait budget token request prompt model context window tokenizer estimate counting
function variable configuration deployment repository integration performance reliability latency
throughput measurement calibration conservative approximately responsibility interoperability
misunderstanding internationalization characteristically unquestionably""".split()

NAMES = ["Alice", "Bob", "Carol", "Dmitri", "Eve", "Fatima", "Gustavo", "Hiroshi", "Ingrid", "Jamal",
         "London", "Paris", "Tokyo", "Nairobi", "Monday", "October", "Python", "Kubernetes", "OpenAI",
         "Anthropic", "GitHub", "PostgreSQL", "NASA", "HTTP", "JSON", "API", "CI", "USA", "UNESCO"]

PUNCT_END = [".", ".", ".", "?", "!", ";", "...", ":"]

CODE_SNIPPETS = [
    # Python
    '''def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    result = [0, 1]
    while len(result) < n:
        result.append(result[-1] + result[-2])
    return result[:n]
''',
    '''class TokenBudget:
    def __init__(self, max_tokens=8000, *, strict=False):
        self.max_tokens = max_tokens
        self.strict = strict

    def check(self, count):
        if count > self.max_tokens:
            raise ValueError(f"prompt {count:,} tokens > budget {self.max_tokens:,}")
        return True
''',
    '''import os, sys
from pathlib import Path

for path in sorted(Path(sys.argv[1]).rglob("*.py")):
    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    print(f"{path}: {len(lines)} lines", file=sys.stderr)
''',
    # JavaScript / TypeScript
    '''export async function fetchUser(id: string): Promise<User | null> {
  const res = await fetch(`/api/users/${encodeURIComponent(id)}`);
  if (!res.ok) {
    console.error("failed", res.status);
    return null;
  }
  return (await res.json()) as User;
}
''',
    '''const items = data.filter(x => x.active && x.score >= 0.5).map(({id, name}) => ({id, label: name.toUpperCase()}));
document.querySelectorAll('.btn-primary').forEach(el => el.addEventListener('click', handleClick));
''',
    # Rust
    '''fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mut counts = std::collections::HashMap::new();
    for word in std::fs::read_to_string(&args[1])?.split_whitespace() {
        *counts.entry(word.to_lowercase()).or_insert(0usize) += 1;
    }
    println!("{:?}", counts.len());
    Ok(())
}
''',
    # Go
    '''package main

import (
\t"fmt"
\t"net/http"
)

func handler(w http.ResponseWriter, r *http.Request) {
\tfmt.Fprintf(w, "Hello, %s!", r.URL.Path[1:])
}

func main() {
\thttp.HandleFunc("/", handler)
\thttp.ListenAndServe(":8080", nil)
}
''',
    # SQL
    '''SELECT u.id, u.email, COUNT(o.id) AS order_count, SUM(o.total_cents) / 100.0 AS revenue
FROM users AS u
LEFT JOIN orders AS o ON o.user_id = u.id AND o.created_at >= NOW() - INTERVAL '30 days'
WHERE u.deleted_at IS NULL
GROUP BY u.id, u.email
HAVING COUNT(o.id) > 2
ORDER BY revenue DESC
LIMIT 50;
''',
    # HTML / CSS
    '''<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Dashboard</title>
<style>.card{display:flex;gap:12px;padding:8px 16px;border-radius:4px;background:#f5f5f5}</style>
</head>
<body><div class="card" id="main"><h1>Usage</h1><p>Tokens used: <span data-v="42">42</span></p></div></body>
</html>
''',
    # Shell / YAML / C
    '''#!/usr/bin/env bash
set -euo pipefail
for f in "$@"; do
  if [[ -f "$f" ]]; then
    sha256sum "$f" | awk '{print $1}' >> checksums.txt
  fi
done
echo "done: $(wc -l < checksums.txt) files"
''',
    '''jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ["3.10", "3.11", "3.12", "3.13"]
    steps:
      - uses: actions/checkout@v4
      - run: pip install -e ".[test]" && pytest -n 2 -q
''',
    '''#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s N\\n", argv[0]); return 1; }
    long n = strtol(argv[1], NULL, 10);
    for (long i = 0; i < n; ++i) printf("%ld\\n", i * i);
    return 0;
}
''',
]

CJK_PHRASES = [
    "你好，世界。", "今天天气很好，我们去公园散步吧。", "机器学习模型需要大量的训练数据。",
    "请在提交之前检查所有的测试是否通过。", "这个函数返回一个整数列表。", "人工智能正在改变软件开发的方式。",
    "こんにちは、世界。", "今日はとても良い天気ですね。", "このプログラムはトークンの数を数えます。",
    "東京駅から新幹線で大阪へ行きました。", "テストが失敗した場合は、ログを確認してください。",
    "カタカナとひらがなと漢字を混ぜて書きます。", "안녕하세요, 세계.", "오늘 날씨가 정말 좋네요.",
    "이 함수는 토큰 수를 계산합니다.", "서울에서 부산까지 기차로 갔습니다.", "「引用」と『書名』と（括弧）。",
    "价格：１２３元，数量：４５个。", "第一章　总则",
]

EMOJI = ["😀", "😂", "🥲", "😍", "🤔", "👍", "👍🏽", "👎", "🙏", "🎉", "🔥", "✅", "❌", "⚠️", "🚀", "💡",
         "📈", "🐍", "🦀", "❤️", "✨", "👨‍👩‍👧", "👩🏻‍💻", "🏳️‍🌈", "🇫🇷", "🇯🇵", "🇺🇸", "☕", "🍕", "⭐"]

OTHER_SCRIPTS = [
    "Привет, мир! Это тестовое предложение для подсчёта токенов.",
    "Модель должна корректно обрабатывать кириллицу и знаки препинания.",
    "Γεια σου κόσμε. Η γλώσσα είναι ελληνική.",
    "مرحبا بالعالم. هذه جملة اختبار باللغة العربية.",
    "שלום עולם. זה משפט בדיקה בעברית.",
    "Ça coûte très cher à Genève, où l'été est déjà là.",
    "Über die Brücke gehen Schüler mit großen Rucksäcken.",
    "El niño comió jalapeños en la montaña; ¡qué día!",
    "São Paulo é a maior cidade do Brasil, não é?",
    "Zażółć gęślą jaźń — polskie znaki diakrytyczne.",
    "नमस्ते दुनिया। यह एक परीक्षण वाक्य है।",
    "สวัสดีชาวโลก นี่คือประโยคทดสอบ",
    "Xin chào thế giới. Đây là câu kiểm tra tiếng Việt.",
    "Merhaba dünya. Türkçe karakterler: ğ, ş, ı, ö, ü, ç.",
]

TLDS = ["com", "org", "io", "dev", "co.uk", "ai"]
PATH_PARTS = ["api", "v1", "v2", "users", "docs", "en", "search", "items", "2024", "blob", "main", "src",
              "index.html", "README.md", "assets", "img", "logo.png"]


def _sentence(rng: random.Random) -> str:
    n = rng.randint(4, 22)
    words = [rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.4:
        words[rng.randrange(n)] = rng.choice(NAMES)
    if rng.random() < 0.2:
        words.insert(rng.randrange(n), str(rng.randint(1, 2030)))
    if rng.random() < 0.25:
        i = rng.randrange(1, n)
        words[i] = words[i] + ","
    if rng.random() < 0.1:
        words.append("\u201c" + rng.choice(WORDS) + "\u201d")
    if rng.random() < 0.1:
        words.append(rng.choice(["don't", "it's", "we're", "they've", "I'll", "she'd", "o'clock"]))
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(PUNCT_END)


def prose(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.choice([1, 1, 2, 3, 6])):
        paragraphs.append(" ".join(_sentence(rng) for _ in range(rng.randint(1, 8))))
    text = "\n\n".join(paragraphs)
    if rng.random() < 0.15:
        text = text.upper()
    return text


def code(rng: random.Random) -> str:
    parts = rng.sample(CODE_SNIPPETS, rng.randint(1, 3))
    text = "\n".join(parts)
    # Rename identifiers so repeated snippets are not identical.
    if rng.random() < 0.5:
        for old in ("result", "counts", "items", "handler", "path", "self.max_tokens"):
            text = text.replace(old, old + rng.choice(["_v2", "Count", "_tmp", "Buf", "2"]))
    if rng.random() < 0.3:
        text = text.replace("    ", "\t")
    return text


def _json_value(rng: random.Random, depth: int) -> object:
    kind = rng.random()
    if depth > 3 or kind < 0.3:
        return rng.choice([
            rng.randint(-10**6, 10**6), round(rng.uniform(-1000, 1000), rng.randint(0, 6)), True, False, None,
            rng.choice(WORDS), " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))),
            str(uuid.UUID(int=rng.getrandbits(128))), rng.choice(NAMES),
        ])
    if kind < 0.65:
        return {rng.choice(WORDS) + rng.choice(["", "_id", "Name", "_at", "Count"]): _json_value(rng, depth + 1)
                for _ in range(rng.randint(1, 6))}
    return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]


def json_text(rng: random.Random) -> str:
    value = {"id": rng.randint(1, 10**9), "type": rng.choice(WORDS), "data": _json_value(rng, 0)}
    style = rng.choice(["compact", "spaced", "indent2", "indent4"])
    if style == "compact":
        return json.dumps(value, separators=(",", ":"))
    if style == "spaced":
        return json.dumps(value)
    return json.dumps(value, indent=2 if style == "indent2" else 4, ensure_ascii=rng.random() < 0.5)


def cjk(rng: random.Random) -> str:
    return "".join(rng.choice(CJK_PHRASES) for _ in range(rng.randint(1, 25)))


def emoji(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 40)):
        if rng.random() < 0.3:
            out.append(rng.choice(WORDS))
        out.append(rng.choice(EMOJI) * rng.choice([1, 1, 1, 2, 3]))
    sep = rng.choice(["", " ", " ", "\n"])
    return sep.join(out)


def whitespace(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 30)):
        choice = rng.random()
        if choice < 0.35:
            out.append(" " * rng.randint(1, 64))
        elif choice < 0.55:
            out.append("\n" * rng.randint(1, 12))
        elif choice < 0.7:
            out.append("\t" * rng.randint(1, 8))
        elif choice < 0.8:
            out.append(rng.choice([" \n", "\r\n", " \t ", "\n    ", "\u00a0", "\u3000"]) * rng.randint(1, 6))
        else:
            out.append(rng.choice(WORDS))
    return "".join(out)


def numbers(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 60)):
        kind = rng.random()
        if kind < 0.3:
            out.append(str(rng.randint(0, 10 ** rng.randint(1, 18))))
        elif kind < 0.5:
            out.append(f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 8)}f}")
        elif kind < 0.6:
            out.append(f"{rng.uniform(-1, 1):.3e}")
        elif kind < 0.7:
            out.append(f"{rng.randint(1, 9999999):,}")
        elif kind < 0.8:
            out.append(f"{rng.randint(1900, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        elif kind < 0.9:
            out.append(f"+1 ({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}")
        else:
            out.append(f"{rng.randint(0, 100)}%")
    return rng.choice([" ", ", ", "\n", "\t", " | "]).join(out)


def urls(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 15)):
        host = rng.choice(["www.", "", "api.", "docs."]) + rng.choice(WORDS) + rng.choice(["", "-" + rng.choice(WORDS)])
        path = "/".join(rng.choice(PATH_PARTS) for _ in range(rng.randint(0, 5)))
        url = f"{rng.choice(['https', 'http'])}://{host}.{rng.choice(TLDS)}/{path}"
        if rng.random() < 0.4:
            url += "?" + "&".join(f"{rng.choice(WORDS)}={rng.randint(0, 999)}" for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.2:
            url += "#" + rng.choice(WORDS)
        if rng.random() < 0.2:
            url = f"[{rng.choice(WORDS)}]({url})"
        out.append(url)
    return rng.choice([" ", "\n", ", "]).join(out)


def identifiers(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 12)):
        kind = rng.random()
        raw = rng.getrandbits(8 * rng.choice([8, 16, 20, 32])).to_bytes(32, "big")[: rng.choice([8, 16, 20, 32])]
        if kind < 0.25:
            out.append(raw.hex())
        elif kind < 0.5:
            out.append(base64.b64encode(raw * rng.randint(1, 4)).decode())
        elif kind < 0.65:
            out.append(str(uuid.UUID(int=rng.getrandbits(128))))
        elif kind < 0.8:
            out.append("sk-" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(20, 48))))
        else:
            parts = [rng.choice(WORDS) for _ in range(rng.randint(2, 5))]
            style = rng.random()
            if style < 0.33:
                out.append(parts[0] + "".join(p.capitalize() for p in parts[1:]))
            elif style < 0.66:
                out.append("_".join(parts).upper())
            else:
                out.append("_".join(parts) + str(rng.randint(0, 99)))
    return rng.choice([" ", "\n", ", "]).join(out)


def other_scripts(rng: random.Random) -> str:
    return " ".join(rng.choice(OTHER_SCRIPTS) for _ in range(rng.randint(1, 12)))


ALNUM = string.ascii_letters + string.digits
SHORT_PUNCT = PUNCT_END + [",", "(", ")", "{", "}", "[", "]", '"', "'", ":", "=", "->"]
WHITESPACE_PIECES = [" ", "  ", "\n", "\n\n", "\t", "    ", " " * 17, "\n" * 9, "\t\t\t"]
FRAGMENT_SEPARATORS = ["", " ", "\n", ", "]


def fragment(rng: random.Random) -> str:
    """One random piece of any content type (the property test's alphabet)."""
    kind = rng.randrange(11)
    if kind == 0:
        return rng.choice(WORDS)
    if kind == 1:
        return rng.choice(NAMES)
    if kind == 2:
        return rng.choice(CJK_PHRASES)
    if kind == 3:
        return rng.choice(EMOJI)
    if kind == 4:
        return rng.choice(OTHER_SCRIPTS)
    if kind == 5:
        return rng.choice(CODE_SNIPPETS)
    if kind == 6:
        return rng.choice(SHORT_PUNCT)
    if kind == 7:
        return str(rng.randint(0, 10**15))
    if kind == 8:
        return repr(rng.choice([rng.uniform(-1e3, 1e3), rng.uniform(-1e100, 1e100), rng.random() * 1e-7]))
    if kind == 9:
        return "".join(rng.choice(ALNUM) for _ in range(rng.randint(1, 40)))
    return rng.choice(WHITESPACE_PIECES)


def fragments(rng: random.Random) -> str:
    pieces = [fragment(rng) for _ in range(rng.randint(1, 40))]
    # Repeats are common in the property test's shrunk examples and in real prompts.
    if rng.random() < 0.3:
        pieces = pieces[: rng.randint(1, 3)] * rng.randint(2, 6)
    return rng.choice(FRAGMENT_SEPARATORS).join(pieces)


def mixed(rng: random.Random) -> str:
    makers = [prose, code, json_text, cjk, emoji, numbers, urls, identifiers, other_scripts]
    parts = [rng.choice(makers)(rng) for _ in range(rng.randint(2, 5))]
    return rng.choice(["\n\n", "\n", " ", "\n---\n"]).join(parts)


GENERATORS = {
    "prose": prose, "code": code, "json": json_text, "cjk": cjk, "emoji": emoji,
    "whitespace": whitespace, "mixed": mixed, "numbers": numbers, "urls": urls,
    "identifiers": identifiers, "other_scripts": other_scripts, "fragments": fragments,
}


def build_corpus(seed: int = 0, per_type: int = 40) -> list[tuple[str, str]]:
    """``per_type`` samples of every content type; identical output for identical arguments."""
    samples: list[tuple[str, str]] = []
    for index, content_type in enumerate(CONTENT_TYPES):
        rng = random.Random(seed * 1000 + index)
        generate = GENERATORS[content_type]
        for i in range(per_type):
            text = generate(rng)
            # Every fifth sample is cut short so tiny strings are represented too.
            if i % 5 == 0:
                text = text[: rng.randint(1, 40)]
            samples.append((content_type, text))
    return samples


if __name__ == "__main__":  # pragma: no cover - manual inspection
    import sys

    corpus = build_corpus(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    for content_type in CONTENT_TYPES:
        texts = [t for c, t in corpus if c == content_type]
        print(f"{content_type:14} {len(texts):4} samples {sum(map(len, texts)):8} chars")
