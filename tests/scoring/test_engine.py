"""The scoring engine on sentences the team wrote: signs, rules, spans, explanations, ranges."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.scoring import (
    ENGINE_VERSION,
    Score,
    TermMatcher,
    offensive_spans,
    reach_score,
    score_batch,
)


def one(text: str, **kwargs: object) -> Score:
    return score_batch([text], **kwargs)[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love this airline, the crew was wonderful", "positive"),
        ("Worst customer service ever, I am furious", "negative"),
        ("The store opens at nine tomorrow", "neutral"),
        ("Obsługa była wspaniała, bardzo polecam", "positive"),
        ("Fatalna obsługa, jestem wściekły i rozczarowany", "negative"),
        ("Sklep otwierają jutro o dziewiątej", "neutral"),
    ],
)
def test_sentiment_sign(text: str, label: str) -> None:
    assert one(text).sentiment_label == label


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("The update is good", "The update is not good"),
        ("Jest dobrze", "Nie jest dobrze"),
        ("Ta aplikacja jest dobra", "Ta aplikacja wcale nie jest dobra"),
    ],
)
def test_negation_flips_sign(plain: str, negated: str) -> None:
    assert one(plain).sentiment > 0 > one(negated).sentiment
    modifiers = [
        m for c in one(negated).explanation["sentiment"]["contributions"] for m in c["modifiers"]
    ]
    assert any(m.startswith("negation:") for m in modifiers)


def test_negation_stops_at_clause_punctuation() -> None:
    # "nie" negates "polecam" only; "porażka" after the comma stays negative.
    contributions = one("Nie polecam, totalna porażka").explanation["sentiment"]["contributions"]
    modifiers = {c["token"]: c["modifiers"] for c in contributions}
    assert modifiers["polecam"] == ["negation:Nie"]
    assert modifiers["porażka"] == []
    assert one("Nie polecam, totalna porażka").sentiment_label == "negative"


@pytest.mark.parametrize(
    ("plain", "boosted"),
    [("The support was bad", "The support was extremely bad"), ("Zły serwis", "Bardzo zły serwis")],
)
def test_intensifier_strengthens(plain: str, boosted: str) -> None:
    assert one(boosted).sentiment < one(plain).sentiment < 0


def test_polish_inflected_forms_carry_valence() -> None:
    # "porażką" (instrumental of "porażka") only scores through its lemma.
    score = one("Ta kampania okazała się porażką")
    assert score.sentiment < 0
    assert score.language == "pl"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("We are looking into the outage and will update you soon", "en"),
        ("Pracujemy nad awarią i wkrótce damy znać", "pl"),
        ("Dziekujemy za cierpliwosc, to byl trudny dzien", "pl"),
        ("a kto go tu zaprosił?", "pl"),
        ("Świetna obsługa, dziękuję", "pl"),
        ("12345 !!!", "und"),
    ],
)
def test_language(text: str, language: str) -> None:
    assert one(text).language == language


def test_language_hint_overrides_detection() -> None:
    score = one("ok", language_hints=["pl"])
    assert (score.language, score.language_confidence) == ("pl", 1.0)
    assert score.explanation["language"]["evidence"]["hint"] == "pl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("co za kurwa dzień", "kurwa"),
        ("no k.u.r.w.a serio", "k.u.r.w.a"),
        ("ta k*rwa znowu", "k*rwa"),
        ("kurw4 mać", "kurw4"),
        ("kuuurwaaa mać", "kuuurwaaa"),
        ("a to k***a było", "k***a"),
        ("wszystko wyj%?$ne w kosmos", "wyj%?$ne"),
        ("nie mam ani chuja", "chuja"),
        ("pierdolę to", "pierdolę"),
        ("spierdalaj stąd", "spierdalaj"),
        ("what the f u c k is this", "f u c k"),
        ("a f u c k i t moment", "f u c k"),
        ("this is bullsh1t", "bullsh1t"),
        ("what the FUUUCK", "FUUUCK"),
    ],
)
def test_offensive_spans_are_exact(text: str, expected: str) -> None:
    spans = offensive_spans(text)
    assert [s.text for s in spans] == [expected]
    assert text[spans[0].start : spans[0].end] == expected
    assert spans[0].category
    assert spans[0].rule


@pytest.mark.parametrize(
    "text",
    [
        "Kupiłem jajka i kurczaka na obiad",
        "The class passed the assessment in Scunthorpe",
        "Please retweet, the shop is open",
        "Nie wiem, co o tym myśleć",
    ],
)
def test_clean_text_is_not_flagged(text: str) -> None:
    score = one(text)
    assert not score.offensive
    assert score.explanation["offensive"]["spans"] == []


def test_offensive_text_is_flagged_with_toxicity() -> None:
    score = one("You are a fucking idiot")
    assert score.offensive
    assert score.toxicity >= 0.5


def test_matcher_multiword_and_inflection() -> None:
    matcher = TermMatcher([("crisis", "kryzys"), ("brand", "Bank Zachodni"), ("en", "data breach")])
    text = "Kryzysu w Banku Zachodnim nie widać, ale po kryzysem i Data breaches już tak"
    hits = matcher.find(text)
    assert [(h.term_id, h.text) for h in hits] == [
        ("crisis", "Kryzysu"),
        ("brand", "Banku Zachodnim"),
        ("crisis", "kryzysem"),
        ("en", "Data breaches"),
    ]
    assert all(text[h.start : h.end] == h.text for h in hits)


def test_matcher_is_case_and_diacritics_insensitive() -> None:
    matcher = TermMatcher([("t", "Łódź")])
    assert [h.text for h in matcher.find("LODZ i łodzi")] == ["LODZ", "łodzi"]


def test_matcher_short_words_stay_strict() -> None:
    matcher = TermMatcher([("t", "date")])
    assert matcher.find("the data was wrong, save the dates") == [
        h for h in matcher.find("the data was wrong, save the dates") if h.text == "dates"
    ]
    assert [h.text for h in matcher.find("save the dates")] == ["dates"]


class CountingKeys(frozenset[str]):
    """Counts probes of the matcher's key set: cost asserted on operations, not timings."""

    probes = 0

    def intersection(self, *others: Iterable[object]) -> frozenset[str]:
        CountingKeys.probes += 1
        return super().intersection(*others)


