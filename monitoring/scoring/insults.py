"""Insult frames: a judging word aimed at a person is an insult even when no list holds the word.

Written by the team from general English and Polish usage (not fitted on any data set):

* predication: a person subject, a copula and a judging word ("you are a liar", "she is so
  pathetic", "they're clowns", "jesteś kretynem"); with a person noun any subject will do
  ("the mayor is an idiot");
* vocatives and exclamations: "you idiot", "what a moron", "such a hypocrite", "these clowns",
  "bunch of losers", "ty debilu";
* dismissive imperatives: "shut up", "go to hell", "get lost", "zamknij mordę", "spadaj";
* hashtags that join a listed word to others ("#IdiotAlert" holds "idiot").

Judging words are the team's person nouns and adjectives below plus VADER's lexicon entries
rated -2.0 or lower (MIT), less words for misfortune or feelings ("she is sad", "he is dead"),
which describe a person without judging them. A negation before the judging word ("he is not a
liar") cancels the frame.
"""

from __future__ import annotations

import re

from monitoring.scoring.lemmas import lemma_pl
from monitoring.scoring.sentiment import EN_WORDS
from monitoring.scoring.text import Token

# Weights of a frame hit (the judging word's span takes the higher of this and its list weight).
# EN_WEIGHT reaches the English threshold (0.8) on its own; PL_WEIGHT is over the Polish one (0.85).
EN_WEIGHT = 0.8
# A judging adjective ("he is pathetic") is a weaker cue than a person noun ("he is a clown"):
# on its own it stays under the English threshold and counts with other spans.
EN_WEAK_WEIGHT = 0.7
PL_WEIGHT = 0.86
# A judging Polish noun after "ty"/"jesteś" is a cue that counts with other spans only: BAN-PL
# moderators remove attacks, and "jesteś idiotą" alone is often left standing.
PL_WEAK_WEIGHT = 0.7
VADER_JUDGING = -2.0

