"""Insult frames of engine 2026.11.4 (monitoring/scoring/insults.py) on sentences the team wrote:
a judging word aimed at a person is an insult even when no word list holds it; the same word
denied, reported or said of a thing is not."""

from __future__ import annotations

import pytest

from monitoring.scoring import ENGINE_VERSION, OFFENSIVE_THRESHOLDS, Score, score_batch
from monitoring.scoring.insults import EN_JUDGING, EN_WEAK_WEIGHT, PL_WEAK_WEIGHT
from monitoring.scoring.offensive import find_spans


def one(text: str, lang: str | None = None) -> Score:
    return score_batch([text], language_hints=[lang] if lang else None)[0]


def frames(text: str, lang: str | None = None) -> list[tuple[str, str, float]]:
    return [(s.text, s.rule, w) for s, w in find_spans(text, lang) if "frame:" in s.rule]


def test_engine_version_bumped() -> None:
    version = tuple(int(part) for part in ENGINE_VERSION.split("."))
    assert version >= (2026, 11, 4)  # 2026.11.5 pins itself in test_rules_2026_11_5.py


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Honestly, you are a liar and everybody in this thread knows it.", "liar"),
        ("The new coach is such a clown.", "clown"),
        ("she's a complete fraud", "fraud"),
        ("Those two senators are hypocrites, nothing more.", "hypocrites"),
        ("She is a despicable disgrace.", "disgrace"),  # the head noun, not its modifier
    ],
)
def test_person_noun_predicate_flags(text: str, word: str) -> None:
    score = one(text, "en")
    assert score.offensive
    assert any(t == word and r.endswith("frame:predicate") for t, r, _ in frames(text, "en"))


@pytest.mark.parametrize(
    "text",
    [
        "What a hypocrite, honestly.",
        "Get out of my mentions, you clown!",
        "these scumbags again",
        "what a bunch of losers",
    ],
)
def test_vocatives_and_exclamations_flag(text: str) -> None:
    assert one(text, "en").offensive
    assert any(r.endswith("frame:vocative") for _, r, _ in frames(text, "en"))


@pytest.mark.parametrize(
    "text",
    ["Shut up and read the report.", "Go to hell with your promo codes", "screw you, seriously"],
)
def test_dismissive_imperatives_flag(text: str) -> None:
    assert one(text, "en").offensive
    assert any(r.endswith("frame:imperative") for _, r, _ in frames(text, "en"))


@pytest.mark.parametrize(
    "text",
    [
        "I don't think he is a liar, he just misremembered.",  # denied in the clause
        "He is not a fraud.",
        "She is lying on the beach all week",  # a verb form, not a judgement
        "He is sad and tired after the match",  # feelings describe, they do not judge
    ],
)
def test_denied_or_descriptive_frames_do_not_flag(text: str) -> None:
    assert frames(text, "en") == []
    assert not one(text, "en").offensive


@pytest.mark.parametrize(
    "text",
    [
        "The council wants to shut up every critic.",  # infinitive: a statement, not an order
        "You will shut up once you see the numbers",  # modal
        "It is a terrorist organisation according to the report",  # modifier of a thing
    ],
)
def test_statements_are_not_imperatives_or_insults(text: str) -> None:
    assert frames(text, "en") == []


def test_judging_adjective_alone_stays_under_threshold_but_counts_with_more() -> None:
    alone = one("He is pathetic.", "en")
    assert alone.toxicity == EN_WEAK_WEIGHT < OFFENSIVE_THRESHOLDS["en"]
    assert not alone.offensive
    both = one("He is pathetic. What a moron.", "en")
    assert both.offensive


def test_vader_judging_words_exclude_verb_forms_and_feelings() -> None:
    assert "liar" in EN_JUDGING
    assert "pathetic" in EN_JUDGING
    assert not {"lying", "killing", "sad", "dead", "hurt", "worst"} & EN_JUDGING


def test_frame_raises_a_weak_listed_word_and_keeps_a_strong_one() -> None:
    weak = {t: w for t, _, w in frames("you are an idiot", "en")}
    assert weak["idiot"] >= OFFENSIVE_THRESHOLDS["en"]
    strong = find_spans("you are a bitch", "en")
    assert max(w for _, w in strong) > 0.9  # the list weight, not lowered to the frame's


# --- Polish -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["Zamknij mordę, nikt cię nie pytał.", "spadaj stąd", "Stul pysk wreszcie"]
)
def test_polish_imperatives_flag(text: str) -> None:
    score = one(text, "pl")
    assert score.offensive
    assert any(r.endswith("frame:imperative") for _, r, _ in frames(text, "pl"))


def test_polish_judging_noun_is_a_weak_cue_that_counts_with_more() -> None:
    alone = one("ty matole", "pl")
    assert [r for _, r, _ in frames("ty matole", "pl")] == ["frame:pl"]
    assert alone.toxicity == PL_WEAK_WEIGHT
    assert not alone.offensive
    assert one("ty matole, zamknij ryj", "pl").offensive


def test_polish_negation_cancels_the_frame() -> None:
    assert frames("ty nie jesteś debilem", "pl") == []


def test_english_frames_do_not_run_on_polish_text() -> None:
    assert frames("what a clown", "pl") == []
