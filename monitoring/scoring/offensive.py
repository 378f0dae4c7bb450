"""Offensive-language spans: word lists matched over folded, de-obfuscated and inflected forms."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from importlib import resources

from monitoring.scoring import insults as _insults
from monitoring.scoring.lemmas import lemma_pl
from monitoring.scoring.text import Token, bounded_cache, fold, sequence_table, tokenize


@dataclass(frozen=True, slots=True)
class Span:
    """An offensive stretch of the original text, its category and the rule that found it."""

    start: int
    end: int
    text: str
    category: str
    rule: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed form: its language, category, weight (how reliably it marks offense) and list."""

    form: str
    lang: str
    category: str
    weight: float
    source: str


def _load() -> dict[str, Entry]:
    """Read the shipped list (built by scripts/build_scoring_lexicons.py); forms are folded."""
    entries: dict[str, Entry] = {}
    text = resources.files("monitoring.scoring").joinpath("data/offensive.tsv").read_text("utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        form, lang, cat, weight, source = line.split("\t")
        entry = Entry(form, lang, cat, float(weight), source)
        known = entries.get(form)
        if known is None or known.weight < entry.weight:
            entries[form] = entry
    return entries


LEXICON = _load()
_SINGLE = {form: e for form, e in LEXICON.items() if " " not in form}
_PHRASES: dict[str, list[Entry]] = {}
for _entry in LEXICON.values():
    if " " in _entry.form:
        _PHRASES.setdefault(_entry.form.split(" ", 1)[0], []).append(_entry)

# Productive vulgar roots: any word containing one is vulgar ("spierdalaj", "motherfucking").
_ROOTS: dict[str, tuple[str, str]] = {
    "kurw": ("pl", "vulgar"),
    "pierdol": ("pl", "vulgar"),
    "pierdal": ("pl", "vulgar"),
    "jeban": ("pl", "vulgar"),
    "jebac": ("pl", "vulgar"),
    "jebie": ("pl", "vulgar"),
    "jebn": ("pl", "vulgar"),
    "zjeb": ("pl", "vulgar"),
    "wyjeb": ("pl", "vulgar"),
    "chuj": ("pl", "vulgar"),
    "pizd": ("pl", "vulgar"),
    "skurw": ("pl", "vulgar"),
    "fuck": ("en", "vulgar"),
    "motherf": ("en", "vulgar"),
    "bullshit": ("en", "vulgar"),
    "asshole": ("en", "vulgar"),
    "dumbass": ("en", "insult"),
    "nigger": ("en", "slur"),
    "faggot": ("en", "slur"),
    "cunt": ("en", "vulgar"),
}
_ROOT_RE = re.compile("|".join(sorted(_ROOTS, key=len, reverse=True)))
_ROOT_ALLOW = frozenset({"scunthorpe"})
# Spelled with diacritics, these are mild words that only share a root when folded
# ("pierdoły": trifles).
_ROOT_ALLOW_SPELLED = ("pierdoł", "pierdół")
ROOT_WEIGHT = 0.9
_EN_SUFFIXES = ("s", "es", "ing", "ed")

_LEET = sequence_table(
    {
        ord(char): letter
        for char, letter in {
            "4": "a",
            "@": "a",
            "3": "e",
            "1": "i",
            "!": "i",
            "0": "o",
            "5": "s",
            "$": "s",
            "7": "t",
            "8": "b",
            "9": "g",
        }.items()
    }
)
_SEPARATORS = re.compile(r"[.\-_~+'`^|]")
_MASK_CHARS = "*%?$#@!&"
_MASK_RE = re.compile(rf"[{re.escape(_MASK_CHARS)}]")
_CHUNK_RE = re.compile(r"\S+")
_EDGE = ".,;:!?\"'()[]{}<>«»„”“"
# A letter followed by a digit or a mask, or by separators (and digits, masks) running up to
# another letter: "kurw4", "k*rwa", "k.u.r.w.a". The pattern starts with a character class and
# looks back for the letter, so the regex engine can skip ahead to the rare characters instead
# of trying every letter (twice as fast as the letter-first pattern, the same chunks).
_SEPARATOR_CHARS = ".\\-_~+`^|"
_OBFUSCATED_RE = re.compile(
    rf"(?:[\d{re.escape(_MASK_CHARS)}]"
    rf"|[{_SEPARATOR_CHARS}](?=[\d{re.escape(_MASK_CHARS)}{_SEPARATOR_CHARS}]*[^\W_]))"
    r"(?<=[^\W\d_].)"
)
_LINK_RE = re.compile(r"https?:|www\.|@\w")
_SPACED_RE = re.compile(r"(?<!\w)[^\W\d_]\W{1,3}[^\W\d_]\W{1,3}[^\W\d_](?!\w)")
# A grawlix ("k@#$a", "wk%?@ł"): a run of mixed symbols standing for the letters. Forums'
# automatic filters write these over a swear word they have already hidden; a writer who means
# the word keeps it legible ("k*rwa", "f**k"). Such a span counts GRAWLIX_DISCOUNT less.
_SYMBOL_RUN_RE = re.compile(r"[@#$%!?]{2,}")
GRAWLIX_DISCOUNT = 0.25
_RUN3_RE = re.compile(r"(.)\1{2,}")
_RUN2_RE = re.compile(r"(.)\1+")

_MASK_INDEX: dict[tuple[int, str, str], list[str]] = {}
for _form in _SINGLE:
    _MASK_INDEX.setdefault((len(_form), _form[0], _form[-1]), []).append(_form)


def _lookup(word: str) -> tuple[Entry, str] | None:
    """The entry a folded word matches, trying repeated-letter collapses; with the rule used."""
    entry = _SINGLE.get(word)
    if entry is not None:
        return entry, entry.source
    if _RUN2_RE.search(word):
        for variant in (_RUN3_RE.sub(r"\1\1", word), _RUN2_RE.sub(r"\1", word)):
            entry = _SINGLE.get(variant)
            if entry is not None:
                return entry, f"{entry.source}+repeats"
    return None


def _root(word: str) -> tuple[Entry, str] | None:
    """A productive vulgar root inside the word."""
    if word in _ROOT_ALLOW:
        return None
    match = _ROOT_RE.search(word) or _ROOT_RE.search(_RUN2_RE.sub(r"\1", word))
    if match is None:
        return None
    lang, cat = _ROOTS[match.group()]
    return Entry(match.group(), lang, cat, ROOT_WEIGHT, "root"), f"root:{match.group()}"


_WORDS: dict[str, tuple[Entry, str] | None] = {}
_UNSEEN: tuple[Entry, str] = (Entry("", "", "", 0.0, ""), "")  # a word not yet in _WORDS


def _word(token: Token) -> tuple[Entry, str] | None:
    """Match one plain word (memoised by its lower-cased form)."""
    try:
        return _WORDS[token.low]
    except KeyError:
        bounded_cache(_WORDS)
        found = _WORDS[token.low] = _match_word(token)
        return found


def _match_word(token: Token) -> tuple[Entry, str] | None:
    """Match one plain word: listed form, lemma, inflection, or productive root. A weak listed
    form does not hide a stronger reading ("fucktard" is a weak list entry but holds "fuck")."""
    if any(mild in token.low for mild in _ROOT_ALLOW_SPELLED):
        return None
    found = _lookup(token.folded)
    if found is not None and found[0].weight >= ROOT_WEIGHT:
        return found
    if found is None:
        lemma = lemma_pl(token.low)
        if lemma != token.low:
            entry = _SINGLE.get(fold(lemma))
            if entry is not None:
                found = entry, f"{entry.source}+lemma"
    word = token.folded
    if found is None:
        for suffix in _EN_SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                entry = _SINGLE.get(word[: -len(suffix)])
                if entry is not None and entry.lang == "en":
                    found = entry, f"{entry.source}+inflection"
                    break
    root = _root(word)
    if root is not None and (found is None or found[0].weight < root[0].weight):
        return root
    return found


def _masked(core: str) -> tuple[Entry, str] | None:
    """A masked form ("k***a", "wyj%?$ne"): mask characters stand for one letter each."""
    if len(core) < 3 or core[0] in _MASK_CHARS or not _MASK_RE.search(core):
        return None
    if sum(c.isalpha() for c in core) < 2:
        return None
    pattern = re.compile("".join("." if c in _MASK_CHARS else re.escape(c) for c in core))
    for form in _MASK_INDEX.get((len(core), core[0], core[-1]), ()):
        if pattern.fullmatch(form):
            entry = _SINGLE[form]
            return entry, f"{entry.source}+masked"
    return None


def _grawlix(core: str) -> bool:
    """Two or more different symbols in a run stand for the letters: "k@#$a", not "k**a"."""
    return any(len(set(m.group())) > 1 for m in _SYMBOL_RUN_RE.finditer(core))


_OBFUSCATED: dict[str, tuple[Entry, str] | None] = {}


def _obfuscated(chunk: str) -> tuple[Entry, str] | None:
    """A word hidden by leetspeak, separators or masks: "kurw4", "k.u.r.w.a", "k*rwa"
    (memoised: most suspect chunks are ordinary, "why?", "2019", "e.g.")."""
    try:
        return _OBFUSCATED[chunk]
    except KeyError:
        bounded_cache(_OBFUSCATED)
        found = _OBFUSCATED[chunk] = _unmask(chunk)
        return found


def _unmask(chunk: str) -> tuple[Entry, str] | None:
    folded = fold(chunk)
    plain = _SEPARATORS.sub("", folded.translate(_LEET))
    if plain.isalpha():
        found = _lookup(plain) or _root(plain)
        if found is not None:
            return found[0], f"{found[1]}+obfuscation"
    return _masked(_SEPARATORS.sub("", folded))


# Listed forms that are ordinary words in the other language ("dupe" in English, "pot" in Polish).
_FALSE_FRIENDS = frozenset(
    {"dupe", "dupes", "pot", "bat", "bomb", "demon", "pis", "piss", "tir", "gut"}
)


def _accept(entry: Entry, language: str | None) -> bool:
    """Other-language entries count only when strong on their own and not false friends."""
    if language in (None, "und", entry.lang):
        return True
    return entry.weight >= 0.8 and entry.form not in _FALSE_FRIENDS


def find_spans(
    text: str, language: str | None = None, tokens: list[Token] | None = None
) -> list[tuple[Span, float]]:
    """Every offensive span with its weight, leftmost first, non-overlapping; `tokens`, when
    given, are `tokenize(text)`'s."""
    found: list[tuple[Span, float]] = []
    taken = bytearray(len(text))  # 1 where a span already lies: overlap checks stay linear

    def add(start: int, end: int, entry: Entry, rule: str, discount: float = 0.0) -> None:
        if not _accept(entry, language):
            return
        if taken.find(1, start, end) != -1:
            return
        taken[start:end] = b"\x01" * (end - start)
        weight = round(entry.weight - discount, 3)
        found.append((Span(start, end, text[start:end], entry.category, rule), weight))

    # Obfuscated chunks first: they cover several word tokens ("k.u.r.w.a" is five).
    chunk_end = -1
    for suspect in _OBFUSCATED_RE.finditer(text):
        if suspect.start() < chunk_end:
            continue
        left = suspect.start()
        while left > 0 and not text[left - 1].isspace():
            left -= 1
        chunk = _CHUNK_RE.match(text, left)
        if chunk is None:  # pragma: no cover - the suspect itself is non-space
            continue
        chunk_end = chunk.end()
        raw = chunk.group()
        core = raw.strip(_EDGE)
        if not core or _LINK_RE.match(core):
            continue
        start = left + raw.index(core)
        hit = _obfuscated(core)
        if hit is not None:
            if _grawlix(core):
                add(start, start + len(core), hit[0], f"{hit[1]}+grawlix", GRAWLIX_DISCOUNT)
            else:
                add(start, start + len(core), hit[0], hit[1])

    if tokens is None:
        tokens = tokenize(text)
    # Spelled-out letters: "f u c k", "k u r w a" (scanned only when three single letters run).
    i = 0 if _SPACED_RE.search(text) else len(tokens)
    while i < len(tokens):
        j = i
        while j < len(tokens) and len(tokens[j].folded) == 1 and tokens[j].folded.isalpha():
            j += 1
        if j - i >= 3:
            letters = "".join(t.folded for t in tokens[i:j])
            hit = _lookup(letters)
            first, last = i, j - 1
            if hit is None and (match := _ROOT_RE.search(letters)) is not None:
                # The span is the root's letters: "a f u c k i t" holds "f u c k".
                hit, first, last = _root(match.group()), i + match.start(), i + match.end() - 1
            if hit is not None:
                add(tokens[first].start, tokens[last].end, hit[0], f"{hit[1]}+spaced")
        i = max(j, i + 1)

    known = _WORDS.get
    phrases: list[tuple[int, int, Entry, str]] = []
    for i, token in enumerate(tokens):
        if token.folded in _PHRASES:
            for entry in _PHRASES[token.folded]:
                words = entry.form.split(" ")
                tail = tokens[i : i + len(words)]
                if [t.folded for t in tail] == words:
                    phrases.append((token.start, tail[-1].end, entry, entry.source))
        hit = known(token.low, _UNSEEN)
        if hit is _UNSEEN:
            hit = _word(token)
        if hit is not None:
            if phrases:  # a phrase covering this word wins only when it weighs more
                phrases.append((token.start, token.end, hit[0], hit[1]))
            else:
                add(token.start, token.end, hit[0], hit[1])
    for start, end, entry, rule in sorted(phrases, key=lambda c: (-c[2].weight, c[0])):
        add(start, end, entry, rule)
    found.sort(key=lambda pair: pair[0].start)
    if found and tokens and not _ADDRESS.isdisjoint(t.folded for t in tokens):
        found = _addressed(found, tokens, text, language != "pl")
    if found and language != "pl":
        found = _undenied(found, tokens, text)
    frames = _insults.find(text, tokens, language)
    if frames:
        found = _framed(found, frames, text)
    return found


def _framed(
    found: list[tuple[Span, float]], frames: list[_insults.Hit], text: str
) -> list[tuple[Span, float]]:
    """Insult frames raise the spans they cover to the frame's weight, or add the judging word."""
    out = list(found)
    for start, end, weight, rule in frames:
        overlapping = [k for k, (s, _) in enumerate(out) if s.start < end and start < s.end]
        if not overlapping:
            out.append((Span(start, end, text[start:end], "insult", rule), weight))
            continue
        for k in overlapping:
            span, known = out[k]
            if known < weight:
                raised = Span(span.start, span.end, span.text, span.category, f"{span.rule}+{rule}")
                out[k] = (raised, weight)
    out.sort(key=lambda pair: pair[0].start)
    return out


# A weak word aimed at the reader is an insult ("you are crazy", "jesteś gównem"), the same word
# about a thing often is not ("crazy weather", "gówno prawda"): second-person words just before a
# weak span (or right after it: "shut up you") raise it by ADDRESSED_BOOST.
_ADDRESS = frozenset(
    {"you", "your", "youre", "you're", "ur", "u", "yall", "y'all", "yourself", "ya"}
    | {"ty", "wy", "twoj", "twoja", "twoje", "twoi", "wasz", "jestes", "jestescie", "ciebie"}
)
ADDRESSED_BOOST = 0.15
ADDRESS_WINDOW = 3
STRONG_WEIGHT = 0.9  # spans this strong need no context


# In English the reader is addressed in the same sentence only: "That sounds stupid. You should
# try again" does not call the reader stupid. Not applied to Polish: there it cost 5 BAN-PL
# offensive rows for 1 clean one (not looked into; the English rule came from English text).
_SENTENCE_END = frozenset(".!?\n")


def _addressed(
    found: list[tuple[Span, float]], tokens: list[Token], text: str, sentence_bound: bool
) -> list[tuple[Span, float]]:
    """Raise weak spans with a second-person word near them; in English (`sentence_bound`) only
    a word in the same sentence counts."""
    starts = [t.start for t in tokens]
    out: list[tuple[Span, float]] = []
    for span, weight in found:
        if weight < STRONG_WEIGHT:
            first = bisect.bisect_left(starts, span.start)
            last = bisect.bisect_left(starts, span.end)
            near = tokens[max(0, first - ADDRESS_WINDOW) : first] + tokens[last : last + 1]
            if sentence_bound:
                near = [
                    t
                    for t in near
                    if _SENTENCE_END.isdisjoint(
                        text[t.end : span.start]
                        if t.start < span.start
                        else text[span.end : t.start]
                    )
                ]
            if any(t.folded in _ADDRESS for t in near):
                span = Span(
                    span.start, span.end, span.text, span.category, f"{span.rule}+addressed"
                )
                weight = round(min(STRONG_WEIGHT, weight + ADDRESSED_BOOST), 3)
        out.append((span, weight))
    return out


# An insult word in a denied predicate judges no one: "your question was not dumb", "he's never
# stupid". The negator comes right before the word, at most one filler between ("not so dumb",
# "isn't that stupid"). Only the insult category: vulgar words stay vulgar when negated ("not
# fucking funny").
# The insult frames' negators, less those that negate a noun rather than the predicate ("no
# idiot would…", "neither", "nor").
_EN_DENIALS = (_insults.EN_NEGATORS - {"no", "nor", "neither"}) | {"aint"}
_DENIAL_FILLERS = frozenset({"so", "that", "too", "very", "really", "even", "at", "all", "a", "an"})


def _undenied(
    found: list[tuple[Span, float]], tokens: list[Token], text: str
) -> list[tuple[Span, float]]:
    if _EN_DENIALS.isdisjoint(t.folded for t in tokens):
        return found
    starts = [t.start for t in tokens]
    out: list[tuple[Span, float]] = []
    for span, weight in found:
        if span.category == "insult" and weight < 1.0:
            first = bisect.bisect_left(starts, span.start)
            for k in range(first - 1, max(-1, first - 3), -1):
                if not _SENTENCE_END.isdisjoint(text[tokens[k].end : tokens[k + 1].start]):
                    break
                if tokens[k].folded in _EN_DENIALS:
                    weight = -1.0
                    break
                if tokens[k].folded not in _DENIAL_FILLERS:
                    break
        if weight >= 0:
            out.append((span, weight))
    return out
