"""The text prefilter picks exactly the rules its regexes define.

`RuleSet` answers the triggers with one shared word pass and substring searches; a trigger is
defined as a regex (checker/rule.py). Texts here are made of the triggers' own words, cut, joined
and re-cased, so that words overlap, sit inside each other and differ only in case, which is where
a shared pass can go wrong. (bench/prefilter_parity.py checks the same on the bench corpus.)
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.engine import RuleSet, _scoped, rule_triggers
from checker.registry import all_rules
from checker.triggers import CALL_TRIGGERS, SEND_PATTERNS

ALL_RULES = list(all_rules().values())
SELECTIONS = [ALL_RULES] + [[rule] for rule in ALL_RULES] + [[]]
PATTERNS = sorted({p for rule in ALL_RULES for c in rule_triggers(rule) for p in c} | {p for c in CALL_TRIGGERS for p in c})
REGEXES = {pattern: re.compile(_scoped(pattern).encode()) for pattern in PATTERNS}


def _words() -> list[str]:
    words = set()
    for pattern in PATTERNS:
        body = re.sub(r"^\(\?[a-zA-Z]+\)", "", pattern)
        for part in body.split("|"):
            plain = re.sub(r"\\(.)", r"\1", part)
            if re.fullmatch(r"[\w .\-+*=:'\"/#<>()\[\]]+", plain):
                words.add(plain)
    return sorted(words)


WORDS = _words()
# Pieces the regex triggers look for around the words (`len(x) > 1000`, `# noqa: TB1`, `.create(`).
GLUE = ["len(", ")", " > ", " <= ", "1000", "1_000", "0x", " * ", "\n", " ", ".", "(", "# noqa: ", "tb1", "TB2",
        "+= ", "[", ":", "]", "=", "2", "e5", "\\\n"]


@st.composite
def texts(draw) -> bytes:
    pieces = draw(st.lists(st.sampled_from(WORDS) | st.sampled_from(GLUE), max_size=25))
    out = []
    for piece in pieces:
        cut = draw(st.sampled_from(["whole", "head", "tail", "upper", "title", "swap"]))
        if cut == "head":
            piece = piece[: max(1, len(piece) - 1)]
        elif cut == "tail":
            piece = piece[1:] or piece
        elif cut == "upper":
            piece = piece.upper()
        elif cut == "title":
            piece = piece.title()
        elif cut == "swap":
            piece = piece.swapcase()
        out.append(piece)
    return "".join(out).encode()


def _defined(rules, data: bytes, sends: bool) -> list[str]:
    found = {pattern: REGEXES[pattern].search(data) is not None for pattern in PATTERNS}
    chosen = []
    for rule in rules:
        alternatives = rule_triggers(rule)
        if not alternatives or any(all(found[p] for p in c if not (sends and p in SEND_PATTERNS)) for c in alternatives):
            chosen.append(rule.code)
    return chosen


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=texts())
def test_the_rules_chosen_are_those_the_trigger_regexes_define(data: bytes) -> None:
    calls = any(all(REGEXES[p].search(data) for p in c) for c in CALL_TRIGGERS)
    for rules in SELECTIONS:
        rule_set = RuleSet(rules)
        assert [r.code for r in rule_set.applicable(data)] == _defined(rules, data, False)
        assert [r.code for r in rule_set.applicable(data, sends=True)] == _defined(rules, data, True)
        assert rule_set.may_call_llm(data) == calls


def test_case_and_overlap_edges() -> None:
    # A case-sensitive word found only in another case, a word inside a longer one, words that
    # share their ends: each answered as the regexes answer them.
    for text in [b"OPENAI.completions.create(x)", b"Openai and tokens * 2", b"tokens*len(x)",
                 b"import tiktoken\nenc.encode(x)", b"import TIKTOKEN\nenc.encode(x)", b"# NOQA: tb101\n",
                 b"litellm.completion(x)", b"LiteLLM.completion(x)", b"ChatOpenAI()", b"chatopenai()", b""]:
        for rules in SELECTIONS:
            rule_set = RuleSet(rules)
            assert [r.code for r in rule_set.applicable(text)] == _defined(rules, text, False), text
            assert [r.code for r in rule_set.applicable(text, sends=True)] == _defined(rules, text, True), text


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="tTbBaAzZ019 ._-\n[]()", max_size=40),
       pattern=st.sampled_from([r"(?i)tb\d", r"(?i)a[a-z_]+\s", r"(?i)(?<![\w.])tb\d", r"(?i)[^a]z", r"(?i)(?:ab|z)\b",
                                r"(?i)(b)\1", r"(?i)ab[A-Z]", r"(?i)(?-i:ab)z", r"(?i)t[0-_]", r"(?i)[^.-a]z"]))
def test_a_case_insensitive_regex_searched_in_the_lowered_text_finds_what_it_finds(text: str, pattern: str) -> None:
    from checker.engine import _Trigger

    data = text.encode()
    assert _Trigger(pattern).search(data, data.lower()) == (re.search(pattern.encode(), data) is not None)


def test_a_class_range_across_the_upper_case_letters_keeps_its_case_insensitive_answer() -> None:
    # [!-a] holds A-Z but only the `a` of the lower-case letters: case-insensitively it matches
    # `B`, while in the lowered text that `B` is a `b` the range does not hold.
    from checker.engine import _Trigger

    for pattern, data in [(r"(?i)x[!-a]", b"XB"), (r"(?i)x[^!-a]", b"xb"), (r"(?i)t[0-_]", b"TZ")]:
        expected = re.search(pattern.encode(), data) is not None
        assert _Trigger(pattern).search(data, data.lower()) == expected, (pattern, data)


def test_every_trigger_compiles() -> None:
    # The engine compiles a trigger when it is first searched: a broken one must fail here, not
    # on the first file that reaches it.
    from checker.engine import _Trigger

    for pattern in PATTERNS:
        assert _Trigger(pattern).regex.pattern
