"""Lexicon sentiment with negation, intensifiers, contrast and emphasis, for EN and PL.

English valences are VADER's lexicon (read from the installed vaderSentiment package); Polish
valences are polvader's lemma lexicon (data/pl_valence.tsv), looked up by simplemma lemma. The rule
layer (negation scope, boosters, "but"/"ale" contrast, capitals, exclamation marks) is ours; a
stand-alone English "no" and the "kind of"/"sort of" dampeners follow VADER 3.3.2's own rules.
"""

from __future__ import annotations

import math
import re
from importlib import resources
from typing import Any

from monitoring.scoring.lemmas import lemma_pl
from monitoring.scoring.text import Token, bounded_cache, fold

ALPHA = 15.0  # normalisation: compound = s / sqrt(s^2 + ALPHA)
NEGATION_SCALAR = -0.74
BOOST = 0.293
CAPS_BOOST = 0.733
EXCLAMATION_BOOST = 0.292
NEGATION_WINDOW = 3
CONTRAST_BEFORE, CONTRAST_AFTER = 0.5, 1.5
# Polish word norms rate words out of context and lean positive: only the excess over a dead
# zone counts, weaker entries are dropped as noise, and Polish scores are offset by PL_BIAS
# (these three were chosen on dev data, mozetic_pl).
PL_DEAD_ZONE = 0.6
PL_MIN_VALENCE = 0.1
PL_BIAS = -0.05
# Linear calibration of the lexicon score against human ratings (mean rating / 4) of the VADER
# tweets (MIT), fitted by scripts/fit_sentiment_calibration.py: questions lean negative whatever
# the words say, exclamations positive unless the words read negative (2026.11.5, a rule set by
# hand: there VADER's exclamation boost already deepens the negative compound, "sorry!!"). The
# weights were not refitted for that rule: a refit moved tweeteval by +0.005 macro-F1 but
# mozetic_en by -0.005 (docs/benchmarks.md §3).
CALIBRATION: dict[str, float] = {
    "bias": 0.0024,
    "compound": 0.6122,
    "positive": -0.0755,
    "negative": 0.0190,
    "questions": -0.1184,
    "exclamations": 0.1224,
    "negated": -0.0397,
    "no_lexicon": 0.0186,
}
PL_EXPANDED_SCALE = 1.0  # k-NN-expanded Polish entries (not hand-rated) count this much


def _vader_files() -> tuple[str, str]:
    pkg = resources.files("vaderSentiment")
    return (
        pkg.joinpath("vader_lexicon.txt").read_text("utf-8"),
        pkg.joinpath("emoji_utf8_lexicon.txt").read_text("utf-8"),
    )


def _load_en() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """VADER words, emoticons (non-alphabetic entries) and emoji valued by their descriptions."""
    lexicon_text, emoji_text = _vader_files()
    words: dict[str, float] = {}
    emoticons: dict[str, float] = {}
    for line in lexicon_text.splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        key, value = parts[0].strip(), float(parts[1])
        if re.fullmatch(r"[a-z]+(?:'[a-z]+)?", key):
            words[key] = value
        elif not key.isalnum() and not re.search(r"[a-z]{3}|\s", key):
            emoticons[key] = value
    emoji: dict[str, float] = {}
    for line in emoji_text.splitlines():
        char, _, description = line.partition("\t")
        values = [words[w] for w in description.lower().split() if w in words]
        if char and values:
            emoji[char] = max(-3.0, min(3.0, sum(values)))
    return words, emoticons, emoji


