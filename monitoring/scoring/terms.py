"""Watch-term matching: multi-word EN/PL phrases, inflection-tolerant, one index probe per key."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from monitoring.scoring.lemmas import lemma_pl
from monitoring.scoring.text import Token, bounded_cache, fold, tokenize

# Polish (and English) inflectional endings, folded (no diacritics). A text word matches a term
# word when both reduce to the same stem: "kryzys" ~ "kryzysu", "kryzysem", "kryzysow".
_SUFFIXES = tuple(
    sorted(
        {
            "a",
            "e",
            "i",
            "o",
            "u",
            "y",
            "s",
            "es",
            "'s",
            "ach",
            "ami",
            "om",
            "ow",
            "em",
            "ie",
            "ia",
            "ii",
            "iu",
            "iem",
            "iom",
            "iach",
            "iami",
            "ego",
            "emu",
            "ej",
            "ym",
            "ymi",
            "ich",
            "im",
            "imi",
            "owi",
            "owie",
            "owa",
            "owe",
            "owy",
            "owej",
            "owego",
            "owych",
            "owym",
        },
        key=len,
        reverse=True,
    )
)
_MIN_STEM = 3
# Term words this short only match themselves, their lemma, or as a whole stem ("bank" ~ "banku").
_SHORT = 4


def _variants(word: str) -> set[str]:
    """The folded word and each stem left by stripping one known ending (stem >= 3 letters)."""
    keys = {word}
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            keys.add(word[: -len(suffix)])
    return keys


_KEYS: dict[str, frozenset[str]] = {}


def _text_keys(token: Token) -> frozenset[str]:
    """Keys a text word matches under: folded form, its stems, its lemma and the lemma's stems."""
    keys = _KEYS.get(token.low)
    if keys is None:
        variants = _variants(token.folded)
        lemma = lemma_pl(token.low)
        if lemma != token.low:
            variants |= _variants(fold(lemma))
        bounded_cache(_KEYS)
        keys = _KEYS[token.low] = frozenset(variants)
    return keys


def _term_keys(word_low: str) -> frozenset[str]:
    """Keys of a term word; words of four letters or fewer only match themselves or their lemma."""
    word = fold(word_low)
    lemma = fold(lemma_pl(word_low))
    if len(word) <= _SHORT:
        return frozenset({word, lemma})
    return frozenset(_variants(word) | _variants(lemma))


def _rest_matches(keys: tuple[frozenset[str], ...], tokens: list[Token], i: int) -> bool:
    """Whether the words after token i match a multi-word term's second and later words."""
    for j in range(1, len(keys)):  # noqa: SIM110 - hot path: no generator per candidate term
        if keys[j].isdisjoint(_text_keys(tokens[i + j])):
            return False
    return True


class _ProbeBudget:
    """One bound for every matcher's probe memo: a worker keeps a matcher per organisation, so
    a bound per matcher would multiply with the organisations. Past `limit` entries in all,
    every memo is emptied (as `bounded_cache` does for one memo)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.live: weakref.WeakSet[TermMatcher] = weakref.WeakSet()

    def take_one(self) -> None:
        if self.used >= self.limit:
            for matcher in list(self.live):
                matcher._probes.clear()
            self.used = 0
        self.used += 1


_PROBES = _ProbeBudget(limit=200_000)


@dataclass(frozen=True, slots=True)
class TermHit:
    """A watch term found in a text; start/end index the original text."""

    term_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class _Term:
    term_id: str
    keys: tuple[frozenset[str], ...]


class TermMatcher:
    """An organisation's watch terms; build once, then `find` costs the same for 10 or 1,000."""

    def __init__(self, terms: Iterable[tuple[str, str]]) -> None:
        self._index: dict[str, list[_Term]] = {}
        self._keys: frozenset[str] = frozenset()
        # Per text word (lower-cased): the index keys it matches under, usually none. A matcher
        # lives as long as its organisation's terms, so each word is probed once; all matchers'
        # memos share one bound (_PROBES).
        self._probes: dict[str, tuple[str, ...]] = {}
        _PROBES.live.add(self)
        self.size = 0
        for term_id, phrase in terms:
            words = [t.low for t in tokenize(phrase, social=False)]
            if not words:
                continue
            term = _Term(term_id, tuple(_term_keys(w) for w in words))
            for key in term.keys[0]:
                self._index.setdefault(key, []).append(term)
            self.size += 1
        self._keys = frozenset(self._index)

    def find(self, text: str) -> list[TermHit]:
        """Every watch-term occurrence, leftmost first; one probe of the index per key of a word."""
        if not self._index:
            return []
        return self.find_in(text, tokenize(text, social=False))

    def _probe(self, token: Token) -> tuple[str, ...]:
        _PROBES.take_one()
        found = self._probes[token.low] = tuple(self._keys.intersection(_text_keys(token)))
        return found

    def find_in(self, text: str, tokens: list[Token]) -> list[TermHit]:
        """`find` over tokens already made by `tokenize(text, social=False)`."""
        probes = self._probes
        hits: list[TermHit] = []
        seen: set[tuple[str, int]] = set()
        count = len(tokens)
        for i, token in enumerate(tokens):
            # One memo lookup per word, whatever the number of terms.
            found = probes.get(token.low)
            if found is None:
                found = self._probe(token)
            for key in found:
                for term in self._index[key]:
                    end = i + len(term.keys)
                    if end > count or (term.term_id, i) in seen:
                        continue
                    if end > i + 1 and not _rest_matches(term.keys, tokens, i):
                        continue
                    seen.add((term.term_id, i))
                    start, stop = token.start, tokens[end - 1].end
                    hits.append(TermHit(term.term_id, start, stop, text[start:stop]))
        hits.sort(key=lambda h: (h.start, h.end, h.term_id))
        return hits
