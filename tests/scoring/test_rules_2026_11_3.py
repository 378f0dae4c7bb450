"""Rules of engine 2026.11.3 on sentences the team wrote (EN and PL): licence-clean weights,
per-language thresholds, addressed insults, grawlixes, weak entries that must not hide strong
ones, mild Polish stems and the team's Polish valence corrections."""

from __future__ import annotations

from importlib import resources

import pytest

from monitoring.scoring import OFFENSIVE_THRESHOLDS, Score, score_batch
from monitoring.scoring.offensive import LEXICON, find_spans
from monitoring.scoring.sentiment import PL_LEMMAS


def one(text: str, lang: str | None = None) -> Score:
    return score_batch([text], language_hints=[lang] if lang else None)[0]


def spans(text: str, lang: str | None = None) -> list[tuple[str, str, float]]:
    return [(s.text, s.rule, w) for s, w in find_spans(text, lang)]


# --- the shipped list ----------------------------------------------------------------------------


def test_shipped_list_names_only_permitted_sources() -> None:
    text = resources.files("monitoring.scoring").joinpath("data/offensive.tsv").read_text("utf-8")
    sources = {line.split("\t")[4] for line in text.splitlines() if not line.startswith("#")}
    assert sources == {"ldnoobw", "ldnoobw_v2", "banpl"}


@pytest.mark.parametrize(
    "form",
    # everyday words the noisy V2 lists hold: a duchess, an egg, "bigger", "to sit", "faith"
    ["ksiezna", "erekcja", "pochwa", "jajko", "bigger", "sit", "faith"],
)
def test_everyday_words_never_flag_alone(form: str) -> None:
    entry = LEXICON.get(form)
    assert entry is None or entry.weight < min(OFFENSIVE_THRESHOLDS.values())


def test_polish_stem_strengths_are_ordered() -> None:
    # Strongest vulgarity > insults > mild words ("gówno", "dupa", "burdel" = a mess).
    assert LEXICON["kurwa"].weight > LEXICON["debil"].weight > LEXICON["gowno"].weight
    assert LEXICON["burdel"].weight < LEXICON["dupa"].weight
    assert LEXICON["kurwa"].weight >= OFFENSIVE_THRESHOLDS["pl"]
    assert LEXICON["gowno"].weight < OFFENSIVE_THRESHOLDS["pl"]


# --- thresholds per language ---------------------------------------------------------------------


def test_threshold_follows_the_language() -> None:
    en, pl = one("you are so stupid", "en"), one("Jesteś idiotą", "pl")
    assert en.explanation["offensive"]["threshold"] == OFFENSIVE_THRESHOLDS["en"]
    assert pl.explanation["offensive"]["threshold"] == OFFENSIVE_THRESHOLDS["pl"]


# --- addressed insults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("addressed", "about_a_thing"),
    [
        ("you are so stupid", "this stupid printer jammed again"),
        ("Jesteś debilem", "Ten serial o debilach był słaby"),
        ("Ty gówno", "To gówno prawda"),
    ],
)
def test_a_weak_insult_aimed_at_the_reader_flags(addressed: str, about_a_thing: str) -> None:
    aimed, plain = one(addressed), one(about_a_thing)
    assert aimed.offensive
    assert not plain.offensive
    assert aimed.explanation["offensive"]["spans"][0]["rule"].endswith("+addressed")
    assert aimed.toxicity > plain.toxicity > 0


def test_strong_words_are_not_raised_further() -> None:
    (plain,) = spans("kurwa mać", "pl")
    (aimed,) = spans("ty kurwo", "pl")
    assert aimed[2] == plain[2]
    assert "addressed" not in aimed[1]


# --- grawlix -------------------------------------------------------------------------------------


def test_a_grawlix_counts_less_than_a_legible_mask() -> None:
    (grawlix,) = spans("a to k@#$a było", "pl")
    (legible,) = spans("a to k*rwa było", "pl")
    assert grawlix[0] == "k@#$a"
    assert grawlix[1].endswith("+grawlix")
    assert grawlix[2] < legible[2]
    assert not one("a to k@#$a było", "pl").offensive
    assert one("a to k*rwa było", "pl").offensive


def test_repeated_single_symbol_is_not_a_grawlix() -> None:
    ((text, rule, _),) = spans("what the f**k", "en")
    assert text == "f**k"
    assert "grawlix" not in rule


# --- weak entries do not hide strong readings ---------------------------------------------


def test_a_weaker_phrase_does_not_hide_a_stronger_word() -> None:
    found = spans("I fucking hate mondays", "en")
    assert found[0][0] == "fucking"
    assert found[0][2] > 0.9
    assert one("I fucking hate mondays", "en").offensive


def test_a_productive_root_outweighs_a_weak_listed_form() -> None:
    ((text, rule, weight),) = spans("what a fucktard", "en")
    assert (text, rule) == ("fucktard", "root:fuck")
    assert weight >= 0.9


# --- false friends and mild spellings -----------------------------------------------------


@pytest.mark.parametrize(
    "text", ["PiSSS znowu wygrał wybory", "Opowiadasz pierdoły", "Znowu jakieś pierdółki"]
)
def test_polish_ordinary_words_are_not_flagged(text: str) -> None:
    assert spans(text, "pl") == []


# --- the team's Polish valence corrections -------------------------------------------------------


def test_valence_overrides_apply() -> None:
    assert PL_LEMMAS["fatalnie"] <= -1.5  # "terribly"; polvader's k-NN guess left it at -0.74
    assert "znajomy" not in PL_LEMMAS  # "an acquaintance" carries no opinion (was +1.43)


def test_fatalnie_reads_negative_and_acquaintances_neutral() -> None:
    assert one("Fatalnie!", "pl").sentiment_label == "negative"
    assert one("Spotkałem znajomych w sklepie", "pl").sentiment_label == "neutral"
    words = {
        c["token"]
        for c in one("Wczoraj było fatalnie", "pl").explanation["sentiment"]["contributions"]
    }
    assert "fatalnie" in words
