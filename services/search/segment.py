"""Chinese word segmentation (jieba) for indexing and querying, and highlighted snippets.

Why both sub-words and bigrams: a precise segmentation keeps 待处理 and 安装简单 as single words, so a search
for 处理 or 简单 would miss them (Meilisearch's known weakness on Chinese). At index time we therefore emit
jieba's search-mode tokens (``cut_for_search``: the word and the dictionary sub-words inside it) plus the
character bigrams of every CJK word of three or more characters. At query time the query is cut precisely;
each word must match as a token — a word of three or more characters may also match through all of its bigrams.

jieba prints progress to stderr and builds a dictionary cache on first use; :func:`segmenter` initializes one
tokenizer per process, quietly, with its cache file in a folder we choose.
"""

from __future__ import annotations

import functools
import html
import logging
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jieba

from services.search.stopwords import stop_words

__all__ = ["MAX_KEYWORDS", "MAX_QUERY_WORDS", "QueryTerm", "Segmenter", "searchable_text", "segmenter", "words_in"]

# Meilisearch reads only the first 10 words of a query; both engines use the same query words.
MAX_QUERY_WORDS = 10
# How many words a long text (a listing matched against others) is reduced to: Meilisearch's query word limit.
MAX_KEYWORDS = MAX_QUERY_WORDS

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A token worth indexing or matching holds a letter or digit (FTS5 unicode61 treats "_" and punctuation as separators).
_WORD = re.compile(r"[^\W_]")

_lock = threading.Lock()
_instance: Segmenter | None = None


def _is_cjk_word(token: str) -> bool:
    return all(_CJK.match(ch) for ch in token)


def _bigrams(token: str) -> list[str]:
    return [token[i : i + 2] for i in range(len(token) - 1)]


@dataclass(frozen=True, slots=True)
class QueryTerm:
    """One word of a query: the word itself and, for long CJK words, the bigrams that may stand in for it.

    ``prefix``: the query's last word, typed without a following space or punctuation, also matches as the
    start of a longer word (Meilisearch's prefix search), so a query that ends in half a word still finds.
    """

    word: str
    bigrams: tuple[str, ...] = ()
    prefix: bool = False


