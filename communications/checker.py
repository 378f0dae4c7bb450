"""The content checker: what must not go out in an organisation's name, in English and Polish.

Offensive and vulgar language comes from the monitoring scoring engine (`find_spans`), so
there is one lexicon for what we read and what we write. On top, rules that only matter for
outgoing text: insults aimed at the reader, blaming or mocking the customer, sarcasm markers,
shouting, the organisation's banned terms, personal data (e-mail addresses, phone numbers) in
public text, and elements the approval policy requires (an apology, a next step).

Words are matched after folding case and Polish diacritics, undoing common obfuscation (leet
digits, separators such as `i.d.i.o.t`, masking such as `id**t`, stretched letters) and
allowing inflected endings, and every finding points at the exact span of the original text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from monitoring.scoring import ENGINE_VERSION as SCORING_ENGINE_VERSION
from monitoring.scoring.offensive import find_spans
from monitoring.scoring.text import fold

CHECKER_VERSION = "checker-1"
# The engine weighs each listed word by how reliably it marks offense. Strong words block; the
# middle band warns; the weakest ("church", "blackout", "post") are ordinary in statements.
BLOCK_WEIGHT = 0.75
WARN_WEIGHT = 0.6
ENGINE_VERSION = f"{CHECKER_VERSION}+scoring-{SCORING_ENGINE_VERSION}"

BLOCK = "block"
WARN = "warn"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one field: where (span), what (category, rule), how bad, and why."""

    field: str
    start: int
    end: int
    text: str
    category: str
    severity: str
    rule: str
    explanation: str
    engine_version: str = ENGINE_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Banned:
    """An organisation's banned term as the checker needs it."""

    term: str
    language: str = ""
    severity: str = BLOCK
    reason: str = ""
    match_inflections: bool = True


# --- folding with an index map ------------------------------------------------------------------

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_MASK = "*#"
_INNER_SEPARATORS = ".-_'\u2019"


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """The scoring engine's fold (lower case, no diacritics, one character for one) with runs
    of whitespace collapsed; `index[i]` is where folded character i came from in `text`."""
    out: list[str] = []
    index: list[int] = []
    for position, ch in enumerate(fold(text)):
        if ch.isspace():
            if out and out[-1] == " ":
                continue
            ch = " "
        out.append(ch)
        index.append(position)
    return "".join(out), index


# --- tokens (for single-word lexicons) -----------------------------------------------------------

_TOKEN = re.compile(r"[\w@$*#][\w@$*#.\-_'\u2019]*[\w@$*#]|[\w@$*#]", re.UNICODE)
_SPACED = re.compile(
    r"(?<![\w])[^\W\d_](?P<sep>[ .\-_*])(?:[^\W\d_](?P=sep))+[^\W\d_](?![\w])", re.UNICODE
)


@dataclass(frozen=True, slots=True)
class _Token:
    start: int
    end: int
    raw: str
    key: str  # folded, leet undone, separators dropped, stretched letters collapsed
    masked: bool


def _key(raw: str) -> str:
    folded = fold(raw)
    if any(ch.isalpha() for ch in folded):
        folded = folded.translate(_LEET)
    folded = "".join(ch for ch in folded if ch not in _INNER_SEPARATORS and not ch.isspace())
    return re.sub(r"([a-z])\1{2,}", r"\1", folded)


def tokens(text: str) -> list[_Token]:
    """Words of `text`, with letter-by-letter spellings (`i d i o t`, `s.t.u.p.i.d`) joined."""
    found: list[_Token] = []
    taken: list[tuple[int, int]] = []
    for match in _SPACED.finditer(text):
        raw = match.group(0)
        found.append(_Token(match.start(), match.end(), raw, _key(raw.replace("*", "")), False))
        taken.append((match.start(), match.end()))
    for match in _TOKEN.finditer(text):
        if any(s <= match.start() < e for s, e in taken):
            continue
        raw = match.group(0).rstrip(".-_'\u2019")
        if not raw:
            continue
        key = _key(raw)
        found.append(
            _Token(match.start(), match.start() + len(raw), raw, key, any(m in key for m in _MASK))
        )
    found.sort(key=lambda t: t.start)
    return found


