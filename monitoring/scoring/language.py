"""Cheap offline EN/PL language identification from frequent words and Polish letters."""

from __future__ import annotations

from typing import Any

from monitoring.scoring.text import Token

# Frequent words, folded (no diacritics). Words common to both languages are removed below.
EN_WORDS = frozenset(
    """the a an and or but if of to in on at by for with from as is are was were be been being
    am do does did have has had i you he she it we they me him her us them my your his its our
    their this that these those what which who whom whose when where why how not no yes all any
    some just so than too very can will would should could shall may might must about into over
    after before out up down off again then there here only also don't can't it's i'm you're
    isn't doesn't didn't won't that's what's there's let's love like good great new best happy
    day get got go know want people time today lol thank thanks birthday one feel see make need
    really back now still via because""".split()  # noqa: SIM905
)
PL_WORDS = frozenset(
    """i w z na nie sie to jest ze do o jak co ale po tak za od czy juz tylko jego jej ich mnie
    mi ty ja my wy oni on ona ono tym tego tej ten ta te sa byl byla bylo byli beda bedzie
    jestem jestes jestesmy kiedy gdzie dlaczego bo wiec przez przy pod nad dla bez tez jeszcze
    moze mozna bardzo teraz tu tam jako jaki jaka jakie ktory ktora ktore ktorzy sobie siebie
    nic nikt wszystko wszyscy gdy aby zeby albo oraz lub czyli moj twoj nasz wasz mam masz ma
    mamy maja no nawet chyba zawsze nigdy dzis jutro wczoraj a go kto dzieki spoko szkoda
    witam dobry fajny dobrze zle wiem""".split()  # noqa: SIM905
)
_SHARED = EN_WORDS & PL_WORDS  # "i", "no", "to", "on" mean something in both
EN_WORDS = EN_WORDS - _SHARED
PL_WORDS = PL_WORDS - _SHARED
PL_LETTERS = frozenset("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
MIN_CONFIDENCE = 0.6


def detect(tokens: list[Token]) -> tuple[str, float, dict[str, Any]]:
    """("en" | "pl" | "und", confidence, evidence): frequent-word and Polish-letter counts."""
    words = [t.folded for t in tokens]
    en = sum(map(EN_WORDS.__contains__, words))
    pl = sum(map(PL_WORDS.__contains__, words))
    letters = sum([not PL_LETTERS.isdisjoint(t.raw) for t in tokens if not t.raw.isascii()])
    pl_score = pl + letters
    total = en + pl_score
    evidence = {
        "en_words": en,
        "pl_words": pl,
        "pl_letter_words": letters,
    }
    if total == 0 or pl_score == en:
        return "und", 0.0 if total == 0 else 0.5, evidence
    best, score = ("pl", pl_score) if pl_score > en else ("en", en)
    confidence = round((score + 0.5) / (total + 1.0), 3)
    if confidence < MIN_CONFIDENCE:
        return "und", confidence, evidence
    return best, confidence, evidence
