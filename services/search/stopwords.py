"""Stop words: words of needs and offers that carry no topic (寻求, 需要, 我们, 一种, 用于 …).

They are left out of every query, in both engines (Meilisearch gets the same list as its ``stopWords`` setting),
so a need written as a sentence is matched on its topic words. The list lives in ``data/stopwords.txt``; how it
was made is in docs/search.md.
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["stop_words"]

_FILE = Path(__file__).parent / "data" / "stopwords.txt"


@functools.cache
def stop_words() -> frozenset[str]:
    """The stop words (already NFKC-folded and lower case, as query words are)."""
    lines = _FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(word for line in lines if (word := line.split("#", 1)[0].strip()))
