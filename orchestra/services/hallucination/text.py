"""Words, names and numbers of a sentence, normalised so that claims and sources compare.

Words are lower-cased and lightly stemmed (possessives, plurals and the common verb endings),
so "Einstein's" meets "Einstein" and "walked" meets "walk". Numbers are parsed with their
scale ("2.1 million"), thousands separators ("1,450"), currency, percent and the precision they
were written with, so rounding is understood. Each number keeps the words around it, the
context that says what it counts: a figure is only evidence for a claim about the same thing.
"""

import logging
import math
import re

logger = logging.getLogger(__name__)

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just me more most my myself nor now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
may might must shall yes around roughly approximately nearly almost per via its it's whose
mostly mainly largely partly slightly really quite rather just both either
""".split())
NEGATIONS = frozenset("not no never none nobody nothing neither nor without cannot".split())
# Frequent English words: a claim that lacks one of these in the sources has lost little, so
# they weigh less than rarer words. A short list stands in for corpus frequencies.
COMMON = frozenset("""
make made use used many much people like well good new first last great little long large
small big high low way part place thing things time year years day days world work works
get got give gave take took come came go went know known see seen say said find found
show shown call called also often usually generally important several various different
number lot kind sort best better still even back today one two three four five six
seven eight nine ten hundred main major famous popular common known began begin around
early later late today old young next many few full whole able need help mean means
each every based include includes including list simple following given set sets system
idea general nice stuff depends depend interesting true obvious sense case fact facts
""".split())
# Unit abbreviations meet the words they stand for.
UNITS = {"km": "kilometre", "kg": "kilogram", "cm": "centimetre", "mm": "millimetre",
         "mi": "mile", "lb": "pound", "lbs": "pound", "ft": "foot", "feet": "foot",
         "t": "tonne", "tons": "tonne", "ton": "tonne", "sec": "second", "min": "minute",
         "hrs": "hour", "hr": "hour", "yr": "year", "yrs": "year", "gb": "gigabyte",
         "mb": "megabyte", "ghz": "gigahertz", "mph": "miles per hour"}
CAPITALISED_COMMON = frozenset("""
The A An In On At It Its This That These Those There Their They We You He She I If When
While Although However But And Or So Then Also First Second Third Finally Next Yes No Here
Each Every Some Many Most Both As For To Of With By From After Before During Because Since
Today Yesterday Tomorrow Note Step Answer Result Summary Overall Sure Of Unlike Like All
""".split())

_TOKEN = re.compile(r"[$\u20ac\u00a3]?\d+(?:,\d{3})*(?:\.\d+)?%?|[A-Za-z\u00c0-\u024f]+(?:['\u2019]"
                    r"[A-Za-z]+)*|[.,;:!?()]")
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "millions": 1e6, "m": 1e6, "mn": 1e6,
           "billion": 1e9, "billions": 1e9, "bn": 1e9, "b": 1e9, "trillion": 1e12, "tn": 1e12,
           "hundred": 1e2, "dozen": 12}
_NUMBER_WORDS = {"zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20,
                 "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100}
_HEDGES = frozenset("about around roughly approximately nearly almost some over under "
                    "more less than estimated".split())
_PERCENT = frozenset(("percent", "per cent", "%"))
_BEFORE_YEAR = frozenset("in since by until from of year between and to before after during "
                         "circa c early late mid around".split())
_RANGE = frozenset(("and", "to", "or", "-", "\u2013"))
_CLAUSE_BREAK = frozenset(",;:()") | {"and", "but", "while", "whereas", "which", "who"}


def stem(word):
    """A light stem: enough to meet plurals, possessives and -ed/-ing forms halfway."""
    return _stem(word)


def _stem(word):
    word = word.lower().replace("\u2019", "'")
    word = UNITS.get(word, word)
    if word.endswith("'s") or word.endswith("s'"):
        word = word[:-2] if word.endswith("'s") else word[:-1]
    word = word.replace("'", "")
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[:-len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]    # "stopped" -> "stopp" -> "stop"
    return word


_DEGREES = ((re.compile("\u00b0\\s*C\\b"), " degrees Celsius"),
            (re.compile("\u00b0\\s*F\\b"), " degrees Fahrenheit"),
            (re.compile("\u00b0"), " degrees"))


def tokens(text):
    text = text or ""
    if "\u00b0" in text:
        for pattern, words in _DEGREES:     # "100 °C" meets "100 degrees Celsius"
            text = pattern.sub(words, text)
    return _TOKEN.findall(text)


def is_word(token):
    return token[0].isalpha()


def content_stems(text):
    """The stems of a text's meaningful words (no stopwords, no numbers)."""
    return {stem(t) for t in tokens(text) if is_word(t) and t.lower() not in STOPWORDS
            and t.lower() not in NEGATIONS and t.lower() not in _SCALES
            and t.lower() not in _PERCENT and len(t) > 1}


def word_weight(word_stem, idf):
    """How much a claim loses when the sources lack this word: rarer words weigh more."""
    weight = idf(word_stem)
    return weight * 0.35 if word_stem in COMMON_STEMS else weight


COMMON_STEMS = frozenset(stem(w) for w in COMMON)
UNIT_STEMS = frozenset(stem(w) for w in """
second minute hour day week month year decade century metre kilometre centimetre millimetre
mile foot inch kilogram gram tonne pound litre degree celsius fahrenheit kelvin volt watt
byte kilobyte megabyte gigabyte terabyte hertz gigahertz euro dollar yen pound percent
""".split())


