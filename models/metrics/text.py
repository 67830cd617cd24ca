"""Text comparison: normalisation and edit distance."""
from __future__ import annotations

import unicodedata


def normalize_text(text: str, case_sensitive: bool = False) -> str:
    """NFKC-normalise, drop all whitespace, and casefold unless ``case_sensitive``.

    Whitespace is dropped because OCR often merges or splits words.
    """
    text = "".join(unicodedata.normalize("NFKC", text).split())
    return text if case_sensitive else text.casefold()


def levenshtein(a: str, b: str) -> int:
    """Levenshtein distance: fewest insertions, deletions and substitutions from ``a`` to ``b``."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def normalized_edit_distance(a: str, b: str) -> float:
    """Levenshtein distance divided by the longer length: 0 for equal strings, at most 1."""
    longest = max(len(a), len(b))
    return 0.0 if longest == 0 else levenshtein(a, b) / longest