# Person nouns that only ever judge (singular; plurals by -s/-es are derived).
EN_PERSON_NOUNS = frozenset(
    [
        "idiot",
        "moron",
        "imbecile",
        "cretin",
        "fool",
        "loser",
        "liar",
        "hypocrite",
        "clown",
        "disgrace",
        "traitor",
        "coward",
        "bigot",
        "racist",
        "fascist",
        "nazi",
        "scum",
        "scumbag",
        "pig",
        "snake",
        "rat",
        "parasite",
        "leech",
        "creep",
        "pervert",
        "psycho",
        "psychopath",
        "sociopath",
        "lunatic",
        "maniac",
        "nutjob",
        "nutcase",
        "weirdo",
        "freak",
        "jerk",
        "douche",
        "douchebag",
        "dumbass",
        "halfwit",
        "nitwit",
        "dimwit",
        "simpleton",
        "buffoon",
        "dunce",
        "numbskull",
        "bonehead",
        "airhead",
        "twit",
        "prat",
        "git",
        "tosser",
        "pillock",
        "muppet",
        "plonker",
        "troll",
        "fraud",
        "crook",
        "thug",
        "puppet",
        "snowflake",
        "sellout",
        "shill",
        "stooge",
        "lowlife",
        "degenerate",
        "slob",
        "menace",
        "monster",
        "savage",
        "sleazebag",
        "hag",
        "witch",
        "bully",
        "hypocrit",
        "creeper",
        "lowlife",
        "tyrant",
        "dictator",
        "criminal",
        "terrorist",
        "traitor",
        "bimbo",
        "brat",
        "wimp",
        "sissy",
        "pussy",
        "deadbeat",
        "scammer",
        "grifter",
        "charlatan",
        "hack",
        "phony",
        "phoney",
        "idiota",
    ]
)
# Adjectives that judge a person (VADER lacks or under-rates some of them).
EN_ADJECTIVES = frozenset(
    [
        "stupid",
        "dumb",
        "ignorant",
        "disgusting",
        "vile",
        "despicable",
        "pathetic",
        "worthless",
        "useless",
        "clueless",
        "brainless",
        "spineless",
        "gutless",
        "shameless",
        "delusional",
        "deranged",
        "insane",
        "crazy",
        "nuts",
        "evil",
        "corrupt",
        "dishonest",
        "ugly",
        "gross",
        "nasty",
        "creepy",
        "sleazy",
        "rude",
        "arrogant",
        "incompetent",
        "unhinged",
        "hypocritical",
        "moronic",
        "idiotic",
        "braindead",
        "retarded",
        "trash",
        "garbage",
        "scummy",
        "lame",
        "senile",
        "demented",
        "psychotic",
        "hateful",
        "racist",
        "sexist",
        "bigoted",
        "treasonous",
        "traitorous",
        "cowardly",
        "fake",
        "phony",
        "corrupt",
        "crooked",
        "unfit",
    ]
)
# Negative words that describe what befalls a person or what they feel, not what they are worth.
EN_NOT_JUDGING = frozenset(
    [
        "sad",
        "dead",
        "died",
        "dies",
        "dying",
        "killed",
        "hurt",
        "hurts",
        "injured",
        "sick",
        "ill",
        "depressed",
        "lonely",
        "scared",
        "afraid",
        "worried",
        "anxious",
        "heartbroken",
        "devastated",
        "miserable",
        "unhappy",
        "upset",
        "angry",
        "mad",
        "furious",
        "tired",
        "exhausted",
        "broke",
        "poor",
        "homeless",
        "victim",
        "victims",
        "cancer",
        "suffering",
        "grief",
        "pain",
        "lost",
        "alone",
        "missing",
        "stressed",
        "hopeless",
        "helpless",
        "ashamed",
        "guilty",
        "sorry",
        "terrified",
        "frustrated",
        "disappointed",
        "embarrassed",
        "bored",
        "confused",
        "hungry",
        "crying",
        "abused",
        "assaulted",
        "raped",
        "attacked",
        "arrested",
        "wrong",
        "fired",
        "jailed",
        "wounded",
        "damaged",
        "destroyed",
        "ruined",
        "sucks",
        "suffer",
        "suffers",
        "failed",
        "fail",
        "fails",
        "fails",
        "failure",
        "defeated",
        "trapped",
        "doomed",
        "worse",
        "worst",
        "horrible",
        "terrible",
        "awful",
        "bad",
        "war",
        "bomb",
        "assault",
        "attack",
        "disaster",
        "crisis",
        "threat",
        "danger",
        "enemy",
    ]
)
# "worst"/"terrible" judge things as often as people: they count only with a person noun.


