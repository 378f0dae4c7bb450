"""Build the scoring engine's shipped word lists from permissively licensed sources.

Reads the sources from outside the repository (nothing here is downloaded at run time):

    python scripts/build_scoring_lexicons.py --src DIR \\
        --polvader-wheel polvader-1.0.1-py3-none-any.whl --dev /work/shared/data

DIR holds: ldnoobw_en.txt, ldnoobw_pl.txt (LDNOOBW @5faf2ba, CC BY 4.0), v2_en.txt, v2_pl.txt
(LDNOOBW V2 @e2f7430 data/{en,pl}.txt, CC0), banpl_vulg.txt (BAN-PL @2d4417f
resources/polish_vulgarisms_extended_2.0.txt., CC BY 4.0). The Polish valence lexicon is read from
the polvader wheel (MIT). Writes monitoring/scoring/data/{offensive.tsv,pl_valence.tsv}.

--dev points at the dev evaluation folder (/work/shared/data); only MIT-licensed rows are read
from it: the `davidson` rows of offensive_en.dev.jsonl (Davidson @cb50f7e data/labeled_data.csv,
the same texts) and the `vader_tweets` rows of sentiment_en.dev.jsonl (MIT). English weights are
class-balanced precisions on Davidson (83 % offensive, so rates are compared per class), with the
VADER tweets not rated negative added to the clean side. Rows of other sources (OLID/TweetEval,
BAN-PL) are skipped (their licences forbid training what ships). Polish weights come from the
lists' agreement, the team's stem table (PL_STEMS) and polvader's hand-rated norms. Only words
from the lists are ever written, never text.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import pickle
import re
import zipfile
from collections import Counter
from importlib import resources
from pathlib import Path

import simplemma

# Load the engine's tokenizer by path: importing the package would load the lists being built.
_spec = importlib.util.spec_from_file_location(
    "scoring_text", Path(__file__).resolve().parents[1] / "monitoring" / "scoring" / "text.py"
)
if _spec is None or _spec.loader is None:
    raise ImportError("monitoring/scoring/text.py not found")
_text = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_text)
tokenize = _text.tokenize
fold = _text.fold

# English: a listed form's weight is its class-balanced precision on Davidson (MIT), smoothed
# towards the list's prior. Davidson is 83 % offensive and collected by lexicon search, so its
# clean rows are few and lexicon-biased: the clean side is pooled with the VADER tweets (MIT)
# that raters did not find negative, a sample of ordinary tweets.
CURATED_PRIOR = 0.8
SMOOTHING = 3.0  # pseudo-rows of the prior
RATE_PSEUDO = (
    1.0  # add-one on both rates: a word unseen on the clean side is not "always offensive"
)
MIN_SUPPORT_NOISY = 5  # LDNOOBW V2 entries need this many offensive Davidson rows
# LDNOOBW V2 holds everyday words ("hate", "crazy", "sit", "bigger"); Davidson's clean rows are too
# few to refute them. A V2-only entry at least this precise counts in full; down to
# MIN_PRECISION_SECONDARY it is kept NOISY_DISCOUNT lower, as a cue that flags only with another.
MIN_PRECISION_NOISY = 0.9
MIN_PRECISION_SECONDARY = 0.75
NOISY_DISCOUNT = 0.2
# A V2-only insult (INSULT_ROOTS) that Davidson does not vouch for and that VADER's lexicon
# (MIT) rates hostile ("idiot" -2.3, "moron" -2.2) is kept as a weak cue: it flags only when
# aimed at the reader or next to another cue (monitoring/scoring/offensive.py).
HOSTILE_VALENCE = -2.0
HOSTILE_WEIGHT = 0.6
MIN_WEIGHT = 0.5
# A word's precision over all rows credits it with its company: most Davidson rows holding "fat",
# "ugly" or "suck" also hold a slur or "bitch". So a second pass counts only the rows where the
# form is the sole shipped form. A form seen alone in at least MIN_SOLE_SUPPORT rows whose
# class-balanced precision there is below one half is more often clean than offensive on its
# own: it is capped at SECONDARY_WEIGHT, a cue that flags only when aimed at someone or next to
# another cue.
MIN_SOLE_SUPPORT = 5
SOLE_PRECISION_FLOOR = 0.5
SECONDARY_WEIGHT = 0.65
EN_SUFFIXES = ("s", "es", "ing", "ed")  # as monitoring/scoring/offensive.py
BASE_LEXICON = "fem_big_imbir_and_nencki_lex_with_kazojc_adjectives.dat"
DATA = Path(__file__).resolve().parents[1] / "monitoring" / "scoring" / "data"

# Words that are insults rather than vulgarity or slurs (category metadata only).
INSULT_ROOTS = (
    "idiot",
    "moron",
    "stupid",
    "dumb",
    "retard",
    "loser",
    "imbecil",
    "cretin",
    "debil",
    "kretyn",
    "glupi",
    "glupek",
    "durni",
    "duren",
    "palant",
    "matol",
    "cwel",
    "frajer",
    "scum",
    "liar",
    "pathetic",
    "lunatic",
)
# Listed words whose everyday meaning dominates (egg, to blow, to vomit, mess, trifles, fart...).
EVERYDAY = frozenset(
    {"jajko", "jajco", "jaja", "jajka", "dmuchac", "rzygac", "syf", "duperele", "pierdziec", "cyc"}
    | {"twinkie", "twinkies"}  # a snack cake
)
# Spelled with diacritics these are mild words that fold onto a vulgar root ("pierdół": trifles).
MILD_SPELLED = ("pierdoł", "pierdół")
SLUR_ROOTS = ("nigg", "fag", "kike", "spic", "chink", "tranny", "pedal", "ciapat", "zyd", "murzyn")

# Polish: no permitted labelled Polish text exists, so Polish weights come from the lists
# themselves and from rules the team wrote. A listed form's weight is the strength of its vulgar
# stem (our judgement, below) when it has one, else its list agreement: in LDNOOBW `pl`
# (curated, 54 entries) 0.85, in BAN-PL's vulgarism list 0.8, only in LDNOOBW V2 (noisy: also
# "księżna", "erekcja") 0.45, plus 0.05 per further list holding the form or its lemma.
# Ordinary words are pushed down by polvader's hand-rated norms (MIT): a lemma people rate
# neutral-to-pleasant is not a swear word in most sentences.
PL_STEMS: tuple[tuple[str, float], ...] = (
    # strongest vulgarities (and their many prefixed verbs)
    ("kurw", 0.95),
    ("kurew", 0.95),
    ("pierdol", 0.95),
    ("pierdal", 0.95),
    ("jeb", 0.95),
    ("chuj", 0.95),
    ("huj", 0.95),
    ("pizd", 0.95),
    ("skurw", 0.95),
    # strong: sexual vulgarity, slurs for people
    ("dupcz", 0.85),
    ("ruchac", 0.85),
    ("rucha", 0.85),
    ("kutas", 0.85),
    ("fiut", 0.85),
    ("dziwk", 0.85),
    ("cwel", 0.85),
    ("cip", 0.8),
    ("sra", 0.75),
    ("sral", 0.75),
    ("gown", 0.7),
    ("debil", 0.75),
    ("kretyn", 0.75),
    ("idiot", 0.75),
    ("pojeb", 0.95),
    # milder: rude but common in heated, not banned, talk; a second cue is needed to flag
    ("pieprz", 0.7),
    ("dup", 0.7),
    ("ciot", 0.75),
    ("pedal", 0.7),  # also a bicycle pedal
    ("szmat", 0.7),  # also a rag
    ("suk", 0.7),  # listed forms of "suka"
    ("cholern", 0.6),
    ("burdel", 0.6),  # usually "a mess"
    ("pierdz", 0.45),  # to fart: dropped
    ("pierdl", 0.45),  # "pierdel", prison slang: dropped
    ("kurde", 0.45),  # minced oath, dropped
    ("kurcze", 0.45),
)
PL_LIST_WEIGHT = {"ldnoobw": 0.85, "banpl": 0.8, "ldnoobw_v2": 0.45}
PL_AGREEMENT_BONUS = 0.05
PL_PLEASANT = 0.0  # polvader base valence at or above which a lemma is an ordinary word
PL_PLEASANT_PENALTY = 0.4
PL_HARSH = -1.5  # polvader base valence at or below which a lemma is clearly abusive
PL_HARSH_BONUS = 0.05


def read_list(path: Path) -> list[str]:
    return [w.strip() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]


def category(word: str) -> str:
    if any(word.startswith(r) or r in word for r in SLUR_ROOTS):
        return "slur"
    if any(r in word for r in INSULT_ROOTS):
        return "insult"
    return "vulgar"


def normal(raw: str) -> str:
    return " ".join(t.folded for t in tokenize(raw))


def en_rows(dev: Path) -> list[tuple[set[str], bool]]:
    """Each MIT-licensed row's folded words, inflection stems and bigrams, and whether it is
    offensive: Davidson rows, and VADER tweets rated neutral or positive (clean)."""
    rows = [
        (row["text"], row["label"] == "offensive")
        for row in map(json.loads, (dev / "offensive_en.dev.jsonl").open(encoding="utf-8"))
        if row["source"] == "davidson"
    ] + [
        (row["text"], False)
        for row in map(json.loads, (dev / "sentiment_en.dev.jsonl").open(encoding="utf-8"))
        if row["source"] == "vader_tweets" and row["label"] != "negative"
    ]
    out: list[tuple[set[str], bool]] = []
    for text, offensive in rows:
        tokens = tokenize(text)
        words = [t.folded for t in tokens]
        grams = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
        for token in tokens:
            grams.update(token.folded[: -len(s)] for s in EN_SUFFIXES if token.folded.endswith(s))
        out.append((grams, offensive))
    return out


def en_counts(
    rows: list[tuple[set[str], bool]], only: frozenset[str] | None = None
) -> tuple[Counter[str], Counter[str], int, int]:
    """Document frequency of each gram in offensive vs clean rows. With `only`, a row counts
    for a form of `only` just when it holds no other form of `only` (sole evidence)."""
    pos: Counter[str] = Counter()
    neg: Counter[str] = Counter()
    n_pos = sum(offensive for _, offensive in rows)
    for grams, offensive in rows:
        if only is not None:
            grams = grams & only
            if len(grams) != 1:
                continue
        (pos if offensive else neg).update(grams)
    return pos, neg, n_pos, len(rows) - n_pos


def balanced_precision(p: int, n: int, n_pos: int, n_neg: int) -> float:
    """Precision as if both classes were equally common (add-one on both rates)."""
    rate_p = (p + RATE_PSEUDO) / n_pos
    rate_n = (n + RATE_PSEUDO) / n_neg
    return rate_p / (rate_p + rate_n)


def vader_valence() -> dict[str, float]:
    """VADER 3.3.2's word valences (MIT, the installed package)."""
    text = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_text("utf-8")
    rows = (line.split("\t") for line in text.splitlines())
    return {parts[0]: float(parts[1]) for parts in rows if len(parts) > 1}


