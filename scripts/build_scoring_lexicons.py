"""Build the scoring engine's shipped word lists from permissively licensed sources.

Reads the sources from outside the repository (nothing here is downloaded at run time):

    python scripts/build_scoring_lexicons.py --src DIR \\
        [--polvader-wheel polvader-1.0.1-py3-none-any.whl] [--dev /work/shared/data]

DIR holds: ldnoobw_en.txt, ldnoobw_pl.txt (LDNOOBW @5faf2ba, CC BY 4.0), v2_en.txt, v2_pl.txt
(LDNOOBW V2 @e2f7430 data/{en,pl}.txt, CC0), banpl_vulg.txt (BAN-PL @2d4417f
resources/polish_vulgarisms_extended_2.0.txt., CC BY 4.0). The Polish valence lexicon is read from
the polvader wheel (MIT). Writes monitoring/scoring/data/{offensive.tsv,pl_valence.tsv}.

With --dev, each candidate word's weight is its smoothed precision on the *tuning split* of the dev
files (olid_train for English; for Polish the banpl rows whose SHA-1 is even, a third of the dev
rows since the dev file already holds only SHA-1 % 4 != 0); noisy V2 entries are kept
only when they are precise there. Only words from the sources above are ever written, never text
from the dev files.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import json
import pickle
import re
import zipfile
from collections import Counter
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

# Weight of a curated entry never seen in the tuning rows; entries below MIN_WEIGHT are dropped.
CURATED_PRIOR = 0.8
MIN_WEIGHT = 0.5
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
    "idiot",
    "glupi",
    "glupek",
    "durni",
    "dureń",
    "palant",
    "matol",
    "cwel",
    "frajer",
    "scum",
)
# Listed words whose everyday meaning dominates (egg, to blow, to vomit, mess, trifles, fart...).
EVERYDAY = frozenset(
    {"jajko", "jajco", "jaja", "jajka", "dmuchac", "rzygac", "syf", "duperele", "pierdziec", "cyc"}
    | {"twinkie", "twinkies"}  # a snack cake
)
SLUR_ROOTS = ("nigg", "fag", "kike", "spic", "chink", "tranny", "pedal", "ciapat", "zyd", "murzyn")


def hash_half(text: str) -> int:
    """0 for the tuning split, 1 for the check split (stable across runs)."""
    return int(hashlib.sha1(text.encode()).hexdigest(), 16) % 2  # noqa: S324


def read_list(path: Path) -> list[str]:
    return [w.strip() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]


def category(word: str) -> str:
    if any(word.startswith(r) or r in word for r in SLUR_ROOTS):
        return "slur"
    if any(r in word for r in INSULT_ROOTS):
        return "insult"
    return "vulgar"


def dev_counts(dev: Path, lang: str) -> tuple[Counter[str], Counter[str], int, int]:
    """Document frequency of each folded word and bigram in offensive vs clean tuning rows."""
    pos: Counter[str] = Counter()
    neg: Counter[str] = Counter()
    n_pos = n_neg = 0
    name = "offensive_en.dev.jsonl" if lang == "en" else "offensive_pl.dev.jsonl"
    for line in (dev / name).open(encoding="utf-8"):
        row = json.loads(line)
        if lang == "en" and row["source"] != "olid_train":
            continue
        if lang == "pl" and hash_half(row["text"]) != 0:
            continue
        tokens = tokenize(row["text"])
        words = [t.folded for t in tokens]
        grams = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
        # Count a word under every form the engine matches it by: lemma (PL), plain inflection (EN).
        for token in tokens:
            if lang == "pl":
                grams.add(fold(simplemma.lemmatize(token.low, lang="pl")))
            else:
                grams.update(
                    token.folded[: -len(s)] for s in EN_SUFFIXES if token.folded.endswith(s)
                )
        if row["label"] == "offensive":
            pos.update(grams)
            n_pos += 1
        else:
            neg.update(grams)
            n_neg += 1
    return pos, neg, n_pos, n_neg


def build_offensive(src: Path, dev: Path | None) -> list[tuple[str, str, str, float, str]]:
    sources = {
        ("en", "ldnoobw"): read_list(src / "ldnoobw_en.txt"),
        ("pl", "ldnoobw"): read_list(src / "ldnoobw_pl.txt"),
        ("pl", "banpl"): read_list(src / "banpl_vulg.txt"),
        ("en", "ldnoobw_v2"): read_list(src / "v2_en.txt"),
        ("pl", "ldnoobw_v2"): read_list(src / "v2_pl.txt"),
    }
    stats = {lang: dev_counts(dev, lang) for lang in ("en", "pl")} if dev else {}
    rows: dict[tuple[str, str], tuple[str, str, str, float, str]] = {}
    for (lang, origin), words in sources.items():
        for raw in words:
            form = " ".join(t.folded for t in tokenize(raw))
            if not form or len(form) < 3 or (lang, form) in rows or form in EVERYDAY:
                continue
            curated = origin != "ldnoobw_v2"
            weight = 0.9 if curated else 0.0
            if stats:
                pos, neg, n_pos, n_neg = stats[lang]
                p, n = pos[form], neg[form]
                # Precision corrected for class balance, smoothed towards the list's prior.
                prior = CURATED_PRIOR if curated else 0.3
                rate_p, rate_n = p / max(n_pos, 1), n / max(n_neg, 1)
                k = 3.0
                if p + n:
                    balanced = rate_p / (rate_p + rate_n) if rate_p + rate_n else 0.0
                    weight = (balanced * (p + n) + prior * k) / (p + n + k)
                else:
                    weight = prior if curated else 0.0
            if weight < MIN_WEIGHT:
                continue
            rows[(lang, form)] = (form, lang, category(form), round(weight, 3), origin)
    return sorted(rows.values())


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
    parser.add_argument("--polvader-wheel", type=Path)
    parser.add_argument("--dev", type=Path)
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    rows = build_offensive(args.src, args.dev)
    with (DATA / "offensive.tsv").open("w", encoding="utf-8") as out:
        out.write("# form\tlang\tcategory\tweight\tsource (see ATTRIBUTION.md)\n")
        for row in rows:
            out.write("\t".join(str(v) for v in row) + "\n")
    print(f"offensive.tsv: {len(rows)} forms", Counter((r[1], r[4]) for r in rows))
    if args.polvader_wheel:
        valence = build_valence(args.polvader_wheel)
        with (DATA / "pl_valence.tsv").open("w", encoding="utf-8") as out:
            out.write("# lemma\tvalence\tpolvader 1.0.1 lexicon (base | expanded), MIT\n")
            for lemma, value, name in valence:
                out.write(f"{lemma}\t{value}\t{name}\n")
        print(f"pl_valence.tsv: {len(valence)} lemmas")


if __name__ == "__main__":
    main()
