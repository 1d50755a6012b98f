"""How the fake splits text into words, modelled on charabia 0.9.9 (the tokenizer Meilisearch v1.50.0 uses).

- Separators: Unicode punctuation, spaces, math symbols, "`" and "+" (charabia's DEFAULT_SEPARATORS are those
  categories); a separator holding one of ``! ? ; 。 ！ ？ ；`` or ". " / ", " is *hard* (charabia's
  CONTEXT_SEPARATORS, abridged): the next word is 8 positions further (milli's indexing gap), else 1.
- Words of a script other than Han: kept whole (charabia's Latin segmenter without the camel-case feature), NFKD,
  combining marks dropped, lower case.
- Han runs: charabia's ``ChineseSegmenter`` — jieba ``cut`` without HMM, then every word of three or more
  characters (not all ASCII alphanumeric) split greedily: a dictionary bigram, else a dictionary trigram, else one
  character. The dictionary is jieba's own (python jieba ships the same dict.txt as jieba-rs).
- Not modelled: charabia's kvariants normalization of Han characters (variant → canonical ideograph), other
  scripts' segmenters (Japanese, Thai, Korean, ...), language detection (the adapter sets ``locales``).
"""

from __future__ import annotations

import functools
import logging
import tempfile
import unicodedata
from dataclasses import dataclass

import jieba

__all__ = ["Token", "document_words", "tokens"]

MAX_WORD_LENGTH = 250  # milli: longer words (in bytes) are not indexed
HARD_GAP = 8
_HARD = frozenset("!?;。！？；\0¡¿")


@functools.cache
def _jieba() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = tempfile.gettempdir()
    tokenizer.initialize()
    return tokenizer


def _is_han(char: str) -> bool:
    code = ord(char)
    return 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or code >= 0x20000


def _is_separator(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "PZ" or category == "Sm" or char.isspace() or char in "`+"


def _has_word(word: str) -> bool:
    return _jieba().FREQ.get(word, 0) > 0


def _split_long(word: str) -> list[str]:
    """charabia ``cut_for_search``: ≤ 2 characters or ASCII alphanumeric stay whole; else greedy 2/3/1-grams."""
    if len(word) <= 2 or all(c.isascii() and c.isalnum() for c in word):
        return [word]
    out: list[str] = []
    index = 0
    while index < len(word):
        if index + 2 <= len(word) and _has_word(word[index : index + 2]):
            out.append(word[index : index + 2])
            index += 2
        elif index + 3 <= len(word) and _has_word(word[index : index + 3]):
            out.append(word[index : index + 3])
            index += 3
        else:
            out.append(word[index])
            index += 1
    return out


def _normalize(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@dataclass(frozen=True, slots=True)
class Token:
    """A word, or a separator (``hard`` tells which kind)."""

    text: str
    separator: bool = False
    hard: bool = False


def tokens(text: str) -> list[Token]:
    """Words and separators of ``text`` in order."""
    out: list[Token] = []
    run: list[str] = []

    def flush() -> None:
        if not run:
            return
        chunk = "".join(run)
        run.clear()
        # Split by script: Han runs go through the Chinese segmenter, the rest stays one word per run.
        piece: list[str] = []
        han = _is_han(chunk[0])
        for char in [*chunk, ""]:
            if char and _is_han(char) == han:
                piece.append(char)
                continue
            part = "".join(piece)
            if han:
                for word in _jieba().cut(part, HMM=False):
                    out.extend(Token(w) for w in _split_long(word))
            else:
                out.append(Token(_normalize(part)))
            piece = [char]
            han = bool(char) and _is_han(char)

    index = 0
    while index < len(text):
        char = text[index]
        if _is_separator(char):
            flush()
            start = index
            while index < len(text) and _is_separator(text[index]):
                index += 1
            sep = text[start:index]
            hard = any(c in _HARD for c in sep) or ". " in sep or ", " in sep or "。" in sep
            out.append(Token(sep, separator=True, hard=hard))
            continue
        run.append(char)
        index += 1
    flush()
    return out


def document_words(text: str) -> list[tuple[str, int]]:
    """The indexed words of one attribute value with their positions (hard separators leave a gap)."""
    out: list[tuple[str, int]] = []
    position = -1
    pending_gap = 0
    for token in tokens(text):
        if token.separator:
            pending_gap = max(pending_gap, HARD_GAP if token.hard else 1)
            continue
        position += pending_gap if position >= 0 and pending_gap else 1
        pending_gap = 0
        if token.text and len(token.text.encode()) <= MAX_WORD_LENGTH:
            out.append((token.text, position))
    return out