def en_weight(
    form: str,
    curated: bool,
    stats: tuple[Counter[str], Counter[str], int, int],
    valence: dict[str, float],
) -> float:
    pos, neg, n_pos, n_neg = stats
    p, n = pos[form], neg[form]
    # An insult Davidson cannot vouch for, rated hostile by VADER, is a weak cue.
    hostile = category(form) == "insult" and valence.get(form, 0.0) <= HOSTILE_VALENCE
    fallback = HOSTILE_WEIGHT if hostile else 0.0
    if not curated and p < MIN_SUPPORT_NOISY:
        return fallback
    balanced = balanced_precision(p, n, n_pos, n_neg)
    if not curated:
        if balanced >= MIN_PRECISION_NOISY:
            return balanced
        if balanced >= MIN_PRECISION_SECONDARY:
            return max(balanced - NOISY_DISCOUNT, fallback)
        return fallback
    return (balanced * (p + n) + CURATED_PRIOR * SMOOTHING) / (p + n + SMOOTHING)


def pl_lemma(form: str) -> str:
    return fold(simplemma.lemmatize(form, lang="pl")) if " " not in form else form


def pl_weight(form: str, lists: set[str], agree: int, valence: float | None) -> float:
    stems = [w for stem, w in PL_STEMS if stem in form.replace(" ", "")]
    if stems:  # the stem's strength is our judgement; list agreement adds nothing to it
        weight = max(stems)
    else:
        weight = max(PL_LIST_WEIGHT[o] for o in lists) + PL_AGREEMENT_BONUS * (agree - 1)
        if valence is not None and valence <= PL_HARSH:
            weight += PL_HARSH_BONUS
    if valence is not None and valence >= PL_PLEASANT:
        weight -= PL_PLEASANT_PENALTY
    return min(weight, 0.97)


