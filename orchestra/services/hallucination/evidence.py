"""Source passages and their retrieval: each source sentence is a passage, ranked by BM25.

A claim is judged against the few passages that share most of its rarer words, never against
the sources as one bag of words: a figure or a name elsewhere in the sources is not evidence.

Parsing a sentence into a Passage is the costly part, so the passages of each source text are
cached by text: the chunks retrieved for a task's subtasks overlap, a re-asked answer is
checked against the same sources again, and repeated checks ground in the same texts. The
index over a check's own list of sources is cheap and built each time.
"""

import collections
import copy
import logging
import math
import threading

from .claims import split_clauses, split_sentences
from .text import content_stems, idf_table, names, negated, normalise, numbers, stem, tokens

logger = logging.getLogger(__name__)

BM25_K1, BM25_B = 1.2, 0.75
CACHE_CHARS = 4_000_000         # source text kept parsed: some thousands of chunks


class Passage:
    """One source sentence with what the checks look at, computed once."""

    def __init__(self, text, source, position):
        self.text, self.source, self.position = text, source, position
        toks = tokens(text)
        self.terms = [stem(t) for t in toks if t[0].isalpha()] + [
            "#%g" % n.value for n in numbers(text)]
        self.stems = content_stems(text)
        self.lowered = {t.lower() for t in toks if t[0].isalpha()}
        self.numbers = numbers(text)
        self.name_runs = names(text)
        self.names = {part for name in self.name_runs for part in name}
        self.negated = negated(text)
        self.plain = normalise(text)
        self.clauses = [(c, content_stems(c), {p for n in names(c) for p in n}, negated(c),
                         {t.lower() for t in tokens(c)}) for c in split_clauses(text)]

    def __repr__(self):
        return "Passage(%r)" % self.text


class PassageCache:
    """The parsed sentences of source texts, least recently used dropped past `chars`
    characters of text; a text longer than an eighth of that is parsed and not kept.
    Checks run on the checker's thread, tests on others: a lock keeps the order honest."""

    def __init__(self, chars=CACHE_CHARS):
        self.chars = chars
        self.hits = self.misses = self.size = 0
        self._texts = collections.OrderedDict()
        self._lock = threading.Lock()

    def passages(self, text):
        """Passages of `text` with no source or position yet (shared: copy before setting)."""
        with self._lock:
            found = self._texts.get(text)
            if found is not None:
                self._texts.move_to_end(text)
                self.hits += 1
                return found
            self.misses += 1
        found = tuple(Passage(sentence, None, None) for sentence in (
            split_sentences(text) or ([text.strip()] if text.strip() else [])))
        if len(text) <= self.chars // 8:
            with self._lock:
                if text not in self._texts:
                    self._texts[text] = found
                    self.size += len(text)
                while self.size > self.chars:
                    dropped, _ = self._texts.popitem(last=False)
                    self.size -= len(dropped)
        return found

    def clear(self):
        with self._lock:
            self._texts.clear()
            self.hits = self.misses = self.size = 0


CACHE = PassageCache()


class Evidence:
    """The passages of a list of sources and a BM25 index over them."""

    def __init__(self, sources, cache=CACHE):
        self.passages = []
        for index, source in enumerate(sources or []):
            for parsed in cache.passages(source):
                passage = copy.copy(parsed)
                passage.source, passage.position = index, len(self.passages)
                self.passages.append(passage)
        self.idf = idf_table(self.passages)
        self.all_stems = set().union(*(p.stems for p in self.passages)) if self.passages \
            else set()
        self.all_words = set().union(*(p.lowered for p in self.passages)) if self.passages \
            else set()
        self._frequency = [self._counts(p.terms) for p in self.passages]
        lengths = [len(p.terms) for p in self.passages]
        self._average = (sum(lengths) / len(lengths)) if lengths else 1.0
        documents = {}
        for passage in self.passages:
            for term in set(passage.terms):
                documents[term] = documents.get(term, 0) + 1
        total = len(self.passages)
        self._bm25_idf = {term: math.log(1 + (total - df + 0.5) / (df + 0.5))
                          for term, df in documents.items()}

    def __bool__(self):
        return bool(self.passages)

    @staticmethod
    def _counts(terms):
        counts = {}
        for term in terms:
            counts[term] = counts.get(term, 0) + 1
        return counts

    def search(self, text, k=3):
        """[(score, Passage)] best first: the passages that share most of `text`'s rare
        words and figures; passages sharing nothing are left out."""
        query = {stem(t) for t in tokens(text) if t[0].isalpha()} & set(self._bm25_idf)
        query = {t for t in query if t in self.all_stems or t in self._bm25_idf}
        query |= {"#%g" % n.value for n in numbers(text)} & set(self._bm25_idf)
        ranked = []
        for passage, frequency in zip(self.passages, self._frequency):
            score = 0.0
            norm = BM25_K1 * (1 - BM25_B + BM25_B * len(passage.terms) / self._average)
            for term in query:
                count = frequency.get(term, 0)
                if count:
                    score += self._bm25_idf[term] * count * (BM25_K1 + 1) / (count + norm)
            if score > 0:
                ranked.append((score, passage))
        ranked.sort(key=lambda pair: (-pair[0], pair[1].position))
        return ranked[:k]

    def contains_name(self, parts):
        """A name (tuple of stems) occurs on word boundaries in some passage."""
        return any(set(parts) <= p.names | p.stems for p in self.passages)

    def quote_found(self, quote):
        """`quote` occurs verbatim in a source (case, spacing and punctuation aside)."""
        wanted = normalise(quote)
        if len(wanted) < 8:
            return None
        for passage in self.passages:
            if wanted in passage.plain:
                return passage
        joined = " ".join(p.plain for p in self.passages if p.plain)
        if wanted in joined:
            return next((p for p in self.passages if p.plain[:20] in wanted
                         or wanted[:20] in p.plain), self.passages[0])
        return None
