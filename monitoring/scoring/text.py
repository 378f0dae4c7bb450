"""Text normalisation shared by the scorers: length-preserving folding and offset-keeping tokens."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, NamedTuple


def _build_fold_table() -> dict[int, str]:
    """Map each character to one lower-case, diacritic-free character where that keeps length."""
    table: dict[int, str] = {}
    for code in range(0x41, 0x2000):
        char = chr(code)
        lowered = char.lower()
        if len(lowered) != 1:
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", lowered) if not unicodedata.combining(c)
        )
        folded = base if len(base) == 1 else lowered
        if folded != char:
            table[code] = folded
    # Letters with a stroke do not decompose under NFKD.
    for src, dst in {"ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ø": "o", "Ø": "o"}.items():
        table[ord(src)] = dst
    # Typographic apostrophes (U+2019, U+02BC) fold to ASCII ones.
    table[0x2019] = "'"
    table[0x02BC] = "'"
    return table


def sequence_table(table: dict[int, str]) -> str:
    """The same one-for-one mapping as a string indexed by code point: `str.translate` looks a
    character up in it several times faster than in a dict. Characters past its end stay as
    they are, as characters missing from the dict do."""
    return "".join(table.get(code, chr(code)) for code in range(max(table) + 1))


_FOLD_TABLE = sequence_table(_build_fold_table())
_LOWER_TABLE = sequence_table(
    {
        code: chr(code).lower()
        for code in range(0x41, 0x2000)
        if len(chr(code).lower()) == 1 and chr(code).lower() != chr(code)
    }
)


def fold(text: str) -> str:
    """Lower-case and strip diacritics, one character for one, so offsets stay valid."""
    return text.translate(_FOLD_TABLE)


def lower(text: str) -> str:
    """Lower-case one character for one (keeps Polish diacritics; offsets stay valid)."""
    return text.translate(_LOWER_TABLE)


class Token(NamedTuple):
    """A word of the text: its span in the original, its lower-cased and folded forms."""

    start: int
    end: int
    raw: str
    low: str
    folded: str


_NEW = tuple.__new__
WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SPLIT_RE = re.compile(f"({WORD_RE.pattern})")
# Links, @handles, HTML entities and placeholders are not words of the message.
NOISE_RE = re.compile(r"https?://\S+|www\.\S+|@\w+|&#?\w+;|\{\w+\}|\[\w+\]")


def _blank(match: re.Match[str]) -> str:
    return " " * (match.end() - match.start())


def tokenize(text: str, *, social: bool = True) -> list[Token]:
    """Word tokens with exact spans (apostrophes inside a word kept); `social` skips links,
    @handles and HTML entities."""
    if text.isascii():
        low = folded = text.lower()
    else:
        low = text.lower()
        if len(low) != len(text):  # rare letters whose lower case is longer ("İ")
            low = lower(text)
        low = low.replace("\u2019", "'")
        folded = low.translate(_FOLD_TABLE)
    searched = (
        NOISE_RE.sub(_blank, folded)
        if social and ("@" in text or "/" in text or "&" in text or "{" in text or "[" in text)
        else folded
    )
    # One C-level split gives words and the gaps between them, so spans are running sums: no
    # match object per word (hot path; the same tokens as WORD_RE.finditer).
    parts = _SPLIT_RE.split(searched)
    tokens: list[Token] = []
    append = tokens.append
    same = low is folded
    start = len(parts[0])
    for k in range(1, len(parts), 2):
        word = parts[k]
        end = start + len(word)
        # tuple.__new__ skips NamedTuple's Python-level constructor (hot path).
        append(_NEW(Token, (start, end, text[start:end], word if same else low[start:end], word)))
        start = end + len(parts[k + 1])
    return tokens


def social_tokens(text: str, tokens: list[Token]) -> list[Token]:
    """The tokens of `tokenize(text, social=False)` that lie outside links, handles, entities."""
    noise = (
        [m.span() for m in NOISE_RE.finditer(text)]
        if ("@" in text or "/" in text or "&" in text or "{" in text or "[" in text)
        else []
    )
    if not noise:
        return tokens
    kept: list[Token] = []
    spans = iter(noise)
    start, end = next(spans)
    past = len(text) + 1
    for token in tokens:  # one walk: tokens and noise spans are both in text order
        while token.start >= end:
            start, end = next(spans, (past, past))
        if not start <= token.start < end:
            kept.append(token)
    return kept


def bounded_cache(cache: dict[str, Any], limit: int = 200_000) -> None:
    """Empty a per-word memo when it grows past `limit` entries (vocabularies are open)."""
    if len(cache) > limit:
        cache.clear()