def build_offensive(src: Path, dev: Path, wheel: Path) -> list[tuple[str, str, str, float, str]]:
    lists = {
        ("en", "ldnoobw"): read_list(src / "ldnoobw_en.txt"),
        ("pl", "ldnoobw"): read_list(src / "ldnoobw_pl.txt"),
        ("pl", "banpl"): read_list(src / "banpl_vulg.txt"),
        ("en", "ldnoobw_v2"): read_list(src / "v2_en.txt"),
        ("pl", "ldnoobw_v2"): read_list(src / "v2_pl.txt"),
    }
    en_texts = en_rows(dev)
    en_stats = en_counts(en_texts)
    en_valence = vader_valence()
    norms = base_valence(wheel)
    pl_forms: dict[str, set[str]] = {}
    pl_lemmas: dict[str, set[str]] = {}
    for (lang, origin), words in lists.items():
        if lang != "pl":
            continue
        for raw in words:
            form = normal(raw)
            pl_forms.setdefault(form, set()).add(origin)
            pl_lemmas.setdefault(pl_lemma(form), set()).add(origin)
    rows: dict[tuple[str, str], tuple[str, str, str, float, str]] = {}
    for (lang, origin), words in lists.items():
        for raw in words:
            form = normal(raw)
            if not form or len(form) < 3 or (lang, form) in rows or form in EVERYDAY:
                continue
            if any(mild in raw.lower() for mild in MILD_SPELLED):
                continue
            if lang == "en":
                weight = en_weight(form, origin != "ldnoobw_v2", en_stats, en_valence)
            else:
                lemma = pl_lemma(form)
                holders = pl_forms[form] | pl_lemmas[lemma]
                weight = pl_weight(form, pl_forms[form], len(holders), norms.get(lemma))
            if weight < MIN_WEIGHT:
                continue
            rows[(lang, form)] = (form, lang, category(form), round(weight, 3), origin)
    return sorted(cap_by_sole_evidence(rows, en_texts).values())


