"""Polish lemmas from simplemma's shipped dictionary (loaded once, on first use)."""

from __future__ import annotations

from functools import lru_cache

import simplemma


@lru_cache(maxsize=200_000)
def lemma_pl(word: str) -> str:
    """The Polish lemma of a lower-cased word, or the word itself when the dictionary lacks it."""
    return str(simplemma.lemmatize(word, lang="pl"))


def warm() -> None:
    """Load the Polish dictionary now (a few seconds) rather than on the first mention."""
    lemma_pl("kryzysu")