def probes(n_terms: int, text: str) -> tuple[int, list[str]]:
    matcher = TermMatcher([(f"t{i}", f"marka{i} produkt") for i in range(n_terms)])
    matcher._keys = CountingKeys(matcher._keys)
    CountingKeys.probes = 0
    hits = matcher.find(text)
    return CountingKeys.probes, [h.term_id for h in hits]


def test_matcher_cost_is_flat_in_the_number_of_terms() -> None:
    text = "Marka5 produkt znowu nie działa, a marka9 produktem nikt się nie chwali " * 3
    small, large = probes(10, text), probes(1_000, text)
    assert small == large
    # One probe per distinct word (12 words, "nie" twice): repeats are answered by the memo.
    assert small[0] == 11
    assert small[1] == ["t5", "t9"] * 3


def test_engine_version_and_json_explanation() -> None:
    matcher = TermMatcher([("t", "outage")])
    score = one("Another OUTAGE?! This is NOT ok, you idiots 😡", matcher=matcher)
    assert score.engine_version == ENGINE_VERSION != ""
    payload = json.loads(json.dumps(score.explanation))
    assert payload["sentiment"]["contributions"]
    assert payload["offensive"]["spans"][0]["rule"]
    assert "thresholds" in payload["sentiment"]


def test_hints_must_match_texts() -> None:
    with pytest.raises(ValueError, match="as long as"):
        score_batch(["a", "b"], language_hints=["en"])


@pytest.mark.parametrize(
    ("followers", "expected"),
    [(None, 0.0), (0, 0.0), (-5, 0.0), (10_000_000, 1.0), (10**12, 1.0)],
)
def test_reach_bounds(followers: int | None, expected: float) -> None:
    assert reach_score(followers) == expected


def test_reach_is_monotonic_and_log_scaled() -> None:
    values = [reach_score(n) for n in (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)]
    assert values == sorted(values)
    steps = [b - a for a, b in itertools.pairwise(values[1:])]
    assert max(steps) - min(steps) < 0.01


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=5))
def test_never_raises_and_keeps_ranges(texts: list[str]) -> None:
    matcher = TermMatcher([("a", "kryzys"), ("b", "data breach")])
    for text, score in zip(texts, score_batch(texts, matcher=matcher), strict=True):
        assert -1.0 <= score.sentiment <= 1.0
        assert 0.0 <= score.toxicity <= 1.0
        assert 0.0 <= score.language_confidence <= 1.0
        assert score.language in {"en", "pl", "und"}
        assert score.sentiment_label in {"negative", "neutral", "positive"}
        json.dumps(score.explanation)
        for span in offensive_spans(text):
            assert text[span.start : span.end] == span.text
        for hit in score.term_hits:
            assert text[hit.start : hit.end] == hit.text


def test_false_friends_only_count_in_their_own_language() -> None:
    assert offensive_spans("what a dupe that ad was", "en") == []
    assert [s.text for s in offensive_spans("w dupę z tym", "pl")] == ["dupę"]


def test_language_narrows_the_lists_but_strong_words_cross() -> None:
    assert [s.text for s in offensive_spans("kurwa, the update broke again", "en")] == ["kurwa"]


def test_probe_memos_of_all_matchers_share_one_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitoring.scoring import terms

    monkeypatch.setattr(terms, "_PROBES", terms._ProbeBudget(limit=3))
    outage, refund = TermMatcher([("o", "outage")]), TermMatcher([("r", "refund")])
    outage.find("one two")
    refund.find("three")
    assert len(outage._probes) + len(refund._probes) == 3
    refund.find("four")  # a fourth word in all empties every matcher's memo first
    assert (len(outage._probes), len(refund._probes)) == (0, 1)
    assert [h.term_id for h in outage.find("another outage")] == ["o"]
