"""Rules of engine 2026.11.6 on sentences the team wrote.

English words that mark offense only in company ("fat", "ugly", "suck", "dumb") are capped below
the threshold by the lexicon build's sole-evidence pass: alone they no longer flag, aimed at the
reader or next to another cue they still do. The negative sentiment bound is VADER's own -0.05.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from monitoring.scoring import ENGINE_VERSION, NEGATIVE_THRESHOLD, Score, score_batch
from monitoring.scoring.offensive import LEXICON

ROOT = Path(__file__).resolve().parents[2]


def one(text: str, lang: str = "en") -> Score:
    return score_batch([text], language_hints=[lang])[0]


def test_engine_version() -> None:
    assert ENGINE_VERSION == "2026.11.6"


@pytest.mark.parametrize("word", ["fat", "ugly", "suck", "dumb", "sex"])
def test_words_that_offend_only_in_company_are_secondary_cues(word: str) -> None:
    assert LEXICON[word].weight == 0.65


@pytest.mark.parametrize(
    "text",
    [
        "The fat cat slept on the warm laptop all afternoon",
        "That ugly orange casing is the only thing I would change",
        "Honestly the new checkout flow is a dumb idea",
        "These batteries suck, they died after a week",
        "The sex education leaflet had a typo on page two",
    ],
)
def test_a_secondary_cue_alone_does_not_flag(text: str) -> None:
    score = one(text)
    assert not score.offensive
    assert 0 < score.toxicity < score.explanation["offensive"]["threshold"]


@pytest.mark.parametrize(
    "text",
    [
        "You are so ugly",  # aimed at the reader
        "you suck",
        "You are dumb",
        "shut up, you fat liar",  # with an insult frame
        "that ugly bitch again",  # with a strong word
    ],
)
def test_a_secondary_cue_aimed_or_in_company_still_flags(text: str) -> None:
    assert one(text).offensive


def test_strong_words_keep_their_weight() -> None:
    assert LEXICON["bitch"].weight > 0.95
    assert LEXICON["shit"].weight > 0.95


def test_the_negative_bound_is_vaders() -> None:
    assert NEGATIVE_THRESHOLD == -0.05
    score = one("Honestly a bit disappointed")  # compound -0.07: neutral under 2026.11.5's -0.078
    assert -0.078 < score.sentiment <= NEGATIVE_THRESHOLD
    assert score.sentiment_label == "negative"


# --- the lexicon build's sole-evidence pass -----------------------------------------------


@pytest.fixture(scope="module")
def build() -> Iterator[ModuleType]:
    path = ROOT / "scripts" / "build_scoring_lexicons.py"
    spec = importlib.util.spec_from_file_location("build_scoring_lexicons", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _rows(*groups: tuple[int, set[str], bool]) -> list[tuple[set[str], bool]]:
    return list(itertools.chain.from_iterable([(grams, off)] * n for n, grams, off in groups))


def test_sole_evidence_caps_a_word_clean_on_its_own(build: ModuleType) -> None:
    rows = {
        ("en", "chubby"): ("chubby", "en", "vulgar", 0.9, "ldnoobw_v2"),
        ("en", "slurx"): ("slurx", "en", "slur", 0.97, "ldnoobw"),
        ("pl", "chubby"): ("chubby", "pl", "vulgar", 0.9, "banpl"),
    }
    texts = _rows(
        (40, {"chubby", "slurx", "the"}, True),  # in company: offensive
        (8, {"chubby", "cat"}, False),  # alone: clean
        (1, {"chubby"}, True),
        (30, {"slurx"}, True),
        (60, {"nice", "day"}, False),
    )
    capped = build.cap_by_sole_evidence(rows, texts)
    assert capped[("en", "chubby")][3] == build.SECONDARY_WEIGHT
    assert capped[("en", "slurx")][3] == 0.97  # offensive alone too
    assert capped[("pl", "chubby")][3] == 0.9  # Polish weights are not fitted on English rows


def test_sole_evidence_needs_support(build: ModuleType) -> None:
    rows = {
        ("en", "chubby"): ("chubby", "en", "vulgar", 0.9, "ldnoobw_v2"),
        ("en", "slurx"): ("slurx", "en", "slur", 0.97, "ldnoobw"),
    }
    texts = _rows(
        (40, {"chubby", "slurx"}, True),
        (build.MIN_SOLE_SUPPORT - 1, {"chubby"}, False),  # too few rows alone to judge
        (60, {"nice"}, False),
    )
    assert build.cap_by_sole_evidence(rows, texts)[("en", "chubby")][3] == 0.9