@dataclass(frozen=True, slots=True)
class _Word:
    """A lexicon entry: `pattern` matches clean keys (inflections included); `forms` are the
    spelled-out words a masked token (`id**t`) is compared with."""

    pattern: re.Pattern[str]
    forms: tuple[str, ...]
    category: str
    severity: str
    explanation: str


def _word(pattern: str, forms: str, category: str, severity: str, explanation: str) -> _Word:
    return _Word(re.compile(pattern), tuple(forms.split()), category, severity, explanation)


INSULT = "insult"
BLAME = "blaming_customer"
MOCKING = "mocking"
AGGRESSIVE = "aggressive_tone"
SARCASM = "sarcasm"
SHOUTING = "shouting"
BANNED = "banned_term"
PERSONAL_DATA = "personal_data"
MISSING = "missing_required_element"
OFFENSIVE = "offensive_language"

# Words that disparage the reader without being offensive in general (so the monitoring lexicon
# rightly lacks them): unacceptable in a brand's voice. Offensive words come from the engine.
_INSULTS: dict[str, tuple[_Word, ...]] = {
    "en": (
        _word(r"imbeciles?", "imbecile", INSULT, BLOCK, "calls the reader an imbecile"),
        # The scoring engine (2026.11.3) rates these weak cues on their own; a reply that uses
        # them still insults the reader.
        _word(r"idiots?|idiotic", "idiot", INSULT, BLOCK, "calls the reader an idiot"),
        _word(r"morons?|moronic", "moron", INSULT, BLOCK, "calls the reader a moron"),
        _word(r"stupid(ity)?", "stupid", INSULT, BLOCK, "calls the reader stupid"),
        _word(r"dumb", "dumb", INSULT, BLOCK, "calls the reader dumb"),
        _word(r"hell", "hell", OFFENSIVE, WARN, "mild vulgarity in a brand reply"),
        _word(r"clueless", "clueless", INSULT, BLOCK, "calls the reader clueless"),
        _word(r"pathetic", "pathetic", INSULT, BLOCK, "calls the reader pathetic"),
        _word(r"ignorant", "ignorant", INSULT, BLOCK, "calls the reader ignorant"),
        _word(r"fools?|foolish", "fool", INSULT, BLOCK, "calls the reader a fool"),
        _word(
            r"whin(e|es|ing|er|ers|y)", "whine whining", MOCKING, WARN, "belittles the complaint"
        ),
        _word(r"ridiculous", "ridiculous", MOCKING, WARN, "belittles the reader's point"),
        _word(r"nonsense", "nonsense", MOCKING, WARN, "belittles the reader's point"),
    ),
    "pl": (
        _word(
            r"glup(i|ia|ie|iego|iej|ich|im|imi|iec|cy|cow|ota|oty|ote|ku|cze|szy|sza)?",
            "glupi glupia glupek glupiec",
            INSULT,
            BLOCK,
            "nazywa czytelnika głupim",
        ),
        _word(r"glupek|glupk\w*", "glupek", INSULT, BLOCK, "nazywa czytelnika głupkiem"),
        _word(r"kretyn\w*", "kretyn kretyni", INSULT, BLOCK, "nazywa czytelnika kretynem"),
        _word(r"imbecyl\w*", "imbecyl", INSULT, BLOCK, "nazywa czytelnika imbecylem"),
        _word(r"matol\w*", "matol", INSULT, BLOCK, "nazywa czytelnika matołem"),
        _word(r"nieudacznik\w*", "nieudacznik", INSULT, BLOCK, "nazywa czytelnika nieudacznikiem"),
        _word(r"frajer\w*", "frajer", INSULT, BLOCK, "nazywa czytelnika frajerem"),
        _word(r"palant\w*", "palant", INSULT, BLOCK, "nazywa czytelnika palantem"),
        _word(
            r"cham(ie|y|a|em|ski|ska|skie|stwo|stwa)?",
            "cham chamie",
            INSULT,
            BLOCK,
            "nazywa czytelnika chamem",
        ),
        _word(r"zalosn\w*", "zalosny zalosne", INSULT, BLOCK, "nazywa czytelnika żałosnym"),
        _word(r"ignorant\w*", "ignorant", INSULT, BLOCK, "nazywa czytelnika ignorantem"),
        _word(r"bzdur\w*", "bzdura bzdury", MOCKING, WARN, "lekceważy zgłoszenie"),
        _word(r"smieszn\w*", "smieszne", MOCKING, WARN, "lekceważy zgłoszenie"),
        _word(r"marud\w*", "marudzic", MOCKING, WARN, "lekceważy zgłoszenie"),
    ),
}


