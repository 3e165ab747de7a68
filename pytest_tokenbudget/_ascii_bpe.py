"""Exact o200k token counts of ASCII text without tiktoken's Rust encoder.

tiktoken's ``CoreBPE`` constructor copies the 200,000 o200k ranks into Rust hash maps and a sorted
token list: about 150 ms of CPU, holding the GIL, before the first text can be counted. A test
suite's first budgeted test used to pay that even when all it had to count were a few short
prompts. For ASCII text the encoding is simple enough to run here: the pre-tokenizer's Unicode
classes reduce to ASCII ranges, and the merge loop is the one tiktoken runs (repeatedly join the
adjacent pair whose join has the lowest rank, the leftmost of equals). Counts are exactly
tiktoken's: the differential tests compare the two on generated and corpus text.

The counter declines (returns None) whatever it cannot count cheaply, and the caller then builds
tiktoken's encoder: non-ASCII text, a piece long enough for the quadratic merge loop to cost more
than the Rust encoder would, and, once the pure-Python work done so far would have paid for
building the encoder, everything (a suite that counts a lot is faster with the Rust encoder).
"""

from __future__ import annotations

import re
from typing import Protocol

__all__ = ["O200K_PATTERN", "AsciiBpeCounter"]

# tiktoken's o200k pre-tokenizer (tiktoken_ext/openai_public.py, shared by o200k_harmony). The
# translation below is valid only for this exact pattern: the caller compares tiktoken's pattern
# with it and does not use this counter when they differ.
O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])

# The same pattern on ASCII text. Within ASCII, \p{L} is A-Za-z (\p{Lu} A-Z, \p{Ll} a-z; Lt, Lm, Lo
# and M have no ASCII members), \p{N} is 0-9, and \s (Unicode White_Space) is tab, LF, VT, FF, CR
# and space: not the file/group/record/unit separators 0x1C-0x1F that Python's str.isspace
# accepts, which is why no Python class shorthand is used. (?i:'s) has no ASCII match beyond 's
# and 'S (its other case fold, U+017F, is not ASCII).
_SPACE = r"\t\n\x0b\x0c\r "
_CONTRACTION = r"(?:'[sStTmMdD]|'[rR][eE]|'[vV][eE]|'[lL][lL])?"
_ASCII_PIECES = re.compile("|".join([
    rf"[^\r\nA-Za-z0-9]?[A-Z]*[a-z]+{_CONTRACTION}",
    rf"[^\r\nA-Za-z0-9]?[A-Z]+[a-z]*{_CONTRACTION}",
    r"[0-9]{1,3}",
    rf" ?[^{_SPACE}A-Za-z0-9]+[\r\n/]*",
    rf"[{_SPACE}]*[\r\n]+",
    rf"[{_SPACE}]+(?![^{_SPACE}])",
    rf"[{_SPACE}]+",
]))

# Merging a piece of n bytes looks up O(n^2) pairs here; tiktoken's encoder is the better choice
# for a long run of spaces or punctuation (one piece each).
MAX_PIECE_BYTES = 64
# Characters counted here before tiktoken's encoder is built anyway. Counting here costs about
# 0.2 us a character more than tiktoken does (ranks looked up in the cache file's index; measured on
# this project's sources), and building the encoder about 200 ms (its rank dict, then CoreBPE): a
# suite that counts more than this pays for the build, and no suite pays much more than twice
# what the better choice in hindsight would have cost.
WORK_BUDGET_CHARS = 1_000_000
_MAX_REMEMBERED_PIECES = 50_000


class RankLookup(Protocol):
    """The ranks: a dict, or the cache file's `_rank_cache.RankIndex`."""

    def get(self, token: bytes, default: None = None) -> int | None: ...

    def __contains__(self, token: object) -> bool: ...


class AsciiBpeCounter:
    """Counts ASCII text with o200k ranks; see the module docstring. Thread-safe as dicts are:
    a race can only count a piece twice or leave the work tally slightly low."""

    def __init__(self, ranks: RankLookup, work_budget: int | None = None) -> None:
        self._ranks = ranks
        self._work_left = WORK_BUDGET_CHARS if work_budget is None else work_budget
        # Prose repeats its words: a piece counted once is a dict lookup the next time.
        self._pieces: dict[str, int] = {}

    def count(self, text: str) -> int | None:
        """The token count of ``text``, or None when it should go to tiktoken's encoder."""
        if len(text) > self._work_left or not text.isascii():
            return None
        pieces = _ASCII_PIECES.findall(text)
        known = self._pieces
        total = 0
        for piece in pieces:
            tokens = known.get(piece)
            if tokens is None:
                if len(piece) > MAX_PIECE_BYTES:
                    return None
                tokens = self._merge_count(piece.encode("ascii"))
                if len(known) >= _MAX_REMEMBERED_PIECES:
                    known = self._pieces = {}
                known[piece] = tokens
            total += tokens
        self._work_left -= len(text)
        return total

    def _merge_count(self, piece: bytes) -> int:
        ranks = self._ranks
        if piece in ranks:
            return 1
        parts = [piece[index:index + 1] for index in range(len(piece))]
        while len(parts) > 1:
            best_rank = None
            best = 0
            for index in range(len(parts) - 1):
                rank = ranks.get(parts[index] + parts[index + 1])
                if rank is not None and (best_rank is None or rank < best_rank):
                    best_rank, best = rank, index
            if best_rank is None:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        return len(parts)