def names(text):
    """Stems of capitalised words, sentence openers included unless they are common words;
    runs like "Maurice Koechlin" come back as one name of several stems."""
    found, run = [], []
    for index, token in enumerate(tokens(text)):
        capital = is_word(token) and token[0].isupper() and token not in CAPITALISED_COMMON
        if capital and token.lower() not in STOPWORDS:
            run.append(stem(token))
            if token.lower().endswith(("'s", "\u2019s")):
                found.append(tuple(run))    # "Tesla's Gigafactory": two names
                run = []
            continue
        if run:
            found.append(tuple(run))
        run = []
    if run:
        found.append(tuple(run))
    return found


def negated(text):
    words = [t.lower() for t in tokens(text) if is_word(t)]
    return any(w in NEGATIONS or w.endswith("n't") for w in words)


class Number:
    """One figure in a sentence: its value, how precisely it was written and its context."""

    def __init__(self, raw, value, precision, kind, hedged, context, unit=None):
        self.raw, self.value, self.precision = raw, value, precision
        self.kind, self.hedged, self.context, self.unit = kind, hedged, context, unit

    def __repr__(self):
        return "Number(%s=%g, %s)" % (self.raw, self.value, self.kind)

    def matches(self, other):
        """True when `other` (from a source) rounds to this claimed figure."""
        if self.unit and other.unit and self.unit != other.unit:
            return False    # 8 minutes are not 8 hours
        if {self.kind, other.kind} == {"year", "count"}:
            return self.value == other.value
        if self.kind != other.kind and "year" in (self.kind, other.kind):
            return False
        if self.value == other.value:
            return True
        tolerance = self.precision / 2 + 1e-9 * max(abs(self.value), 1)
        if self.hedged:
            tolerance = max(tolerance, abs(self.value) * 0.1)
        return abs(self.value - other.value) <= tolerance


def numbers(text):
    """The Numbers of a sentence, each with the content stems of its own clause."""
    toks = tokens(text)
    lowered = [t.lower() for t in toks]
    found = []
    for index, token in enumerate(toks):
        raw = token
        if token[0] in "$\u20ac\u00a3" or token[0].isdigit():
            currency = token[0] in "$\u20ac\u00a3"
            digits = token.lstrip("$\u20ac\u00a3")
            percent = digits.endswith("%")
            digits = digits.rstrip("%")
            try:
                value = float(digits.replace(",", ""))
            except ValueError:
                continue
            plain = digits.replace(",", "")
            decimals = len(plain.split(".")[1]) if "." in plain else 0
            precision = 10.0 ** -decimals
        elif lowered[index] in _NUMBER_WORDS and not (
                lowered[index] == "hundred" and index and toks[index - 1][0].isdigit()):
            currency = percent = False
            value, precision, plain = float(_NUMBER_WORDS[lowered[index]]), 1.0, token
        else:
            continue
        following = lowered[index + 1] if index + 1 < len(toks) else ""
        scale = _SCALES.get(following)
        if scale and following in ("m", "b", "k") and not currency:
            scale = None    # "5 m" is five metres, not five million, without a currency
        if scale:
            value, precision, raw = value * scale, precision * scale, raw + " " + following
        if following in ("percent",) or (following == "per" and index + 2 < len(toks)
                                          and lowered[index + 2] == "cent"):
            percent = True
        if index and lowered[index - 1] in ("usd", "eur", "dollars"):
            currency = True
        integer = "." not in plain and "," not in token
        if percent:
            kind = "percent"
        elif currency:
            kind = "money"
        elif integer and 1000 <= value <= 2100 and not scale and (
                (index and lowered[index - 1] in _BEFORE_YEAR) or not following
                or following in ".,;:!?)" or following in ("bc", "ad", "ce", "bce")):
            kind = "year"   # "in 2023" is a date; "employs 2023 people" a count
        else:
            kind = "count"
        hedged = any(w in _HEDGES for w in lowered[max(0, index - 3):index])
        context = _context(toks, index)
        if not context and found and index >= 2 and lowered[index - 1] in _RANGE and (
                toks[index - 2][0].isdigit() or lowered[index - 2] in _SCALES):
            context = found[-1].context     # "between 1887 and 1889": both about the same
        after = stem(toks[index + 2]) if scale and index + 2 < len(toks) else stem(following)
        found.append(Number(raw, value, precision, kind, hedged, context,
                            after if after in UNIT_STEMS else None))
    return found


def _context(toks, index):
    """Content stems of the clause around toks[index]: what the number is about. Other
    numbers and clause breaks end it, so "2 million and profit of 5 million" keeps apart."""
    words = set()
    for step in (-1, 1):
        position = index + step
        while 0 <= position < len(toks):
            token = toks[position]
            low = token.lower()
            if low in _CLAUSE_BREAK or low in ".!?" or (
                    token[0].isdigit() or token[0] in "$\u20ac\u00a3"):
                break
            if is_word(token) and low not in STOPWORDS and low not in _SCALES and (
                    low not in _HEDGES and low not in _PERCENT and len(low) > 1) and (
                    stem(token) not in UNIT_STEMS):     # units are compared on their own
                words.add(stem(token))
            position += step
    return words


def normalise(text):
    """Lower-case words only, single-spaced: for verbatim comparisons of quotes."""
    return " ".join(re.findall(r"[a-z0-9]+", (text or "").lower().replace(",", "")))


def idf_table(passages):
    """fn(stem) -> inverse document frequency over the source passages (smoothed), so that
    words missing from every passage weigh most."""
    counts = {}
    for passage in passages:
        for word in passage.stems:
            counts[word] = counts.get(word, 0) + 1
    total = len(passages)

    def idf(word):
        return math.log(1 + (total + 1) / (counts.get(word, 0) + 0.5))
    return idf