def cap_by_sole_evidence(
    rows: dict[tuple[str, str], tuple[str, str, str, float, str]],
    texts: list[tuple[set[str], bool]],
) -> dict[tuple[str, str], tuple[str, str, str, float, str]]:
    """Cap the English forms that, seen alone, are more often clean than offensive."""
    shipped = frozenset(form for lang, form in rows if lang == "en")
    pos, neg, n_pos, n_neg = en_counts(texts, only=shipped)
    out = dict(rows)
    for (lang, form), (_, _, cat, weight, origin) in rows.items():
        p, n = pos[form], neg[form]
        if lang != "en" or weight <= SECONDARY_WEIGHT or p + n < MIN_SOLE_SUPPORT:
            continue
        if balanced_precision(p, n, n_pos, n_neg) < SOLE_PRECISION_FLOOR:
            out[(lang, form)] = (form, lang, cat, SECONDARY_WEIGHT, origin)
    return out


def base_valence(wheel: Path) -> dict[str, float]:
    """polvader's hand-rated word norms (folded lemma -> valence, -3..3)."""
    with zipfile.ZipFile(wheel) as zf:
        base = pickle.loads(zf.read(f"polvader/lexicons/{BASE_LEXICON}"))  # noqa: S301
    out: dict[str, float] = {}
    for key, value in base.items():
        if isinstance(value, int | float):
            out.setdefault(fold(str(key).strip().lower()), float(value))
    return out


def build_valence(wheel: Path) -> list[tuple[str, float, str]]:
    """Hand-rated base lexicon first; the k-NN expanded lexicon only fills lemmas it lacks."""
    with zipfile.ZipFile(wheel) as zf:
        base = pickle.loads(zf.read(f"polvader/lexicons/{BASE_LEXICON}"))  # noqa: S301
        expanded = pickle.loads(zf.read("polvader/lexicons/expanded_lexicon.dat"))  # noqa: S301
    rows: dict[str, tuple[str, float, str]] = {}
    for name, lexicon in (("base", base), ("expanded", expanded)):
        for key, value in lexicon.items():
            lemma = str(key).strip().lower()
            if lemma in rows or not isinstance(value, int | float):
                continue
            if re.fullmatch(r"[^\W\d_]+", lemma):
                rows[lemma] = (lemma, round(float(value), 2), name)
    return sorted(rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--polvader-wheel", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    rows = build_offensive(args.src, args.dev, args.polvader_wheel)
    with (DATA / "offensive.tsv").open("w", encoding="utf-8") as out:
        out.write("# form\tlang\tcategory\tweight\tsource (see ATTRIBUTION.md)\n")
        for row in rows:
            out.write("\t".join(str(v) for v in row) + "\n")
    print(f"offensive.tsv: {len(rows)} forms", Counter((r[1], r[4]) for r in rows))
    valence = build_valence(args.polvader_wheel)
    with (DATA / "pl_valence.tsv").open("w", encoding="utf-8") as out:
        out.write("# lemma\tvalence\tpolvader 1.0.1 lexicon (base | expanded), MIT\n")
        for lemma, value, name in valence:
            out.write(f"{lemma}\t{value}\t{name}\n")
    print(f"pl_valence.tsv: {len(valence)} lemmas")


if __name__ == "__main__":
    main()