def _load_pl() -> tuple[dict[str, float], dict[str, float]]:
    """Polish lemma valences, and the same keyed by diacritic-free lemma for unaccented text."""
    data = resources.files("monitoring.scoring").joinpath("data")
    raw_values: dict[str, float] = {}
    for line in data.joinpath("pl_valence.tsv").read_text("utf-8").splitlines():
        if line.startswith("#"):
            continue
        lemma, raw, origin = line.split("\t")
        raw_values[lemma] = float(raw) * (PL_EXPANDED_SCALE if origin == "expanded" else 1.0)
    # The team's corrections of clearly wrong frequent lemmas (our judgement, documented per row).
    for line in data.joinpath("pl_valence_overrides.tsv").read_text("utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        lemma, raw, _why = line.split("\t")
        raw_values[lemma] = float(raw)
    lemmas: dict[str, float] = {}
    for lemma, value in raw_values.items():
        # Word norms rate words out of context ("sklep" 0.76): only the excess over a dead zone
        # carries sentiment in a sentence.
        value = math.copysign(max(0.0, abs(value) - PL_DEAD_ZONE), value)
        if abs(value) >= PL_MIN_VALENCE:
            lemmas[lemma] = round(value, 3)
    folded: dict[str, float] = {}
    for lemma, valence in lemmas.items():
        folded.setdefault(fold(lemma), valence)
    return lemmas, folded


EN_WORDS, EMOTICONS, EMOJI = _load_en()
PL_LEMMAS, PL_FOLDED = _load_pl()
# Single-code-point emoji only (skin tones and joiners leave the base emoji scored).
EMOJI = {char: value for char, value in EMOJI.items() if len(char) == 1}
_EMOJI_CHARS = frozenset(EMOJI)
_EMOJI_RE = re.compile(f"[{''.join(re.escape(e) for e in EMOJI)}]")


# Candidate emoticons: whitespace-delimited chunks of 2-6 characters with emoticon punctuation.
_EMOTICON_MARKS = ":;()<>|/\\^=*{}[]_"
_EMOTICON_RE = re.compile(rf"(?<!\S)(?=\S{{2,6}}(?!\S))\S*[{re.escape(_EMOTICON_MARKS)}]\S*")
_EMOTICON_CHARS = frozenset(_EMOTICON_MARKS)  # a text with none of them has no emoticon


def _contribution(token: str, start: int, value: float, kind: str) -> dict[str, Any]:
    return {
        "token": token,
        "start": start,
        "end": start + len(token),
        "valence": value,
        "base": value,
        "modifiers": [kind],
    }


EN_NEGATORS = frozenset(
    """not no never none nobody nothing nowhere neither nor without cannot cant dont doesnt didnt
    isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt aint nope""".split()  # noqa: SIM905
)
EN_BOOSTERS = {
    **dict.fromkeys(
        """absolutely amazingly awfully completely deeply enormously entirely especially
        exceptionally extremely fully greatly highly hugely incredibly intensely particularly
        purely really remarkably so substantially thoroughly totally tremendously truly
        unbelievably utterly very super most more""".split(),  # noqa: SIM905
        BOOST,
    ),
    **dict.fromkeys(
        """almost barely hardly kinda less little marginally slightly somewhat sorta partly
        scarcely occasionally""".split(),  # noqa: SIM905
        -BOOST,
    ),
}
EN_CONTRAST = frozenset({"but", "however", "yet"})
# Rule words VADER also rates as words: "no" keeps its own valence when no valenced word follows.
EN_OWN_VALENCE = frozenset({"no"})
# "no one", "no longer", "no later than", "no matter": "no" is part of a fixed phrase there.
EN_NO_PHRASES = frozenset({"one", "longer", "later", "sooner", "matter", "where"})
_NUMBER_RE = re.compile(r"\.\s*\d")


def _stands_alone(i: int, tokens: list[Token], words: list[tuple[str, float]], text: str) -> bool:
    """A "no" that negates nothing: no valenced word follows it, it does not start a fixed
    phrase, and it is not the abbreviation "No. 3"."""
    if i + 1 == len(words):
        return True
    if words[i + 1][1] or words[i + 1][0] in EN_NO_PHRASES:
        return False
    return not _NUMBER_RE.match(text, tokens[i].end)


# "kind of" / "sort of" are VADER's dampening bigrams; "kind" there is not the adjective.
EN_HEDGE_NOUNS = frozenset({"kind", "sort"})
# Polish rule words are matched on folded lemmas, so "żadnego" and "zadnego" both negate.
PL_NEGATORS = frozenset(
    {"nie", "ani", "bez", "nigdy", "zaden", "wcale", "nic", "nikt", "brak", "niezbyt", "zero"}
)
PL_BOOSTERS = {
    **dict.fromkeys(
        """bardzo mega strasznie okropnie naprawde niesamowicie totalnie kompletnie calkowicie
        wyjatkowo niezwykle szalenie ogromnie niezmiernie najbardziej bardziej zupelnie absolutnie
        ultra mocno potwornie cholernie serio""".split(),  # noqa: SIM905
        BOOST,
    ),
    **dict.fromkeys("troche nieco dosc raczej lekko prawie ledwo".split(), -BOOST),  # noqa: SIM905
}
PL_CONTRAST = frozenset({"ale", "jednak", "lecz", "natomiast", "jednakze", "chociaz"})


_MEMO: dict[str, dict[str, tuple[str, float]]] = {"en": {}, "pl": {}, "und": {}}


_CLAUSE_END = frozenset(",.;:!?\n")
_ELONGATED_RE = re.compile(r"(.)\1{2,}")


def _word(token: Token, lang: str) -> tuple[str, float]:
    """(rule key, valence) of a word in a language, memoised by its lower-cased form."""
    memo = _MEMO[lang]
    found = memo.get(token.low)
    if found is None:
        bounded_cache(memo)
        found = memo[token.low] = (_rule_key(token, lang), _valence(token, lang))
    return found


def _valence(token: Token, lang: str) -> float:
    """Lexicon valence of one word in the given language (0 when unknown)."""
    if lang == "pl":
        lemma = lemma_pl(token.low)
        value = PL_LEMMAS.get(lemma) or PL_LEMMAS.get(token.low)
        if value is None and lemma == token.low:
            value = PL_FOLDED.get(token.folded)
        return value or 0.0
    if lang == "en":
        value = EN_WORDS.get(token.low)
        if value is None and _ELONGATED_RE.search(token.low):
            # "sooo goood": try the word with letter runs cut to two, then to one.
            value = EN_WORDS.get(_ELONGATED_RE.sub(r"\1\1", token.low)) or EN_WORDS.get(
                _ELONGATED_RE.sub(r"\1", token.low)
            )
        return value or 0.0
    # Undetermined language: English valence, Polish only for words with Polish letters.
    return _valence(token, "en") or (_valence(token, "pl") if not token.low.isascii() else 0.0)


def _rule_key(token: Token, lang: str) -> str:
    if lang == "pl":
        return fold(lemma_pl(token.low))
    return token.folded.replace("'", "")


def features(text: str, compound: float, contributions: list[dict[str, Any]]) -> dict[str, float]:
    """The calibration's inputs: lexicon compound and sums, punctuation, negation, coverage."""
    positive = sum(c["valence"] for c in contributions if c["valence"] > 0)
    negative = sum(c["valence"] for c in contributions if c["valence"] < 0)
    return {
        "bias": 1.0,
        "compound": compound,
        "positive": math.tanh(positive / 3.0),
        "negative": math.tanh(negative / 3.0),
        "questions": min(text.count("?"), 3) / 3.0,
        # Emphasis leans positive only where the words do not already read negative: on a
        # negative text VADER's exclamation boost is already in the compound ("sorry!").
        "exclamations": min(text.count("!"), 3) / 3.0 if compound >= 0 else 0.0,
        "negated": float(
            any(m.startswith("negation") for c in contributions for m in c["modifiers"])
        ),
        "no_lexicon": float(not contributions),
    }


def score(text: str, tokens: list[Token], lang: str) -> tuple[float, dict[str, Any]]:
    """Calibrated sentiment in [-1, 1] and its explanation (word contributions, features)."""
    compound, contributions = compound_score(text, tokens, lang)
    inputs = features(text, compound, contributions)
    value = sum(CALIBRATION[name] * x for name, x in inputs.items())
    if lang == "pl":
        value += PL_BIAS
    return round(max(-1.0, min(1.0, value)), 4), {
        "compound": compound,
        "contributions": contributions,
        "calibration": {name: round(x, 4) for name, x in inputs.items() if x},
    }


def compound_score(text: str, tokens: list[Token], lang: str) -> tuple[float, list[dict[str, Any]]]:
    """Lexicon compound in [-1, 1] and the per-word contributions that produced it."""
    negators, boosters, contrast = (
        (PL_NEGATORS, PL_BOOSTERS, PL_CONTRAST)
        if lang == "pl"
        else (EN_NEGATORS, EN_BOOSTERS, EN_CONTRAST)
    )
    known = _MEMO[lang].get  # memo values are (key, valence) pairs: never falsy
    words = [known(t.low) or _word(t, lang) for t in tokens]
    # Only valenced words contribute; rule words around them are looked at on demand.
    valenced = [i for i, w in enumerate(words) if w[1]]
    contributions: list[dict[str, Any]] = []
    total = 0.0
    if valenced:
        shouting_text = text.isupper()
        keys = [w[0] for w in words]
        contrast_at = (
            -1 if contrast.isdisjoint(keys) else max(i for i, k in enumerate(keys) if k in contrast)
        )
        english = lang != "pl"
    emoticons = (
        [
            (match.start(), match.end(), value)
            for match in _EMOTICON_RE.finditer(text)
            if (value := EMOTICONS.get(match.group()) or EMOTICONS.get(match.group().lower()))
        ]
        if not _EMOTICON_CHARS.isdisjoint(text)
        else []
    )
    for i in valenced:
        key = keys[i]
        if key in negators or key in boosters or key in contrast:
            # VADER's rule: a stand-alone "no" ("no refund!", "still no signal") is itself negative;
            # it only negates (and has no valence of its own) before a valenced word.
            if not (english and key in EN_OWN_VALENCE and _stands_alone(i, tokens, words, text)):
                continue
        elif english and key in EN_HEDGE_NOUNS and i + 1 < len(keys) and keys[i + 1] == "of":
            continue  # "kind of", "sort of": a dampener (below), not the adjective "kind"
        token = tokens[i]
        if emoticons and any(s <= token.start < e for s, e, _ in emoticons):
            continue  # the "l" of ":l" is part of the emoticon, not the word "l"
        base = words[i][1]
        value = base
        modifiers: list[str] = []
        sign = 1.0 if base > 0 else -1.0
        if not shouting_text and len(token.raw) > 1 and token.raw.isupper():
            value += sign * CAPS_BOOST
            modifiers.append("capitals")
        negated = None
        for distance, j in enumerate(range(i - 1, max(-1, i - 1 - NEGATION_WINDOW), -1)):
            if not _CLAUSE_END.isdisjoint(text[tokens[j].end : tokens[j + 1].start]):
                break  # negation and intensifiers do not reach across "," "." "!" ...
            near = keys[j]
            boost = boosters.get(near)
            if (
                boost is None
                and english
                and near == "of"
                and j > 0
                and keys[j - 1] in EN_HEDGE_NOUNS
            ):
                boost = -BOOST  # "kind of annoying": VADER's "kind of" / "sort of" dampen
            if boost:
                value += sign * boost * (1.0 - 0.05 * distance)
                modifiers.append(f"{'intensifier' if boost > 0 else 'dampener'}:{tokens[j].raw}")
            elif negated is None and (
                near in negators or (english and tokens[j].low.endswith("n't"))
            ):
                negated = tokens[j].raw
        if negated is not None:
            value *= NEGATION_SCALAR
            modifiers.append(f"negation:{negated}")
        if contrast_at >= 0:
            value *= CONTRAST_BEFORE if i < contrast_at else CONTRAST_AFTER
            modifiers.append("before-contrast" if i < contrast_at else "after-contrast")
        total += value
        contributions.append(
            {
                "token": token.raw,
                "start": token.start,
                "end": token.end,
                "valence": round(value, 3),
                "base": base,
                "modifiers": modifiers,
            }
        )
    if not text.isascii() and not _EMOJI_CHARS.isdisjoint(text):
        for match in _EMOJI_RE.finditer(text):
            value = EMOJI[match.group()]
            total += value
            contributions.append(_contribution(match.group(), match.start(), value, "emoji"))
    for start, end, emoticon in emoticons:
        total += emoticon
        contributions.append(_contribution(text[start:end], start, emoticon, "emoticon"))
    if total:
        bangs = min(text.count("!"), 4)
        total += math.copysign(bangs * EXCLAMATION_BOOST, total)
    compound = total / math.sqrt(total * total + ALPHA)
    return round(max(-1.0, min(1.0, compound)), 4), contributions
