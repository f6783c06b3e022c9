"""Text normalization for comparing scripts with back-transcriptions (CER)."""

import re
import unicodedata


def normalize(text: str) -> str:
    """NFKC, lower case, punctuation dropped, whitespace collapsed."""
    s = unicodedata.normalize("NFKC", text).lower()
    s = re.sub(r"[^\w\s]", "", s)
    return re.sub(r"\s+", " ", s).strip()


def katakana(text: str) -> str:
    """Japanese text as katakana: Open JTalk's readings, Latin-script words as they are said
    (dubbing.katakana), not letter by letter."""
    import pyopenjtalk

    from .katakana import spoken

    return pyopenjtalk.g2p(spoken(text), kana=True)


READINGS = {"ja": katakana}  # languages whose script spells one reading many ways (はい / ハイ, 3 / 三)


READ_PIECE = 200  # characters read at a time: Open JTalk refuses a long text (a 30-minute dub's script)


def reading(text: str, language: str) -> str | None:
    """`text` as it is read (Japanese: katakana, by Open JTalk), normalized, for a CER of what is heard
    rather than of how it is spelled; None for languages written as they are read. Read a space-separated
    piece at a time (at most READ_PIECE characters)."""
    read = READINGS.get(language)
    if read is None:
        return None
    pieces = [w[k:k + READ_PIECE] for w in text.split() for k in range(0, len(w), READ_PIECE)]
    return "".join(normalize(read(p)).replace(" ", "") for p in pieces)