def _phrases(
    *rules: tuple[str, str, str, str],
) -> tuple[tuple[re.Pattern[str], str, str, str], ...]:
    return tuple((re.compile(p), c, s, e) for p, c, s, e in rules)


# Matched on folded text (lower case, no diacritics, single spaces).
_PHRASES = {
    "en": _phrases(
        (r"\byour (own )?fault\b", BLAME, BLOCK, "blames the customer"),
        (
            r"\byou should(n'?t| not)? have\b|\byou should'?ve\b",
            BLAME,
            BLOCK,
            "tells the customer what they did wrong",
        ),
        (r"\buser error\b", BLAME, BLOCK, "blames the customer"),
        (
            r"\byou (clearly |obviously )?(failed|forgot|neglected|didn'?t bother) to\b",
            BLAME,
            BLOCK,
            "blames the customer",
        ),
        (
            r"\b(learn|try) (how )?to read\b|\bread the (manual|instructions|faq)\b|\brtfm\b",
            MOCKING,
            BLOCK,
            "mocks the customer",
        ),
        (
            r"\bnot our (problem|fault|concern)\b|\bwe (don'?t|do not) care\b",
            AGGRESSIVE,
            BLOCK,
            "dismisses the customer",
        ),
        (
            r"\b(calm|settle) down\b|\bshut up\b|\bget (a life|over it|lost)\b|\bdeal with it\b"
            r"|\bstop (whining|complaining)\b",
            AGGRESSIVE,
            BLOCK,
            "escalates the conflict",
        ),
        (r"\byou people\b", AGGRESSIVE, WARN, "talks down to a group of customers"),
        (
            r"\byeah,? right\b|\boh,? (great|wonderful|sure|really)\b|\bthanks for nothing\b"
            r"|\bwhat a surprise\b|\bgood luck with that\b|\bslow clap\b|(^|\s)/s\b|🙄|🙃",
            SARCASM,
            WARN,
            "sarcasm reads as mockery in a crisis",
        ),
    ),
    "pl": _phrases(
        (
            r"\b(to )?(pana|pani|panstwa|twoja|wasza) (wlasna )?win(a|y)\b",
            BLAME,
            BLOCK,
            "obwinia klienta",
        ),
        (
            r"\bsam(a|i|e)? (jest(es|escie)? )?sobie win(ien|na|ni|ne)\b",
            BLAME,
            BLOCK,
            "obwinia klienta",
        ),
        (r"\btrzeba bylo\b", BLAME, BLOCK, "poucza klienta, co zrobił źle"),
        (r"\bblad (uzytkownika|klienta)\b", BLAME, BLOCK, "obwinia klienta"),
        (
            r"\bnie (jest )?nasz(ym)? problem(em)?\b"
            r"|\bnie obchodzi nas\b|\bnic nas to nie obchodzi\b",
            AGGRESSIVE,
            BLOCK,
            "lekceważy klienta",
        ),
        (
            r"\b(nie )?(umie|umiesz|potrafi|potrafisz)( pan| pani)? czytac\b"
            r"|\bczytac ze zrozumieniem\b|\bnaucz(yc)?( sie)? czytac\b",
            MOCKING,
            BLOCK,
            "wyśmiewa klienta",
        ),
        (
            r"\b(uspokoj|ogarnij|zamknij)(cie)? sie\b"
            r"|\bprzestan(cie)? (jeczec|marudzic|narzekac)\b",
            AGGRESSIVE,
            BLOCK,
            "eskaluje konflikt",
        ),
        (
            r"\bno jasne\b|\bjasne, bo\b|\bbrawo ty\b|\bgratuluj(e|emy) (pomyslu|logiki)\b"
            r"|\b(wielkie )?dzieki za nic\b|\bpowodzenia z tym\b|🙄|🙃",
            SARCASM,
            WARN,
            "sarkazm w kryzysie brzmi jak kpina",
        ),
    ),
}