class Segmenter:
    """A jieba tokenizer of our own (not jieba's global one), initialized once."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.tmp_dir = str(cache_dir or Path(tempfile.gettempdir()))
        self._tokenizer.initialize()

    @staticmethod
    def normalize(text: str) -> str:
        """NFKC (full-width letters and digits become ASCII) and lower case."""
        return unicodedata.normalize("NFKC", text).lower()

    def index_tokens(self, text: str) -> list[str]:
        """The tokens indexed for ``text``: search-mode words plus bigrams of long CJK words."""
        out: list[str] = []
        for token in self._tokenizer.cut_for_search(self.normalize(text)):
            token = token.strip()
            if not token or not _WORD.search(token):
                continue
            out.append(token)
            if len(token) >= 3 and _is_cjk_word(token):
                out.extend(_bigrams(token))
        return out

    def index_text(self, *texts: str | None) -> str:
        """Space-separated index tokens of several texts (what the full-text column stores)."""
        return " ".join(token for text in texts if text for token in self.index_tokens(text))

    def query_terms(self, query: str) -> list[QueryTerm]:
        """The words of a query (precise mode) in order: stop words and duplicates dropped, the first
        MAX_QUERY_WORDS kept, each with the bigrams of a long CJK word; the last one flagged as a prefix when the
        query ends inside it."""
        normalized = self.normalize(query)
        stops = stop_words()
        seen: set[str] = set()
        terms: list[QueryTerm] = []
        for token in self._tokenizer.cut(normalized):
            token = token.strip()
            if not token or not _WORD.search(token) or token in seen or token in stops:
                continue
            seen.add(token)
            grams = tuple(_bigrams(token)) if len(token) >= 3 and _is_cjk_word(token) else ()
            terms.append(QueryTerm(token, grams))
            if len(terms) == MAX_QUERY_WORDS:
                break
        if terms and normalized.rstrip() == normalized and normalized.endswith(terms[-1].word):
            terms[-1] = QueryTerm(terms[-1].word, terms[-1].bigrams, prefix=True)
        return terms

    def keywords(self, text: str, limit: int = MAX_KEYWORDS) -> list[str]:
        """The ``limit`` most salient words of a long text by TF-IDF (jieba's IDF table of general Chinese),
        stop words and single characters left out, most salient first."""
        idf, median = _idf_table()
        stops = stop_words()
        counts: dict[str, int] = {}
        for token in self._tokenizer.cut(self.normalize(text)):
            token = token.strip()
            if len(token) >= 2 and _WORD.search(token) and token not in stops:
                counts[token] = counts.get(token, 0) + 1
        # Highest TF-IDF first; ties in order of appearance (dicts keep insertion order, sorted() is stable).
        return sorted(counts, key=lambda w: -counts[w] * idf.get(w, median))[:limit]

    def highlight_words(self, terms: Sequence[QueryTerm]) -> list[str]:
        """The strings to highlight in a snippet: each query word and its search-mode sub-words."""
        words: set[str] = set()
        for term in terms:
            words.add(term.word)
            words.update(t for t in self._tokenizer.cut_for_search(term.word) if len(t) >= 2 or term.word == t)
        return sorted(words, key=len, reverse=True)


@functools.cache
def _idf_table() -> tuple[dict[str, float], float]:
    """jieba's IDF table of general Chinese (word → idf) and its median, for words it does not list.

    Read from jieba's package files directly: importing ``jieba.analyse`` would build its default extractor,
    which reads the same file without closing it.
    """
    path = Path(jieba.__file__).parent / "analyse" / "idf.txt"
    idf: dict[str, float] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            word, _, value = line.strip().partition(" ")
            if value:
                idf[word] = float(value)
    values = sorted(idf.values())
    return idf, values[len(values) // 2]


def segmenter(cache_dir: Path | None = None) -> Segmenter:
    """The process-wide segmenter (loading jieba's dictionary takes about a second, so it is done once)."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = Segmenter(cache_dir)
        return _instance


def searchable_text(card: dict[str, Any], body: str | None) -> str:
    """The text a hit's matched words are looked for in: its title, keywords and summary (from the card) and body."""
    keywords = card.get("keywords") or []
    return "\n".join(
        [str(card.get("title") or ""), " ".join(map(str, keywords)), str(card.get("summary") or ""), body or ""]
    )


def words_in(text: str, terms: Sequence[QueryTerm]) -> list[str]:
    """The query words found in ``text`` (case- and width-folded): whole, by all their bigrams, or as a prefix."""
    folded = Segmenter.normalize(text)
    return [
        term.word
        for term in terms
        if term.word in folded or (term.bigrams and all(gram in folded for gram in term.bigrams))
    ]


class _Folding(dict[int, int]):
    """Per character NFKC and lower case, as a ``str.translate`` table filled as characters are met.

    A character whose folding is not exactly one character keeps itself, so the folded text has the positions
    of the source, and folding a slice gives the slice of the folded text: a snippet folds only the parts it
    reads (normalizing a whole description for every hit was most of a snippet's cost).
    """

    def __missing__(self, code: int) -> int:
        folded = Segmenter.normalize(chr(code))
        value = ord(folded) if len(folded) == 1 else code
        self[code] = value
        return value


_FOLDING = _Folding()
_SCAN_STEP = 64


def _first_match(pattern: re.Pattern[str], source: str, longest: int) -> int | None:
    """Where the first match of ``pattern`` (no longer than ``longest``) starts in the folded ``source``."""
    for begin in range(0, len(source), _SCAN_STEP):
        # Any match starting before begin + _SCAN_STEP lies wholly in this chunk.
        found = pattern.search(source[begin : begin + _SCAN_STEP + longest - 1].translate(_FOLDING))
        if found is not None:
            return begin + found.start()
    return None


def snippet(text: str | None, words: Iterable[str], *, width: int = 80) -> str:
    """A window of ``text`` around the first match, HTML-escaped, every match wrapped in ``<em>``."""
    if not text:
        return ""
    words = [w for w in words if w]
    source = text
    pattern = re.compile("|".join(re.escape(w) for w in words)) if words else None
    first = _first_match(pattern, source, max(map(len, words))) if pattern else None
    start = 0
    if first is not None:
        start = max(0, first - width // 4)
    end = min(len(source), start + width)
    out: list[str] = ["…" if start > 0 else ""]
    position = start
    if pattern is not None:
        for match in pattern.finditer(source[start:end].translate(_FOLDING)):
            out.append(html.escape(source[position : start + match.start()]))
            out.append(f"<em>{html.escape(source[start + match.start() : start + match.end()])}</em>")
            position = start + match.end()
    out.append(html.escape(source[position:end]))
    if end < len(source):
        out.append("…")
    return "".join(out)