def _plurals(nouns: frozenset[str]) -> frozenset[str]:
    out = set(nouns)
    for noun in nouns:
        out.add(noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s"))
    return frozenset(out)


# VADER's verb forms ("lying", "killing", "screwed") say what someone does or undergoes.
EN_NOUNS = _plurals(EN_PERSON_NOUNS)
_EN_PLURALS_ONLY = EN_NOUNS - EN_PERSON_NOUNS
EN_JUDGING = frozenset(
    {
        w
        for w, v in EN_WORDS.items()
        if v <= VADER_JUDGING and w not in EN_NOT_JUDGING and not w.endswith(("ing", "ed"))
    }
    | EN_ADJECTIVES
    | EN_NOUNS
)


EN_SUBJECTS = frozenset(
    {"you", "u", "ya", "yall", "y'all", "he", "she", "they", "ye", "you're", "youre", "ur"}
    | {"he's", "hes", "she's", "shes", "they're", "theyre", "you've", "youve"}
)
# Contractions that carry their own copula.
EN_SUBJECT_COPULA = frozenset(
    {"you're", "youre", "ur", "he's", "hes", "she's", "shes", "they're", "theyre"}
)
EN_COPULA = frozenset({"is", "are", "r", "was", "were", "be", "being", "been", "am"})
EN_FILLERS = frozenset(
    [
        "a",
        "an",
        "the",
        "such",
        "so",
        "total",
        "complete",
        "absolute",
        "utter",
        "real",
        "really",
        "truly",
        "clearly",
        "obviously",
        "just",
        "nothing",
        "but",
        "biggest",
        "big",
        "such",
        "fucking",
        "freaking",
        "effing",
        "little",
        "very",
        "too",
        "one",
        "of",
        "most",
        "more",
        "sooo",
        "soo",
        "complete",
        "totally",
        "utterly",
        "such",
        "bloody",
        "damn",
        "damned",
        "literally",
        "simply",
        "actually",
        "still",
        "always",
        "such",
        "pure",
        "outright",
        "proven",
        "known",
        "lying",
    ]
)
EN_NEGATORS = frozenset(
    {"not", "never", "no", "isn't", "isnt", "aren't", "arent", "wasn't", "wasnt", "ain't"}
    | {"weren't", "werent", "hardly", "nor", "neither"}
)
# A negation or a verb of saying/thinking just before the subject ("I don't think he is a liar",
# "I'm not saying she is racist") puts the judgement in someone's denial.
EN_CLAUSE_NEGATORS = EN_NEGATORS | frozenset(
    {"don't", "dont", "doesn't", "doesnt", "didn't", "didnt", "won't", "wont", "can't", "cant"}
    | {"cannot", "wouldn't", "wouldnt", "shouldn't", "shouldnt"}
)
# An infinitive or a modal before "shut up" makes it a statement, not an order ("wants to shut
# up students", "you will shut up").
EN_NOT_IMPERATIVE = frozenset(
    {"to", "will", "would", "can", "could", "should", "must", "might", "may", "won't", "wont"}
    | {"i'll", "you'll", "he'll", "she'll", "they'll", "we'll", "i", "we", "he", "she", "they"}
)
EN_EXCLAIM = frozenset({"what", "such"})  # "what a moron", "such a hypocrite"
EN_DEMONSTRATIVES = frozenset({"these", "those", "you", "bunch", "pack"})
EN_IMPERATIVES = (
    ("shut", "up"),
    ("shut", "your", "mouth"),
    ("shut", "your", "face"),
    ("shut", "your", "trap"),
    ("go", "to", "hell"),
    ("get", "lost"),
    ("screw", "you"),
    ("piss", "off"),
    ("bugger", "off"),
    ("sod", "off"),
    ("f", "off"),
    ("eat", "shit"),
    ("kill", "yourself"),
    ("drop", "dead"),
    ("go", "die"),
    ("piece", "of", "garbage"),
    ("piece", "of", "trash"),
    ("piece", "of", "crap"),
    ("gtfo",),
    ("kys",),
)
_EN_IMPERATIVE_FIRST = frozenset(p[0] for p in EN_IMPERATIVES)

# Polish: stems of person nouns that judge (matched at the start of a folded word, so every
# case form counts: "debil", "debilu", "debilem", "debile").
PL_STEMS = (
    "debil",
    "idiot",
    "kretyn",
    "glupek",
    "glupc",
    "durni",
    "duren",
    "matol",
    "cymbal",
    "palant",
    "frajer",
    "zlodziej",
    "oszust",
    "klamc",
    "klamca",
    "nieudaczni",
    "pasozyt",
    "gnid",
    "szmat",
    "swini",
    "bydl",
    "ciul",
    "lamus",
    "psychol",
    "pajac",
    "blazn",
    "blazen",
    "tepak",
    "tepa dzida",
    "gamon",
    "dzban",
    "patus",
    "menel",
    "scierw",
    "kanali",
    "lajdak",
    "lajdac",
    "gnoj",
    "padalc",
    "padalec",
    "smiec",
    "smiecia",
    "oblesn",
    "obrzydliw",
    "zalosn",
    "glupi",
    "glupia",
    "tepy",
    "tepa",
    "tepe",
)
_PL_STEM_RE = re.compile("^(?:" + "|".join(sorted(PL_STEMS, key=len, reverse=True)) + ")")
PL_SUBJECTS = frozenset(
    {"ty", "wy", "jestes", "jestescie", "jest", "sa", "byles", "bylas", "byl", "byla"}
)
PL_EXCLAIM = frozenset({"co", "taki", "taka", "takie", "tacy", "ci", "te", "bando", "banda"})
PL_IMPERATIVES = (
    ("zamknij", "morde"),
    ("zamknij", "ryj"),
    ("zamknij", "pysk"),
    ("zamknij", "jape"),
    ("zamknij", "dziob"),
    ("zamknij", "gebe"),
    ("zamknijcie", "mordy"),
    ("zamknijcie", "ryje"),
    ("stul", "pysk"),
    ("stul", "ryj"),
    ("spadaj",),
    ("spieprzaj",),
    ("wynocha",),
    ("idz", "do", "diabla"),
)
_PL_IMPERATIVE_FIRST = frozenset(p[0] for p in PL_IMPERATIVES)
PL_NEGATORS = frozenset({"nie", "nigdy"})

_TRIGGERS = (
    EN_SUBJECTS
    | EN_COPULA
    | EN_EXCLAIM
    | EN_DEMONSTRATIVES
    | _EN_IMPERATIVE_FIRST
    | PL_SUBJECTS
    | PL_EXCLAIM
    | _PL_IMPERATIVE_FIRST
)
_CLAUSE_END = frozenset('.,;:!?\n()"')
_CAMEL_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _pl_judging(word: str) -> bool:
    return bool(_PL_STEM_RE.match(word)) or bool(_PL_STEM_RE.match(lemma_pl(word)))


Hit = tuple[int, int, float, str]  # start, end, weight, rule


def _joined(text: str, a: Token, b: Token) -> bool:
    """No clause break between two neighbouring tokens."""
    return _CLAUSE_END.isdisjoint(text[a.end : b.start])


def _predicate(text: str, tokens: list[Token], i: int, language: str | None) -> Hit | None:
    """Tokens after a copula (index i is the first of them): fillers, then a judging word."""
    for j in range(i, min(i + 5, len(tokens))):
        if j > i and not _joined(text, tokens[j - 1], tokens[j]):
            return None
        word = tokens[j].folded
        if word in EN_NEGATORS:
            return None
        if word in EN_JUDGING:
            if _ends_phrase(text, tokens, j):
                weight = EN_WEIGHT if word in EN_NOUNS else EN_WEAK_WEIGHT
                return tokens[j].start, tokens[j].end, weight, "frame:predicate"
            continue  # a modifier ("a war criminal", "a despicable disgrace"): read on
        if word not in EN_FILLERS:
            return None
    return None


# Words that may follow the head of a noun or adjective phrase ("a liar and a cheat").
EN_PHRASE_END = frozenset(
    [
        "and",
        "or",
        "but",
        "to",
        "for",
        "of",
        "in",
        "at",
        "on",
        "who",
        "that",
        "which",
        "with",
        "because",
        "as",
        "like",
        "if",
        "when",
        "too",
        "than",
        "from",
        "about",
        "since",
        "so",
        "all",
        "ever",
        "lol",
        "lmao",
        "smh",
        "af",
    ]
)


def _ends_phrase(text: str, tokens: list[Token], j: int) -> bool:
    """The judging word ends its phrase: nothing, a clause break or a function word follows."""
    if j + 1 == len(tokens) or not _joined(text, tokens[j], tokens[j + 1]):
        return True
    return tokens[j + 1].folded in EN_PHRASE_END


def find(text: str, tokens: list[Token], language: str | None) -> list[Hit]:
    """Every insult-frame hit: the span of the judging word (or the whole imperative)."""
    hits: list[Hit] = []
    if not tokens:
        return hits
    english = language != "pl"
    polish = language != "en"
    words = [t.folded for t in tokens]
    if _TRIGGERS.isdisjoint(words):
        return hits
    n = len(tokens)
    for i, word in enumerate(words):
        if english:
            if word in EN_SUBJECTS and i + 1 < n and not _denied(text, tokens, words, i):
                # "you are (such) a liar", "he's pathetic"; negation before the copula cancels
                if word in EN_SUBJECT_COPULA:
                    hit = _predicate(text, tokens, i + 1, language)
                elif words[i + 1] in EN_COPULA and _joined(text, tokens[i], tokens[i + 1]):
                    hit = _predicate(text, tokens, i + 2, language)
                else:
                    hit = None
                if hit is not None:
                    hits.append(hit)
                    continue
            if word in EN_COPULA and i + 1 < n and not _denied(text, tokens, words, i):
                # any subject with a person noun: "the mayor is an idiot", "liberals are clowns"
                hit = _predicate(text, tokens, i + 1, language)
                if hit is not None and words[_index(tokens, hit[0])] in EN_NOUNS:
                    hits.append(hit)
                    continue
            if word in EN_EXCLAIM or word in EN_DEMONSTRATIVES:
                # "what a moron", "such a hypocrite", "these clowns", "you idiot", "bunch of losers"
                for j in range(i + 1, min(i + 4, n)):
                    if not _joined(text, tokens[j - 1], tokens[j]):
                        break
                    if words[j] in EN_NOUNS:
                        # "you idiot" and "what losers" must end there: "you idiots did",
                        # "what losers prefer" are a subject, not a vocative or an exclamation
                        if (
                            (
                                word != "you"
                                and (
                                    word != "what" or j > i + 1 or words[j] not in _EN_PLURALS_ONLY
                                )
                            )
                            or j + 1 == n
                            or not _joined(text, tokens[j], tokens[j + 1])
                        ):
                            hits.append(
                                (tokens[j].start, tokens[j].end, EN_WEIGHT, "frame:vocative")
                            )
                        break
                    if words[j] not in EN_FILLERS and words[j] not in EN_JUDGING:
                        break
            if word in _EN_IMPERATIVE_FIRST and (i == 0 or words[i - 1] not in EN_NOT_IMPERATIVE):
                hit = _phrase(text, tokens, words, i, EN_IMPERATIVES, EN_WEIGHT)
                if hit is not None:
                    hits.append(hit)
        if polish:
            if word in PL_SUBJECTS or word in PL_EXCLAIM:
                for j in range(i + 1, min(i + 4, n)):
                    if not _joined(text, tokens[j - 1], tokens[j]) or words[j] in PL_NEGATORS:
                        break
                    if len(words[j]) >= 4 and _pl_judging(words[j]):
                        hits.append((tokens[j].start, tokens[j].end, PL_WEAK_WEIGHT, "frame:pl"))
                        break
            if word in _PL_IMPERATIVE_FIRST:
                hit = _phrase(text, tokens, words, i, PL_IMPERATIVES, PL_WEIGHT)
                if hit is not None:
                    hits.append(hit)
    return hits


def _denied(text: str, tokens: list[Token], words: list[str], i: int) -> bool:
    """A negation up to four words before token i, in the same clause."""
    for k in range(i - 1, max(-1, i - 5), -1):
        if not _joined(text, tokens[k], tokens[k + 1]):
            return False
        if words[k] in EN_CLAUSE_NEGATORS:
            return True
    return False


def _index(tokens: list[Token], start: int) -> int:
    for k, token in enumerate(tokens):
        if token.start == start:
            return k
    raise ValueError(start)  # pragma: no cover - hits come from these tokens


def _phrase(
    text: str,
    tokens: list[Token],
    words: list[str],
    i: int,
    phrases: tuple[tuple[str, ...], ...],
    weight: float,
) -> Hit | None:
    for phrase in phrases:
        if tuple(words[i : i + len(phrase)]) == phrase:
            last = tokens[i + len(phrase) - 1]
            return tokens[i].start, last.end, weight, "frame:imperative"
    return None


_HASHTAG_RE = re.compile(r"#(\w{5,})")


def _hashtags(text: str, tokens: list[Token]) -> list[Hit]:
    """A hashtag whose CamelCase parts include a judging person noun or adjective."""
    hits: list[Hit] = []
    for match in _HASHTAG_RE.finditer(text):
        parts = [p.lower() for p in _CAMEL_RE.findall(match.group(1))]
        if len(parts) < 2:
            continue
        if any(p in EN_NOUNS for p in parts):
            hits.append((match.start(), match.end(), EN_WEIGHT, "frame:hashtag"))
    return hits