_APOLOGY = {
    "en": re.compile(r"\b(sorry|apologi[sz]\w*|apolog(y|ies)|regret\w*)\b"),
    "pl": re.compile(r"\b(przeprasza\w*|przeprosin\w*|przykro nam|zaluj\w*|wybacz\w*)\b"),
}
_NEXT_STEP = {
    "en": re.compile(
        r"\b(we will|we'll|we are working|we're working|next update|update you|keep you"
        r"|contact us|reach out|get in touch|follow (this|our)|more (information|details)|by \d"
        r"|within \d|will be (issued|restored|back|available|refunded|sent|fixed|updated))"
    ),
    "pl": re.compile(
        r"\b(bedziemy|poinformujemy|kolejn\w* aktualizacj\w*|nastepn\w* aktualizacj\w*"
        r"|skontaktuj\w*|pracujemy|prosimy o kontakt|damy znac|wkrotce|do godziny)\b"
    ),
}

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d\s().-]{7,18}\d(?![\w])")
_CAPS_WORD = re.compile(r"\b[^\W\d_a-z]{2,}\b")


# --- the rules -----------------------------------------------------------------------------------


def _lexicon_findings(field: str, toks: Sequence[_Token], language: str) -> list[Finding]:
    out: list[Finding] = []
    for token in toks:
        if token.raw != token.raw.replace(" ", ""):  # spelled out letter by letter: ask the engine
            for span, weight in find_spans(token.key, language):
                if weight >= WARN_WEIGHT:
                    out.append(
                        Finding(
                            field,
                            token.start,
                            token.end,
                            token.raw,
                            OFFENSIVE,
                            BLOCK if weight >= BLOCK_WEIGHT else WARN,
                            f"scoring:{span.rule}+spaced",
                            f"{span.category} language",
                        )
                    )
        for word in _INSULTS.get(language, ()):
            if token.masked:
                mask = re.compile(
                    "".join(".{1,2}" if ch in _MASK else re.escape(ch) for ch in token.key)
                )
                hit = any(mask.fullmatch(form) for form in word.forms)
            else:
                hit = bool(word.pattern.fullmatch(token.key))
            if hit:
                out.append(
                    Finding(
                        field,
                        token.start,
                        token.end,
                        token.raw,
                        word.category,
                        word.severity,
                        f"lexicon:{word.forms[0]}",
                        word.explanation,
                    )
                )
                break
    return out


def _phrase_findings(field: str, text: str, language: str) -> list[Finding]:
    folded, index = fold_with_map(text)
    out: list[Finding] = []
    for pattern, category, severity, explanation in _PHRASES.get(language, ()):
        for match in pattern.finditer(folded):
            start = match.start() + (len(match.group(0)) - len(match.group(0).lstrip()))
            if start >= match.end():
                continue
            begin, end = index[start], index[match.end() - 1] + 1
            out.append(
                Finding(
                    field,
                    begin,
                    end,
                    text[begin:end],
                    category,
                    severity,
                    f"phrase:{pattern.pattern[:40]}",
                    explanation,
                )
            )
    return out


def _shouting_findings(field: str, text: str) -> list[Finding]:
    out: list[Finding] = []
    words = list(_CAPS_WORD.finditer(text))
    run: list[re.Match[str]] = []

    def close() -> None:
        if len(run) >= 3:
            begin, end = run[0].start(), run[-1].end()
            out.append(
                Finding(
                    field,
                    begin,
                    end,
                    text[begin:end],
                    SHOUTING,
                    WARN,
                    "caps:3-words",
                    "three or more words in capitals read as shouting",
                )
            )

    for match in words:
        between = text[run[-1].end() : match.start()] if run else ""
        if run and re.fullmatch(r"[\s,!?.:;-]*", between):
            run.append(match)
        else:
            close()
            run = [match]
    close()
    for match in re.finditer(r"[!?]*![!?]*!{1}[!?]*", text):
        if len(match.group(0)) >= 3:
            out.append(
                Finding(
                    field,
                    match.start(),
                    match.end(),
                    match.group(0),
                    SHOUTING,
                    WARN,
                    "punctuation:!!!",
                    "repeated exclamation marks read as shouting",
                )
            )
    return out


