"""Impoliteness of a request or reply (English): hand-set politeness strategies, no training.

Cues follow the politeness strategies of Danescu-Niculescu-Mizil et al. (2013): gratitude,
"please", apologies, hedges, indirect requests and greetings soften; direct questions, a leading
"you", commands, factuality markers ("actually", "obviously"), negative sentiment and offensive
words harden. Weights are set by hand (the politeness corpus may not train what ships); only the
decision threshold was tuned on dev data.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from monitoring.scoring import offensive as _offensive
from monitoring.scoring import sentiment as _sentiment
from monitoring.scoring.text import tokenize

# Tuned on the dev file (politeness_wikipedia): 0.5 until 2026.11.5; 0.55 since 2026.11.6, where
# false flags on polite requests fall from 10.6% to 7.3% (README baseline 11.5%) for recall
# 0.605 -> 0.500 (baseline 0.339). A gate that warns on one polite reply in ten gets ignored.
IMPOLITE_THRESHOLD = 0.55
BIAS = -0.4

# (cue, weight): negative softens, positive hardens. Single folded words or word pairs.
_WORD_CUES: dict[str, float] = {
    "please": -0.9,
    "pls": -0.5,
    "thanks": -1.2,
    "thank": -1.2,
    "thx": -0.8,
    "appreciate": -1.0,
    "grateful": -1.0,
    "sorry": -0.8,
    "apologies": -0.8,
    "apologize": -0.8,
    "hi": -0.5,
    "hello": -0.5,
    "hey": -0.2,
    "dear": -0.4,
    "perhaps": -0.5,
    "maybe": -0.4,
    "might": -0.3,
    "possibly": -0.4,
    "suggest": -0.4,
    "wonder": -0.6,
    "wondering": -0.7,
    "hope": -0.4,
    "welcome": -0.4,
    "great": -0.3,
    "nice": -0.3,
    "good": -0.2,
    "kindly": -0.5,
    "help": -0.2,
    "we": -0.2,
    "let's": -0.3,
    "glad": -0.4,
    "feel": -0.2,
    "think": -0.2,
    "believe": -0.1,
    "actually": 0.5,
    "obviously": 0.7,
    "clearly": 0.5,
    "seriously": 0.8,
    "really": 0.2,
    "why": 0.9,
    "nonsense": 1.0,
    "ridiculous": 1.0,
    "wrong": 0.5,
    "stop": 0.8,
    "again": 0.2,
    "yourself": 0.5,
    "never": 0.3,
    "already": 0.3,
    "even": 0.3,
    "just": 0.2,
    "instead": 0.3,
    "fact": 0.4,
    "point": 0.2,
    "explain": 0.4,
    "supposed": 0.5,
    "bother": 0.5,
    "idea": 0.1,
}
_PAIR_CUES: dict[tuple[str, str], float] = {
    ("could", "you"): -0.6,
    ("would", "you"): -0.6,
    ("can", "you"): -0.2,
    ("will", "you"): 0.1,
    ("do", "you"): 0.2,
    ("did", "you"): 0.5,
    ("are", "you"): 0.4,
    ("have", "you"): 0.3,
    ("i", "think"): -0.3,
    ("i", "guess"): -0.3,
    ("by", "the"): -0.2,
    ("what", "the"): 0.8,
    ("how", "come"): 0.8,
    ("in", "fact"): 0.5,
    ("you", "should"): 0.5,
    ("you", "need"): 0.5,
    ("don't", "you"): 0.7,
    ("why", "did"): 0.6,
    ("why", "would"): 0.5,
    ("what", "is"): 0.2,
}
_LEADING_CUES: dict[str, float] = {"you": 0.7, "why": 0.6, "what": 0.4, "so": 0.4, "no": 0.5}
_YOU_WEIGHT = 0.25  # each "you"/"your" beyond the first
_SENTIMENT_WEIGHT = 1.2  # times -compound
_OFFENSIVE_WEIGHT = 2.0


@dataclass(frozen=True, slots=True)
class Tone:
    """How impolite a text reads: a score in [0, 1], the decision, and the cues behind it."""

    score: float
    impolite: bool
    cues: tuple[tuple[str, float], ...]


def impoliteness(text: str) -> Tone:
    """Score the tone of an English request or reply; higher is ruder."""
    tokens = tokenize(text)
    words = [t.folded for t in tokens]
    cues: list[tuple[str, float]] = []
    for word in words:
        if word in _WORD_CUES:
            cues.append((word, _WORD_CUES[word]))
    for pair in itertools.pairwise(words):
        if pair in _PAIR_CUES:
            cues.append((" ".join(pair), _PAIR_CUES[pair]))
    if words and words[0] in _LEADING_CUES:
        cues.append((f"starts:{words[0]}", _LEADING_CUES[words[0]]))
    you = sum(w in ("you", "your", "you're") for w in words)
    if you > 1:
        cues.append(("second person", _YOU_WEIGHT * (you - 1)))
    if text.count("?") > 1:
        cues.append(("repeated questions", 0.3 * (text.count("?") - 1)))
    if "!" in text:
        cues.append(("exclamation", 0.4))
    compound, _ = _sentiment.compound_score(text, tokens, "en")
    if compound:
        cues.append(("sentiment", -_SENTIMENT_WEIGHT * compound))
    if _offensive.find_spans(text, "en"):
        cues.append(("offensive", _OFFENSIVE_WEIGHT))
    total = BIAS + sum(weight for _, weight in cues)
    score = 1.0 / (1.0 + math.exp(-total))
    return Tone(round(score, 4), score >= IMPOLITE_THRESHOLD, tuple(cues))
