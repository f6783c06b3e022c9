"""Text normalization for comparing scripts with back-transcriptions (CER)."""

import re
import unicodedata


def normalize(text: str) -> str:
    """NFKC, lower case, punctuation dropped, whitespace collapsed."""
    s = unicodedata.normalize("NFKC", text).lower()
    s = re.sub(r"[^\w\s]", "", s)
    return re.sub(r"\s+", " ", s).strip()