def _banned_findings(
    field: str, text: str, toks: Sequence[_Token], language: str, banned: Sequence[Banned]
) -> list[Finding]:
    out: list[Finding] = []
    for term in banned:
        if term.language and term.language != language:
            continue
        parts = [_key(part) for part in term.term.split()]
        if not parts or not all(parts):
            continue
        for i in range(len(toks) - len(parts) + 1):
            window = toks[i : i + len(parts)]
            ok = all(
                tok.key == part
                or (
                    term.match_inflections
                    and tok.key.startswith(part)
                    and len(tok.key) - len(part) <= 4
                )
                for tok, part in zip(window, parts, strict=True)
            )
            if ok:
                begin, end = window[0].start, window[-1].end
                why = f"the organisation bans {term.term!r}" + (
                    f": {term.reason}" if term.reason else ""
                )
                out.append(
                    Finding(
                        field,
                        begin,
                        end,
                        text[begin:end],
                        BANNED,
                        term.severity,
                        f"banned:{term.term}",
                        why,
                    )
                )
    return out


def _personal_data_findings(field: str, text: str, public: bool) -> list[Finding]:
    severity = BLOCK if public else WARN
    out = [
        Finding(
            field,
            m.start(),
            m.end(),
            m.group(0),
            PERSONAL_DATA,
            severity,
            "pii:email",
            "an e-mail address in " + ("public text" if public else "the text"),
        )
        for m in _EMAIL.finditer(text)
    ]
    for m in _PHONE.finditer(text):
        digits = sum(ch.isdigit() for ch in m.group(0))
        if 9 <= digits <= 15 and not re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", m.group(0)):
            out.append(
                Finding(
                    field,
                    m.start(),
                    m.end(),
                    m.group(0),
                    PERSONAL_DATA,
                    severity,
                    "pii:phone",
                    "a phone number in " + ("public text" if public else "the text"),
                )
            )
    return out


def _offensive_findings(field: str, text: str, language: str) -> list[Finding]:
    return [
        Finding(
            field,
            span.start,
            span.end,
            span.text,
            OFFENSIVE,
            BLOCK if weight >= BLOCK_WEIGHT else WARN,
            f"scoring:{span.rule}",
            f"{span.category} language (weight {weight:.2f})",
        )
        for span, weight in find_spans(text, language)
        if weight >= WARN_WEIGHT
    ]


def check_texts(
    fields: Iterable[tuple[str, str]],
    *,
    language: str,
    public: bool,
    banned: Sequence[Banned] = (),
    require_apology: bool = False,
    require_next_step: bool = False,
) -> list[Finding]:
    """Every finding over the message's fields (`("body", text)`, `("renditions.bluesky", …)`)."""
    findings: list[Finding] = []
    fields = [(name, text) for name, text in fields if text]
    for name, text in fields:
        findings += _offensive_findings(name, text, language)
        toks = tokens(text)
        findings += _lexicon_findings(name, toks, language)
        findings += _phrase_findings(name, text, language)
        findings += _shouting_findings(name, text)
        if banned:
            findings += _banned_findings(name, text, toks, language, banned)
        findings += _personal_data_findings(name, text, public)
    all_folded = [(name, fold_with_map(text)[0]) for name, text in fields]
    for needed, patterns, what in (
        (require_apology, _APOLOGY, "an apology"),
        (
            require_next_step,
            _NEXT_STEP,
            "a next step (what happens now, when the next update comes)",
        ),
    ):
        pattern = patterns.get(language)
        if needed and pattern is not None:
            for name, folded in all_folded:
                if name in ("title",) or pattern.search(folded):
                    continue
                findings.append(
                    Finding(
                        name,
                        0,
                        0,
                        "",
                        MISSING,
                        BLOCK,
                        f"required:{what.split()[1]}",
                        f"the policy requires {what}",
                    )
                )
    return _dedupe(findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Drop a finding whose span lies inside an equal-or-worse one of the same field (the
    scoring engine and the insult lexicon may both see one word)."""
    rank = {BLOCK: 2, WARN: 1}
    kept: list[Finding] = []
    for f in sorted(
        findings, key=lambda f: (f.field, f.start, -(f.end - f.start), -rank[f.severity])
    ):
        if any(
            k.field == f.field
            and k.start <= f.start
            and f.end <= k.end
            and f.end > f.start
            and rank[k.severity] >= rank[f.severity]
            for k in kept
        ):
            continue
        kept.append(f)
    return kept


def result_of(findings: Iterable[Finding]) -> str:
    severities = {f.severity for f in findings}
    return BLOCK if BLOCK in severities else WARN if WARN in severities else "pass"
